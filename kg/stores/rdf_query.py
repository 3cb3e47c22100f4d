"""Running an analyst's SPARQL query on the rdf store so that it can be stopped.

pyoxigraph offers no timeout and no way to cancel a running query; a thread that runs one can
only be abandoned (it keeps a CPU busy until the query ends, which for a cartesian product is
never). So :func:`run_sparql` takes a snapshot of the graph's database (``Store.backup``: RocksDB
hard links, milliseconds, unaffected by later writes), runs the query on it in a process of its
own (:mod:`kgrec.kg.rdf.worker`, which imports only pyoxigraph and starts in well under a second),
kills that process at the time limit, and removes the snapshot. The worker stops writing rows at
``max_rows`` (plus one, to know the result was cut), so memory stays flat on both sides.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from kgrec.errors import QueryTimeoutError, StoreError

from ..rdf import worker
from ..rdf.decode import encoded_value
from . import guard
from .base import QueryResult

WORKER = Path(worker.__file__)


def run_sparql(snapshot: Callable[[str], None], query: str, *, workdir: Path, default_graph: str,
               prefixes: dict[str, str], timeout: float, max_rows: int) -> QueryResult:
    """Run a checked read-only SPARQL ``query`` on a snapshot of a graph's database in a separate
    process, stopped at ``timeout`` seconds, at most ``max_rows`` rows back.

    Args:
        snapshot: ``snapshot(folder)`` writes the snapshot (``pyoxigraph.Store.backup``); a callback,
            so that no frame of an error raised here holds the database open.
        workdir: a folder on the same file system as the database (the snapshot goes there).
        default_graph: the IRI of the named graph the query sees as its default graph.

    Raises:
        QueryTimeoutError: the query ran past ``timeout`` (its process was killed).
        StoreError: Oxigraph refused or failed the query.
    """
    folder = Path(tempfile.mkdtemp(prefix=".query-", dir=workdir))
    try:
        snapshot_dir = folder / "db"
        try:
            snapshot(str(snapshot_dir))
        except OSError as e:
            raise StoreError(f"cannot take a snapshot of the graph for the query: {e}") from e
        request = json.dumps({"path": str(snapshot_dir), "query": query, "default_graph": default_graph,
                              "prefixes": prefixes, "max_rows": max_rows})
        proc = subprocess.Popen([sys.executable, "-I", str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(request.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise QueryTimeoutError(guard.timeout_message(timeout, "kgrec (the query's process was killed)")) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    lines = out.decode("utf-8").splitlines()
    if not lines:
        raise StoreError(f"the SPARQL worker ended with status {proc.returncode} and no answer: "
                         f"{err.decode('utf-8', 'replace')[-500:]}")
    head = json.loads(lines[0])
    if "error" in head:
        kind = "rejected" if head["error"] == "SyntaxError" else "failed"
        raise StoreError(f"SPARQL query {kind} by Oxigraph: {head['message']}")
    end = json.loads(lines[-1])
    if not isinstance(end, dict) or not end.get("end"):
        raise StoreError(f"the SPARQL worker's answer was cut off (status {proc.returncode}): "
                         f"{err.decode('utf-8', 'replace')[-500:]}")
    if head["kind"] == "ask":
        return QueryResult(["ask"], [(bool(head["value"]),)])
    columns = head["vars"] if head["kind"] == "select" else ["subject", "predicate", "object"]
    rows = [tuple(encoded_value(term) for term in json.loads(line)) for line in lines[1:-1]]
    return QueryResult(columns, rows, bool(end["truncated"]))


__all__ = ["run_sparql"]
