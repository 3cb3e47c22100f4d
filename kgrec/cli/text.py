"""`kgrec embed` and `kgrec profile`: thin layers over :mod:`kgrec.text`."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from kgrec.cli import app
from kgrec.errors import ConfigError, UnknownUserError

logger = logging.getLogger(__name__)


def _labels(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _print_report(kg, vectors) -> None:
    report = vectors.report
    typer.echo(f"embedded {kg.name} with {vectors.model_id} (dim {vectors.dim})")
    width = max([len("label"), len("total"), *(len(label) for label in vectors.vectors)])
    typer.echo(f"  {'label':<{width}}  {'nodes':>9}  {'encoded':>9}  {'cached':>9}")
    for label, matrix in vectors.vectors.items():
        typer.echo(f"  {label:<{width}}  {len(matrix):>9,}  {report.encoded[label]:>9,}  {report.cached[label]:>9,}")
    total = sum(len(m) for m in vectors.vectors.values())
    typer.echo(f"  {'total':<{width}}  {total:>9,}  {report.num_encoded:>9,}  {report.num_cached:>9,}")
    if report.unique_encoded:
        typer.echo(f"encoder: {report.unique_encoded:,} distinct texts in {report.encode_seconds:.1f}s = "
                   f"{report.encoded_per_second:,.1f} texts/s")
    else:
        typer.echo("encoder: not called (every vector came from the cache)")
    typer.echo(f"whole run: {report.seconds:.2f}s = {report.texts_per_second:,.0f} node texts/s")


@app.command()
def embed(
    name: str | None = typer.Argument(None, help="A dataset name or path (loaded with load_dataset); "
                                                 "with --store, the graph to read from the store."),
    store: str | None = typer.Option(None, "--store", help="Read the graph from this store URL instead "
                                                           "(embedded, falkordb://..., bolt://...)."),
    graph: str | None = typer.Option(None, "--graph", help="Graph name in the store (default: NAME, "
                                                           "else the store's only graph)."),
    model: str | None = typer.Option(None, "--model", help="Hugging Face model id or local folder "
                                                           "(default: the packaged all-MiniLM-L6-v2)."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Texts per forward pass."),
    max_length: int = typer.Option(128, "--max-length", min=8, help="Tokens kept per text."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads (default: torch's)."),
    labels: str | None = typer.Option(None, "--labels", help="Comma-separated labels, or 'items' (default: all)."),
    documents: str = typer.Option("full", "--documents", help="full, or short (name, 3 tags, 1 fact: the quick "
                                                              "path of TextConfig(documents='short'))."),
    write_vectors: bool = typer.Option(False, "--write-vectors",
                                       help="Also store the vectors as node property 'embedding' with a "
                                            "vector index (the graph must be in the store)."),
    save: Path | None = typer.Option(None, "--save", help="Also save the vectors (safetensors + JSON) here."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                         help="A progress bar (default: on in a terminal)."),
) -> None:
    """Encode every node's document into a vector; repeats come from the cache."""
    from kgrec.config import hf_downloads_allowed
    from kgrec.text import TextConfig, embed_graph
    from kgrec.text import write_vectors as write_node_vectors

    if name is None and store is None:
        raise ConfigError("name a dataset (kgrec embed lastfm) or a store (kgrec embed --store embedded)")
    chosen = _labels(labels)
    text = TextConfig(model=model, device=device, batch_size=batch_size, max_length=max_length, threads=threads,
                      documents=documents, labels="items" if chosen == ["items"] else (chosen or "all"),
                      download=hf_downloads_allowed())
    encoder = text.encoder(progress=progress)
    _ = encoder.fingerprint  # a bad model fails now, before a dataset is loaded
    opened = None
    try:
        if store is not None:
            from kgrec.kg.stores import open_store

            opened = open_store(store, graph=graph or name)
            kg = opened.read()
        else:
            from kgrec.kg.sources import load_dataset

            kg = load_dataset(name)
        vectors = embed_graph(kg, config=text, encoder=encoder, progress=progress)
        _print_report(kg, vectors)
        if save is not None:
            vectors.save(save)
            typer.echo(f"saved vectors to {save}")
        if write_vectors:
            if opened is None:
                from kgrec.kg.stores import open_store

                opened = open_store(None, graph=graph or kg.name)
            written = write_node_vectors(opened, kg, vectors, graph=graph or (kg.name if store is None else None))
            typer.echo("wrote vectors to the store: " + ", ".join(f"{k} {v:,}" for k, v in written.items()))
    finally:
        if opened is not None:
            opened.close()


@app.command()
def profile(
    user: str = typer.Argument(..., help="The user's id."),
    store: str | None = typer.Option(None, "--store", help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, "--graph", help="Graph name (default: the store's only graph)."),
    k: int = typer.Option(10, "--k", "-k", min=1, max=100, help="How many interest tags."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    refresh: bool = typer.Option(False, "--refresh", help="Recompute and rewrite every user's profile."),
    model: str | None = typer.Option(None, "--model", help="Text model (default: the packaged MiniLM)."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                         help="A progress bar (default: on in a terminal)."),
) -> None:
    """Print a user's interest tags (computed and written to the store when absent)."""
    from kgrec.config import hf_downloads_allowed
    from kgrec.kg.stores import open_store
    from kgrec.text import TextEncoder, embed_graph, interest_tags, read_profiles, write_profiles
    from kgrec.text.profiles import attribute_labels, named_labels

    with open_store(store, graph=graph) as st:
        tags = [] if refresh else read_profiles(st, user, graph=graph)
        if len(tags) < k:
            kg = st.read(graph=graph)
            if user not in set(kg.users["id"]):
                raise UnknownUserError(f"user {user!r} is not in graph {kg.name!r}")
            wanted = [kg.schema.user_label, kg.schema.item_label, *named_labels(kg, attribute_labels(kg))]
            vectors = embed_graph(kg, encoder=TextEncoder(model, progress=progress, download=hf_downloads_allowed()),
                                  labels=wanted, progress=progress)
            profiles = interest_tags(kg, vectors, k=k)
            write_profiles(st, profiles, graph=graph)
            logger.info("wrote interest tags of %d users", len(profiles))
            tags = profiles[user]
        tags = tags[:k]
        from kgrec.serving.intent import read_preferences

        said = read_preferences(st, user, graph=graph)  # what the user said in text feedback (kgrec feedback)
    if as_json:
        typer.echo(json.dumps({"user": user, "interest_tags": [t.to_dict() for t in tags],
                               "text_preferences": [p.to_dict() for p in said]}, ensure_ascii=False, indent=1))
        return
    typer.echo(f"Interest tags of user {user}:")
    for rank, t in enumerate(tags, start=1):
        typer.echo(f"  {rank:>2}. {t.name}  ({t.label}, score {t.score:.3f})")
    if not tags:
        typer.echo("  (none: the graph has no named attribute nodes)")
    if said:
        from kgrec.cli.intent import print_preferences

        typer.echo(f"Text preferences of user {user} (kgrec feedback):")
        print_preferences(said)
