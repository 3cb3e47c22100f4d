"""Reading RDF written by kgrec back into a :class:`~kgrec.kg.graph.KnowledgeGraph` (files and the
rdf store's databases), and Oxigraph terms back into Python values.

How it is fast: a file is loaded into an in-memory Oxigraph store and each column is read back with
one single-pattern SPARQL query (an index scan) whose results come as CSV straight into pandas;
joins happen in pandas.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kgrec.errors import ConfigError, InputError

from ..graph import KnowledgeGraph
from ..schema import EdgeType, PropertyType, Schema
from .formats import RDF_FORMATS, rdf_format_of
from .vocab import RDF_TYPE, RDFS_LABEL, XSD_BOOLEAN, XSD_DOUBLE, XSD_INTEGER, Vocabulary, split_edge_iris

def import_rdf(source, *, format: str | None = None, base_iri: str | None = None) -> KnowledgeGraph:
    """Rebuild a :class:`KnowledgeGraph` from RDF written by kgrec (a file or an ``rdflib.Graph``).

    Args:
        source: a path to a ``.ttl``, ``.nt`` or ``.jsonld`` file, or an ``rdflib.Graph``.
        format: ``"ttl"``, ``"nt"`` or ``"jsonld"`` (default: from the file suffix).
        base_iri: the base IRI the file was written with (default: found from its ``kgrec:Graph``).

    Raises:
        InputError: the file is not RDF, or not a graph written by kgrec.
    """
    import pyoxigraph as ox

    store = ox.Store()
    where = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if format is None:
            fmt = rdf_format_of(path)
            if fmt is None:
                raise InputError(f"cannot tell the RDF format from the suffix {path.suffix!r}; "
                                 f"pass format= one of {', '.join(RDF_FORMATS.names())}", path=where)
        else:
            fmt = RDF_FORMATS.resolve(format)
        if not path.is_file():
            raise InputError("no such file", path=where)
        try:
            store.bulk_load(path=str(path), format=fmt.pyoxigraph(), lenient=True)
        except SyntaxError as e:
            raise InputError(f"not valid {fmt.name}: {e}", path=where) from e
    else:
        try:
            import rdflib
        except ImportError as e:  # pragma: no cover - rdflib is a dependency
            raise ConfigError("import_rdf needs rdflib for Graph input") from e
        if not isinstance(source, rdflib.Graph):
            raise ConfigError(f"import_rdf takes a path or an rdflib.Graph, not {type(source).__name__}")
        data = source.serialize(format="nt", encoding="utf-8")
        store.load(data, ox.RdfFormat.N_TRIPLES)
    kg = read_oxigraph(store, base_iri=base_iri, where=where)
    return kg


def select_frame(store, query: str, default_graph=None) -> pd.DataFrame:
    """Run a SELECT on an Oxigraph store; the solutions as a DataFrame of strings (no nulls)."""
    import pyoxigraph as ox

    kwargs = {} if default_graph is None else {"default_graph": default_graph}
    res = store.query(query, **kwargs)
    data = res.serialize(format=ox.QueryResultsFormat.CSV)
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")


def _find_graph(store, vocab: Vocabulary | None, default_graph, where: str | None) -> tuple[Vocabulary, str]:
    if vocab is not None:
        rows = select_frame(store, f"SELECT ?g WHERE {{ ?g <{RDF_TYPE}> <{vocab.term('Graph')}> }}", default_graph)
        candidates = [(vocab, g) for g in rows["g"]]
    else:
        rows = select_frame(store, f'SELECT ?g ?t WHERE {{ ?g <{RDF_TYPE}> ?t '
                                   'FILTER(STRENDS(STR(?t), "vocab#Graph")) }',
                    default_graph)
        candidates = []
        for g, t in zip(rows["g"], rows["t"]):
            try:
                candidates.append((Vocabulary(t[: -len("vocab#Graph")]), g))
            except ConfigError:
                continue
    if len(candidates) != 1:
        found = "no" if not candidates else f"{len(candidates)}"
        raise InputError(f"{found} kgrec graph resources (a kgrec:Graph) found; import_rdf reads RDF written by "
                         "kgrec's export_graph (one graph per file)", path=where)
    return candidates[0]


def read_oxigraph(store, *, base_iri: str | None = None, default_graph=None, where: str | None = None,
                  validate: bool = True) -> KnowledgeGraph:
    """Rebuild the :class:`KnowledgeGraph` held in an Oxigraph store (its default graph, or
    ``default_graph`` when given: the rdf store passes the named graph).

    One single-pattern SPARQL query (``?s <P> ?v``, an index scan) per predicate, results as CSV
    into pandas, joins in pandas. Edge properties are matched to their edges through the edge
    resource's IRI (``<base>edge/REL/Src/src/Dst/dst``), which saves scanning the reification
    triples.
    """
    vocab = Vocabulary(base_iri) if base_iri is not None else None
    vocab, g_iri = _find_graph(store, vocab, default_graph, where)
    t = vocab.term
    head = select_frame(store, f"SELECT ?schema ?meta ?name ?cols WHERE {{ <{g_iri}> <{t('schema')}> ?schema ; "
                       f"<{t('name')}> ?name . OPTIONAL {{ <{g_iri}> <{t('metadata')}> ?meta }} "
                       f"OPTIONAL {{ <{g_iri}> <{t('columns')}> ?cols }} }}", default_graph)
    if len(head) != 1:
        raise InputError(f"the kgrec graph <{g_iri}> has {len(head)} schema/name values; expected exactly one",
                         path=where)
    try:
        schema = Schema.from_dict(json.loads(head["schema"].iat[0]))
        metadata = json.loads(head["meta"].iat[0]) if head["meta"].iat[0] else {}
        columns = json.loads(head["cols"].iat[0]) if head["cols"].iat[0] else None
    except json.JSONDecodeError as e:
        raise InputError(f"the kgrec graph <{g_iri}> holds malformed JSON: {e}", path=where) from e
    name = head["name"].iat[0]

    # Every query is one triple pattern ``?s <P> ?v`` (an index scan, no join); joins happen in pandas.
    scans: dict[str, pd.DataFrame] = {}

    def values_of(predicate: str) -> pd.DataFrame:
        if predicate not in scans:
            scans[predicate] = select_frame(store, f"SELECT ?s ?v WHERE {{ ?s <{predicate}> ?v }}", default_graph)
        return scans[predicate]

    # -- nodes: class and id, then one query per predicate --------------------------------------
    class_to_label = {vocab.class_iri(label): label for label in schema.labels}
    types = values_of(RDF_TYPE)
    types = types.assign(label=types["v"].map(class_to_label)).dropna(subset=["label"]).drop_duplicates("s")
    ids = values_of(t("id")).drop_duplicates("s")
    nodes_df = ids.rename(columns={"v": "id"}).merge(types[["s", "label"]], on="s", how="left")
    unknown = nodes_df["label"].isna().to_numpy()
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InputError(f"node <{nodes_df['s'].iat[i]}> has no class among the schema's labels "
                         f"({', '.join(schema.labels)})", path=where)
    nodes_df = nodes_df.reset_index(drop=True)
    node_pos = pd.Index(nodes_df["s"])

    node_cols: dict[str, pd.Series] = {}
    for col, pred in (("name", RDFS_LABEL), ("text", t("text"))):
        node_cols[col] = _spread(values_of(pred), node_pos, len(nodes_df))
    node_props = sorted({p for n in schema.nodes for p in n.properties})
    prop_values = {p: values_of(vocab.property_iri(p)) for p in node_props}
    node_tables = {}
    for label in schema.labels:
        mask = (nodes_df["label"] == label).to_numpy()
        table = {"id": nodes_df["id"][mask].to_numpy(), "name": node_cols["name"][mask].to_numpy(),
                 "text": node_cols["text"][mask].to_numpy()}
        declared = schema.node(label).properties
        wanted = columns["nodes"].get(label, []) if columns is not None else list(declared)
        for p in wanted:
            if p in declared:
                raw = _spread(prop_values[p], node_pos, len(nodes_df))[mask]
                table[p] = _from_lexical(raw, declared[p], f"{label}.{p}", where)
        df = pd.DataFrame(table)
        df["name"] = df["name"].astype("string")
        df["text"] = df["text"].astype("string")
        if columns is None:
            df = df.drop(columns=[p for p in declared if p in df and df[p].isna().all()])
        node_tables[label] = df

    # -- edges: one query per relation name, split by label pair --------------------------------
    labels_arr = nodes_df["label"].to_numpy(dtype=object)
    ids_arr = nodes_df["id"].to_numpy(dtype=object)
    edge_tables: dict[EdgeType, pd.DataFrame] = {}
    edge_columns = {tuple(e[:3]): e[3] for e in columns["edges"]} if columns is not None else None
    edge_props: dict[str, pd.DataFrame] = {}  # property -> (r, s, o, v) from the edge resources' IRIs
    for p in sorted({p for r in schema.relations for p in r.properties}):
        edge_props[p] = _edge_values(values_of(vocab.property_iri(p)), vocab, where)
    for rname in schema.relation_names():
        rel_iri = vocab.relation_iri(rname)
        pairs = select_frame(store, f"SELECT ?s ?o WHERE {{ ?s <{rel_iri}> ?o }}", default_graph)
        sp, op = node_pos.get_indexer(pairs["s"]), node_pos.get_indexer(pairs["o"])
        bad = (sp < 0) | (op < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{rname} edge <{pairs['s'].iat[i]}> -> <{pairs['o'].iat[i]}> has an endpoint that is "
                             "not a node of the graph", path=where)
        src_l, dst_l = labels_arr[sp], labels_arr[op]
        rels = [r for r in schema.relations if r.name == rname]
        declared_all = sorted({p for r in rels for p in r.properties})
        props = {p: edge_props[p][edge_props[p]["r"] == rel_iri] for p in declared_all}
        seen = np.zeros(len(pairs), dtype=bool)
        pair_index = pd.MultiIndex.from_arrays([pairs["s"], pairs["o"]]) if declared_all else None
        for r in rels:
            mask = (src_l == r.source) & (dst_l == r.target)
            seen |= mask
            table = {"src": ids_arr[sp[mask]], "dst": ids_arr[op[mask]]}
            wanted = edge_columns.get(r.edge_type, []) if edge_columns is not None else list(r.properties)
            for p in wanted:
                if p not in r.properties:
                    continue
                pv = props[p]
                pos = pair_index.get_indexer(pd.MultiIndex.from_arrays([pv["s"], pv["o"]]))
                full = np.full(len(pairs), None, dtype=object)
                ok = pos >= 0
                full[pos[ok]] = pv["v"].to_numpy(dtype=object)[ok]
                table[p] = _from_lexical(pd.Series(full[mask], dtype=object), r.properties[p],
                                         f"{rname}.{p}", where)
            df = pd.DataFrame(table)
            if edge_columns is None:
                df = df.drop(columns=[p for p in r.properties if p in df and df[p].isna().all()])
            edge_tables[r.edge_type] = df
        if not seen.all():
            i = int(np.flatnonzero(~seen)[0])
            raise InputError(f"{rname} edge from a {src_l[i]} to a {dst_l[i]} is not a relation type of the schema",
                             path=where)
    kg = KnowledgeGraph(schema, node_tables, edge_tables, name=name, metadata=metadata)
    if not validate:
        return kg
    try:
        return kg.validate()
    except InputError as e:
        raise InputError(f"the graph read back is not valid: {e.reason}", path=where) from e


def _edge_values(values: pd.DataFrame, vocab: Vocabulary, where: str | None) -> pd.DataFrame:
    """``(r, s, o, v)`` rows of an edge property, with each edge resource's relation IRI and endpoint
    IRIs read from its IRI (:func:`~kgrec.kg.rdf.vocab.split_edge_iris`). Rows whose subject is not
    an edge resource (a node with a property of the same name) are dropped."""
    e = values["s"].astype("string")
    is_edge = e.str.startswith(vocab.edge_ns).fillna(False).to_numpy(dtype=bool)
    try:
        out = split_edge_iris(vocab, e[is_edge])
    except ValueError as err:
        raise InputError(str(err), path=where) from err
    out["v"] = values["v"][is_edge].to_numpy(dtype=object)
    return out


def _spread(values: pd.DataFrame, node_pos: pd.Index, n: int) -> pd.Series:
    """Values ``(s, v)`` put at the positions of their subjects (None where a node has none)."""
    out = np.full(n, None, dtype=object)
    if len(values):
        pos = node_pos.get_indexer(values["s"])
        ok = pos >= 0
        out[pos[ok]] = values["v"].to_numpy(dtype=object)[ok]
    return pd.Series(out, dtype=object)


_FLOAT_SPECIAL = {"INF": "inf", "+INF": "inf", "-INF": "-inf", "NaN": "nan"}


def _from_lexical(raw: pd.Series, kind: PropertyType, what: str, where: str | None) -> pd.Series:
    """Typed values from XSD lexical forms (None stays missing)."""
    raw = pd.Series(raw.to_numpy(dtype=object), dtype=object)
    if kind == "string":
        return raw.astype("string")
    present = raw.notna()
    try:
        if kind == "integer":
            return _to_int(raw, present)
        if kind == "float":
            vals = raw.map(lambda v: _FLOAT_SPECIAL.get(v.strip(), v) if isinstance(v, str) else v)
            return pd.Series(pd.to_numeric(vals, errors="raise"), dtype="Float64")
        if kind == "boolean":
            mapped = raw.map(lambda v: None if v is None else {"true": True, "1": True, "false": False,
                                                               "0": False}[v.strip()])
            return mapped.astype("boolean")
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{what}: a value is not a valid {kind} ({e})", path=where) from e
    raise ConfigError(f"unknown property type {kind!r}")  # pragma: no cover


def _to_int(raw: pd.Series, present: pd.Series) -> pd.Series:
    out = pd.Series(pd.NA, index=raw.index, dtype="Int64")
    if present.any():
        text = raw[present].astype(str).str.strip().str.lstrip("+").to_numpy(dtype=str)
        out[present] = text.astype(np.int64)
    return out


# -- Oxigraph terms -> Python values -------------------------------------------------------------
def literal_value(text: str, datatype: str) -> Any:
    """A literal's Python value by its datatype: integers, doubles/decimals, booleans; else the text."""
    try:
        if datatype == XSD_INTEGER or datatype.endswith(("#int", "#long", "#short", "#nonNegativeInteger")):
            return int(text)
        if datatype == XSD_DOUBLE or datatype.endswith(("#decimal", "#float")):
            return float(_FLOAT_SPECIAL.get(text, text))
        if datatype == XSD_BOOLEAN:
            return text in ("true", "1")
    except ValueError:
        return text
    return text


def encoded_value(encoded: list | None) -> Any:
    """The Python value of a term as the SPARQL worker sends it: ``[kind, value, datatype]`` with kind
    ``iri``, ``bnode`` or ``literal`` (None when unbound)."""
    if encoded is None:
        return None
    kind, value, datatype = encoded
    if kind == "literal":
        return literal_value(value, datatype)
    if kind == "bnode":
        return f"_:{value}"
    return value


def term_value(term: Any) -> Any:
    """A Python value for an Oxigraph term: IRIs as strings, literals by datatype, None when unbound."""
    if term is None:
        return None
    import pyoxigraph as ox

    if isinstance(term, ox.Literal):
        return literal_value(term.value, term.datatype.value)
    if isinstance(term, ox.BlankNode):
        return f"_:{term.value}"
    return getattr(term, "value", str(term))


__all__ = ["encoded_value", "import_rdf", "literal_value", "read_oxigraph", "select_frame", "term_value"]
