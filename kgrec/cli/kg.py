"""`kgrec datasets | ingest | stats | query | export | forget | store`: the graph commands, a thin layer
over :mod:`kgrec.kg.sources`, :mod:`kgrec.kg.stores` and :mod:`kgrec.kg.export`.

Every command takes ``--store URL`` (default: ``KGREC_STORE``, else ``embedded``). Errors print one
line and exit non-zero (``kgrec -v`` shows the traceback).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import typer

from kgrec.cli import app
from kgrec.errors import ConfigError, InputError, KgrecError

logger = logging.getLogger(__name__)

store_app = typer.Typer(help="Start, stop, inspect or compact the store (start/stop/status: the embedded FalkorDB).",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")

STORE_HELP = "Store URL: embedded, embedded:/dir, falkordb://host:port, bolt://host:port, neo4j://..., rdf:/dir " \
             "(default: KGREC_STORE, else embedded)."
GRAPH_HELP = "Graph name (default: KGREC_GRAPH, else the only graph in the store)."
STREAM_THRESHOLD_BYTES = 64 << 20
"""``kgrec ingest`` streams an interactions file larger than this (64 MiB, about 2-3 M rows) unless
``--no-stream``: the whole file as frames would take several times its size in memory."""
CLI_QUERY_TIMEOUT_S = 60.0
"""``kgrec query``'s time limit: one analyst at a terminal waits longer than the store's default for
programs and HTTP (10 s); an untyped scan of lastfm takes about 12 s on a busy machine."""


def _open(store: str | None, graph: str | None = None, **options: Any):
    from kgrec.kg.stores import open_store

    return open_store(store, graph=graph, **options)


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def parse_param(text: str) -> tuple[str, Any]:
    """``k=v`` -> ``(k, v)``; ``v`` is a JSON scalar when it parses as one (``2``, ``1.5``, ``true``,
    ``null``, ``"2"``), else the text as it is."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise InputError(f"--param {text!r} is not NAME=VALUE with NAME an identifier")
    try:
        value = json.loads(raw)
    except ValueError:
        return key, raw
    if isinstance(value, (dict, list)):
        return key, raw
    return key, value


# -- datasets ----------------------------------------------------------------------------------
_WHERE = {"local": "local: {path}", "download": "not local (downloaded from its publisher on first use)",
          "generated": "generated on demand (no files; any size, from a seed)"}


@app.command("datasets")
def datasets_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the datasets kgrec can load: local, downloaded on first use, or generated."""
    from kgrec.kg.sources import list_datasets

    infos = list_datasets()
    if as_json:
        _echo_json([{"name": d.name, "availability": d.availability, "local": d.path is not None,
                     "generated": d.generated, "path": str(d.path) if d.path else None,
                     "description": d.description, "license": d.license, "aliases": list(d.aliases)}
                    for d in infos])
        return
    width = max(len(d.name) for d in infos) if infos else 4
    for d in infos:
        typer.echo(f"{d.name:<{width}}  {d.description}")
        typer.echo(f"{'':<{width}}  {_WHERE[d.availability].format(path=d.path)}")


# -- ingest ------------------------------------------------------------------------------------
COLUMNS_HELP = ("Header names of the generic files, CANONICAL=HEADER pairs separated by commas (repeatable), e.g. "
                "--columns user_id=userId,item_id=movieId. Canonical columns: user_id, item_id, rating, timestamp "
                "(interactions); item_id, name, text (items); head, relation, tail, head_label, tail_label (triples).")


def parse_columns(values: list[str]) -> dict[str, str]:
    """``["user_id=userId,item_id=movieId", "rating=stars"]`` -> ``{"user_id": "userId", ...}``; a
    pair that is not CANONICAL=HEADER, or a canonical name given twice, is an InputError."""
    out: dict[str, str] = {}
    for value in values:
        for pair in value.split(","):
            canonical, sep, header = pair.partition("=")
            canonical, header = canonical.strip(), header.strip()
            if not sep or not canonical or not header:
                raise InputError(f"--columns {pair!r} is not CANONICAL=HEADER (e.g. user_id=userId)")
            if canonical in out and out[canonical] != header:
                raise InputError(f"--columns maps {canonical!r} twice: to {out[canonical]!r} and to {header!r}")
            out[canonical] = header
    return out


@app.command("ingest")
def ingest_command(
    source: str | None = typer.Argument(None, help="A dataset name (see `kgrec datasets`) or a folder of files."),
    interactions: Path | None = typer.Option(None, "--interactions", help="An interactions file (CSV/TSV)."),
    items: Path | None = typer.Option(None, "--items", help="An items file (with --interactions)."),
    triples: Path | None = typer.Option(None, "--triples", help="A triples file, CSV/TSV or RDF (with --interactions)."),
    columns: list[str] = typer.Option([], "--columns", help=COLUMNS_HELP),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    graph: str | None = typer.Option(None, "--graph", help="Graph name (default: the dataset's name)."),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Rows per write batch."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    stream: bool | None = typer.Option(
        None, "--stream/--no-stream", show_default=False,
        help="Read the interactions file in chunks and write each chunk as it is read (bounded memory), or all at "
             f"once (default: stream when the interactions file is over {STREAM_THRESHOLD_BYTES >> 20} MiB). Generic "
             "files only."),
    chunk_rows: int | None = typer.Option(None, "--chunk-rows", min=1, show_default=False,
                                          help="Interaction rows per chunk when streaming (default: 200,000)."),
) -> None:
    """Load a dataset, validate all of it, and write it to the store (idempotent upserts).

    Ids are cleaned by one rule: Unicode NFC, format characters (U+FEFF, U+200B ...) removed, blanks stripped.

    Refused with file and line, writing nothing: short rows, repeated header names, non-regular files.

    Limits: a field holds at most 65,536 characters, a multi-valued cell at most 1,000 values.

    Streaming (--stream, or an interactions file over 64 MiB): each chunk is checked by the same rules as it is
    written; a bad row in a later chunk stops the ingest with the chunks before it written and the graph marked
    incomplete (train and serve refuse it) until the ingest is run again. A (user, item) pair repeated in a later
    chunk is upserted (the later row wins); --no-stream refuses every repeat.
    """
    from kgrec.kg.sources import load_dataset

    if source is None and interactions is None:
        raise ConfigError("give a dataset name or folder, or --interactions FILE")
    if source is not None and interactions is not None:
        raise ConfigError("give either a dataset name/folder or --interactions FILE, not both")
    if interactions is None and (items is not None or triples is not None):
        raise ConfigError("--items and --triples go with --interactions")
    mapping = parse_columns(columns)
    files = _generic_files(source, interactions, items, triples)
    if stream and files is None:
        raise ConfigError(f"--stream reads generic files (a folder with interactions.csv, or --interactions FILE); "
                          f"ingest {source!r} without --stream")
    if files is not None and (stream or (stream is None and
                                         files["interactions"].stat().st_size > STREAM_THRESHOLD_BYTES)):
        name = Path(source).expanduser().name if source is not None else graph  # as load_dataset names it
        _ingest_stream(files, name=name, mapping=mapping, store=store, graph=graph, batch_size=batch_size,
                       progress=progress, chunk_rows=chunk_rows)
        return
    start = time.perf_counter()
    if interactions is not None:
        options: dict[str, Any] = {"interactions": interactions}
        if items is not None:
            options["items"] = items
        if triples is not None:
            options["triples"] = triples
        if graph is not None:
            options["name"] = graph
        if mapping:
            options["columns"] = mapping
        kg = load_dataset("generic", **options)
    else:
        kg = load_dataset(source, **({"columns": mapping} if mapping else {}))
    loaded = time.perf_counter() - start
    typer.echo(f"loaded {kg.name}: {kg.num_nodes():,} nodes, {kg.num_edges():,} edges in {loaded:.1f}s", err=True)
    options = {} if batch_size is None else {"batch_size": batch_size}
    with _open(store, **options) as s:
        report = s.write(kg, graph=graph, progress=progress)
        url = s.url
    rate = report.num_edges / max(report.seconds, 1e-9)
    typer.echo(f"ingested graph {report.graph!r} into {url}: {report.num_nodes:,} nodes, {report.num_edges:,} edges "
               f"in {report.seconds:.1f}s ({rate:,.0f} edges/s)")


def _generic_files(source: str | None, interactions: Path | None, items: Path | None,
                   triples: Path | None) -> dict[str, Path] | None:
    """The generic files an ingest reads (None for a registered dataset or a RecBole folder)."""
    from kgrec.kg.sources import DATASETS, generic_files

    if interactions is not None:
        given = {"interactions": interactions, "items": items, "triples": triples}
        return {k: Path(v) for k, v in given.items() if v is not None}
    try:
        DATASETS.resolve(source)
        return None
    except ConfigError:
        return generic_files(source)


def _ingest_stream(files: dict[str, Path], *, name: str | None, mapping: dict[str, str], store: str | None,
                   graph: str | None, batch_size: int | None, progress: bool, chunk_rows: int | None) -> None:
    """``kgrec ingest --stream``: the interactions file read and written a chunk at a time."""
    from kgrec.kg.sources import stream_generic
    from kgrec.kg.sources.chunks import DEFAULT_CHUNK_ROWS
    from kgrec.kg.stores.meta import edge_key

    size = files["interactions"].stat().st_size
    options = {"name": name, "columns": mapping or None, "chunk_rows": chunk_rows}
    stream = stream_generic(**files, **{k: v for k, v in options.items() if v is not None})
    typer.echo(f"streaming {files['interactions']} ({size / 2**20:,.1f} MiB) in chunks of "
               f"{chunk_rows or DEFAULT_CHUNK_ROWS:,} rows into graph {graph or stream.name!r}", err=True)
    with _open(store, **({} if batch_size is None else {"batch_size": batch_size})) as s:
        new = (graph or s.default_graph or stream.name) not in s.graphs()
        report = s.write_stream(stream, graph=graph, progress=progress)
        stats = s.stats(graph=report.graph)
        url = s.url
    key = edge_key(stream.schema.interaction)
    repeated = report.edges.get(key, 0) - stats.edges.get(key, 0)
    if new and repeated > 0:
        typer.echo(f"warning: {repeated:,} interaction rows repeated a (user, item) pair of an earlier chunk; the "
                   "later row's values were kept (on_duplicate applies within a chunk; --no-stream refuses every "
                   "repeat, naming its lines)", err=True)
    rate = report.num_edges / max(report.seconds, 1e-9)
    typer.echo(f"ingested graph {report.graph!r} into {url}: {stats.num_nodes:,} nodes, {stats.num_edges:,} edges "
               f"in {report.seconds:.1f}s ({rate:,.0f} edges/s, streamed)")


# -- stats -------------------------------------------------------------------------------------
@app.command("stats")
def stats_command(
    graph: str | None = typer.Option(None, "--graph", help=GRAPH_HELP),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Counts per label and relation type of a graph in the store (a warning when its last write did
    not finish: training and serving refuse such a graph until the ingest is run again)."""
    with _open(store, graph) as s:
        stats = s.stats()
        state = s.state(graph=stats.name)
    if state != "complete":
        typer.echo(f"warning: graph {stats.name!r} is incomplete: its last write did not finish (state {state!r}: "
                   "the ingest was stopped or failed); these counts are of a partial graph. Run the same "
                   "`kgrec ingest` again to complete it; train and serve refuse the graph until then.", err=True)
    if as_json:
        _echo_json({**stats.to_dict(), "state": state})
        return
    typer.echo(f"graph {stats.name}: {stats.num_nodes:,} nodes, {stats.num_edges:,} edges")
    width = max([len(k) for k in (*stats.nodes, *stats.edges)] or [0])
    typer.echo("nodes:")
    for label, n in stats.nodes.items():
        typer.echo(f"  {label:<{width}}  {n:>10,}")
    typer.echo("edges:")
    for key, n in sorted(stats.edges.items(), key=lambda kv: -kv[1]):
        typer.echo(f"  {key:<{width}}  {n:>10,}")


# -- query -------------------------------------------------------------------------------------
def parse_params(params_json: str | None, param: list[str]) -> dict[str, Any]:
    """The query parameters of ``--params '{json}'`` (a JSON object) and ``--param k=v`` (repeatable);
    a name given both ways is an error."""
    out: dict[str, Any] = {}
    if params_json is not None:
        try:
            loaded = json.loads(params_json)
        except ValueError as e:
            raise InputError(f"--params {params_json!r} is not JSON: {e}") from e
        if not isinstance(loaded, dict):
            raise InputError(f"--params must be a JSON object like '{{\"id\": \"2\"}}', not {type(loaded).__name__}")
        out.update(loaded)
    for text in param:
        key, value = parse_param(text)
        if key in out:
            raise InputError(f"parameter {key!r} is given twice (--params and --param)")
        out[key] = value
    return out


def numbers_for_string_ids(params: dict[str, Any]) -> str | None:
    """A warning for an empty result when parameters are numbers: ids in kgrec graphs are strings,
    so ``{id: 2}`` never matches the node ``"2"``; None when no parameter is a number."""
    numbers = {k: v for k, v in params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if not numbers:
        return None
    named = ", ".join(f"{k} {v!r}" for k, v in numbers.items())
    fixed = json.dumps({k: (str(v) if k in numbers else v) for k, v in params.items()}, ensure_ascii=False)
    return (f"warning: no rows; parameter {named} is a number, but ids in kgrec graphs are strings: "
            f"--params '{fixed}'")


@app.command("query")
def query_command(
    cypher: str = typer.Argument(..., help="A read-only Cypher query (SPARQL with --sparql); values as $parameters."),
    params_json: str | None = typer.Option(None, "--params", help="Parameters as a JSON object, e.g. "
                                           "'{\"user\": \"2\", \"k\": 5}' (ids are strings: quote them)."),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE; VALUE is a JSON scalar when it parses "
                                    "as one (quote a string id: --param 'user=\"2\"'), else text."),
    graph: str | None = typer.Option(None, "--graph", help=GRAPH_HELP),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    timeout: float = typer.Option(CLI_QUERY_TIMEOUT_S, "--timeout", help="Seconds the store may spend on the query "
                                  "before it stops it (at most the store's maximum, 300)."),
    max_rows: int | None = typer.Option(None, "--max-rows", help="Rows returned at most (default: 100000); the "
                                        "store stops there and says the result was truncated."),
    sparql: bool = typer.Option(False, "--sparql", help="The query is SPARQL (rdf: stores)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON objects."),
) -> None:
    """Run a read-only query. One value prints bare; more print as tab-separated rows.

    Refused: writes, LOAD CSV, procedures that reach outside the database (see `kgrec.kg.stores.guard`)."""
    params = parse_params(params_json, param)
    limits = {"timeout": timeout, "max_rows": max_rows}
    with _open(store, graph) as s:
        if sparql:
            result = s.sparql(cypher, params=params, **limits)
        else:
            result = s.query(cypher, params, **limits)
    if as_json:
        _echo_json(result.to_dicts())
    elif len(result.columns) == 1 and len(result.rows) == 1:
        typer.echo(_cell(result.rows[0][0]))
    else:
        typer.echo("\t".join(result.columns))
        for row in result.rows:
            typer.echo("\t".join(_cell(v) for v in row))
    if result.truncated:
        typer.echo(f"(truncated: the query has more than {len(result.rows):,} rows; --max-rows N shows more, or "
                   "narrow the query)", err=True)
    if not result.rows and params:
        warning = numbers_for_string_ids(params)
        if warning is not None:
            typer.echo(warning, err=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


# -- export ------------------------------------------------------------------------------------
@app.command("export")
def export_command(
    output: Path = typer.Option(..., "--output", "-o", help="The file to write (a folder for csv)."),
    format: str = typer.Option("ttl", "--format", "-f", help="ttl, nt, jsonld, graphml, cypher (a script) or csv "
                               "(a folder); aliases such as turtle, n-triples, json-ld are taken too."),
    graph: str | None = typer.Option(None, "--graph", help=GRAPH_HELP),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    base_iri: str | None = typer.Option(None, "--base-iri", help="The base of every IRI (RDF formats)."),
    pseudonymize: bool = typer.Option(False, "--pseudonymize",
                                      help="Replace user ids with HMAC-SHA256 keyed hashes; the key comes from "
                                           "KGREC_PSEUDONYM_KEY."),
) -> None:
    """Read a graph from the store and write it as RDF (Turtle, N-Triples, JSON-LD), GraphML, a Cypher
    script or CSV tables."""
    from kgrec.kg.export import FORMATS, export_graph
    from kgrec.kg.pseudonym import pseudonym_key_from_env

    fmt = FORMATS.canonical(format)  # an unknown format fails before any work, listing the choices
    options: dict[str, Any] = {} if base_iri is None else {"base_iri": base_iri}
    if pseudonymize:
        options["pseudonymize_key"] = pseudonym_key_from_env()  # before any work: a missing key fails at once
    with _open(store, graph) as s:
        kg = s.read()
    try:
        report = export_graph(kg, output, format=fmt, **options)
    except OSError as e:
        raise KgrecError(f"{output}: cannot write: {e.strerror or e}") from e
    typer.echo(f"exported graph {kg.name!r} as {fmt} to {output}: {report.nodes:,} nodes, "
               f"{report.edges:,} edges, {report.bytes:,} bytes in {report.seconds:.1f}s"
               + (" (user ids pseudonymized)" if pseudonymize else ""))


# -- forget ------------------------------------------------------------------------------------
@app.command("forget")
def forget_command(
    user: str = typer.Argument(..., help="The user's id."),
    graph: str | None = typer.Option(None, "--graph", help=GRAPH_HELP),
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    run: list[Path] = typer.Option([], "--run", help="A run directory to remove the user from (repeatable)."),
    vectors: list[Path] = typer.Option([], "--vectors", help="A saved node-vector folder (kgrec embed --save) to "
                                       "remove the user from (repeatable)."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Also remove the user's vectors from the text cache."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove a user's node, interactions, profile and vectors from the store, run directories, saved
    node vectors and the text vector cache (a running `kgrec serve` forgets through DELETE /v1/users/ID)."""
    from kgrec.serving.privacy import forget_user

    for option, folders in (("--run", run), ("--vectors", vectors)):
        for folder in folders:
            if not folder.is_dir():
                raise InputError(f"{option} {folder}: no such directory")
    with _open(store, graph) as s:
        report = forget_user(user, store=s, graph=graph, run_dirs=run, vector_dirs=vectors, cache=cache)
    if as_json:
        _echo_json({"user": report.user, "nodes": report.nodes, "edges": report.edges,
                    "run_dirs": list(report.run_dirs), "vector_dirs": list(report.vector_dirs),
                    "cache_vectors": report.cache_vectors})
        return
    typer.echo(f"forgot user {user!r}: {report.nodes} node and {report.edges:,} edges from the store, "
               f"{len(report.run_dirs)} run directories and {len(report.vector_dirs)} node-vector folders "
               f"rewritten, {report.cache_vectors} cached vectors removed")


# -- store -------------------------------------------------------------------------------------
def _embedded(store: str | None):
    from kgrec.config import default_store_url
    from kgrec.kg.stores import make_store
    from kgrec.kg.stores.embedded import EmbeddedStore

    s = make_store(store)
    if not isinstance(s, EmbeddedStore):
        raise ConfigError(f"`kgrec store` manages the embedded store; {store or default_store_url()!r} is not one")
    return s


@store_app.command("start")
def store_start(store: str | None = typer.Option(None, "--store", help="embedded or embedded:/dir.")) -> None:
    """Start the embedded FalkorDB (or find it running)."""
    s = _embedded(store)
    pid = s.ensure_running()
    typer.echo(f"embedded FalkorDB running (pid {pid}, socket {s.socket_path})")


@store_app.command("stop")
def store_stop(store: str | None = typer.Option(None, "--store", help="embedded or embedded:/dir.")) -> None:
    """Shut the embedded FalkorDB down cleanly."""
    s = _embedded(store)
    typer.echo("embedded FalkorDB stopped" if s.stop() else "embedded FalkorDB was not running")


@store_app.command("compact")
def store_compact(
    store: str | None = typer.Option(None, "--store", help=STORE_HELP),
    graph: str | None = typer.Option(None, "--graph", help="Only this graph, where the store keeps graphs in "
                                     "separate files (rdf:); default: all."),
) -> None:
    """Rewrite the store's persistence files so that deleted data (a forgotten user) is gone from disk."""
    with _open(store) as s:
        if not s.capabilities.compactable:
            raise ConfigError(f"{s.url} cannot compact its files (see the documentation of {type(s).__name__})")
        started = time.perf_counter()
        s.compact(graph=graph)
        url = s.url
    typer.echo(f"compacted {url} in {time.perf_counter() - started:.1f}s")


@store_app.command("status")
def store_status(
    store: str | None = typer.Option(None, "--store", help="embedded or embedded:/dir."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Whether the embedded FalkorDB runs, where, and which graphs it holds."""
    import dataclasses

    status = _embedded(store).status()
    if as_json:
        _echo_json(dataclasses.asdict(status))
        return
    if status.running:
        typer.echo(f"running: pid {status.pid}, FalkorDB on redis {status.version}, memory {status.used_memory}")
        typer.echo(f"graphs: {', '.join(status.graphs) or 'none'}")
    else:
        typer.echo("not running")
    typer.echo(f"data: {status.data_dir}\nsocket: {status.socket}\nlog: {status.log}")
