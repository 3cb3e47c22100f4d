"""Run one read-only SPARQL query on an Oxigraph database snapshot, in a process of its own.

pyoxigraph has no way to stop a running query (no timeout, no cancel; a thread running it can
only be abandoned, burning a CPU until the query ends). The rdf store therefore runs each analyst
query in this script, on a snapshot of the graph's database (``Store.backup``: hard links, taken
in milliseconds, independent of later writes), and kills the process at the time limit.

Run as ``python -I worker.py`` (it imports nothing but the standard library and pyoxigraph, so it
starts fast); the request comes as one JSON object on stdin::

    {"path": ..., "query": ..., "default_graph": IRI, "prefixes": {...}, "max_rows": N}

and the answer as JSON lines on stdout: a head ``{"kind": "select", "vars": [...]}``,
``{"kind": "ask", "value": true}`` or ``{"kind": "triples"}``; one JSON array per row, each term
``[kind, value, datatype]`` (kind ``iri``, ``bnode``, ``literal``) or null; and
``{"end": true, "truncated": bool}``. A failure is ``{"error": TYPE, "message": TEXT}`` (exit 2).
"""

from __future__ import annotations

import json
import sys


def _term(term):
    import pyoxigraph as ox

    if term is None:
        return None
    if isinstance(term, ox.Literal):
        return ["literal", term.value, term.datatype.value]
    if isinstance(term, ox.BlankNode):
        return ["bnode", term.value, None]
    return ["iri", getattr(term, "value", str(term)), None]


def main() -> int:
    import pyoxigraph as ox

    request = json.loads(sys.stdin.read())
    out = sys.stdout
    try:
        store = ox.Store.read_only(request["path"])
        res = store.query(request["query"], default_graph=ox.NamedNode(request["default_graph"]),
                          prefixes=request["prefixes"])
        max_rows = int(request["max_rows"])
        if isinstance(res, ox.QueryBoolean):
            out.write(json.dumps({"kind": "ask", "value": bool(res)}) + "\n")
            out.write(json.dumps({"end": True, "truncated": False}) + "\n")
            return 0
        if isinstance(res, ox.QuerySolutions):
            names = [v.value for v in res.variables]
            out.write(json.dumps({"kind": "select", "vars": names}) + "\n")
            rows = ([_term(sol[i]) for i in range(len(names))] for sol in res)
        else:
            out.write(json.dumps({"kind": "triples"}) + "\n")
            rows = ([_term(t.subject), _term(t.predicate), _term(t.object)] for t in res)
        n, truncated = 0, False
        for row in rows:
            if n >= max_rows:
                truncated = True
                break
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        out.write(json.dumps({"end": True, "truncated": truncated}) + "\n")
        return 0
    except (SyntaxError, OSError, ValueError, RuntimeError) as e:
        out.write(json.dumps({"error": type(e).__name__, "message": str(e)}) + "\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
