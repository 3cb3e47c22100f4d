"""Streaming ingest (issue 17.3) on the real embedded store and real MovieLens rows: the interactions
file read and written a chunk at a time stores exactly what the in-memory ingest stores; a bad row
in a later chunk names its real line and leaves the graph incomplete until a rerun; repeats across
chunks are upserted; the synthetic generator streams the same graph it builds in memory."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.errors import IncompleteGraphError, InputError
from kgrec.kg.sources import load_dataset, stream_generic, synthetic, synthetic_stream
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore

_register()
runner = CliRunner()
ROWS = 3000  # MovieLens ratings used (their first lines: 20 users)
COLUMNS = "user_id=userId,item_id=movieId,name=title"


@pytest.fixture()
def url(tmp_path):
    url = f"embedded:{tmp_path / 'store'}"
    yield url
    EmbeddedStore(url).stop()


@pytest.fixture()
def ml_folder(data_home, tmp_path) -> Path:
    """The first ROWS MovieLens ratings as generic files: interactions.csv (userId, movieId, rating,
    timestamp), items.csv (the movies they rate: title, genres as attribute nodes) and triples.csv
    (the users' tags: User -TAGGED-> Entity, and the tagged movies' Item -HAS_TAG_TEXT-> Entity)."""
    ml = data_home / "ml-latest-small"
    folder = tmp_path / "ml"
    folder.mkdir()
    ratings = pd.read_csv(ml / "ratings.csv", dtype=str, nrows=ROWS)
    ratings.to_csv(folder / "interactions.csv", index=False)
    movies = pd.read_csv(ml / "movies.csv", dtype=str)
    movies[movies["movieId"].isin(ratings["movieId"])].to_csv(folder / "items.csv", index=False)
    tags = pd.read_csv(ml / "tags.csv", dtype=str)
    tags = tags[tags["userId"].isin(ratings["userId"]) & tags["movieId"].isin(ratings["movieId"])]
    assert len(tags) > 10
    triples = pd.concat([
        pd.DataFrame({"head": tags["userId"], "relation": "tagged", "tail": tags["tag"], "head_label": "User"}),
        pd.DataFrame({"head": tags["movieId"], "relation": "has tag text", "tail": tags["tag"], "head_label": ""})])
    triples.to_csv(folder / "triples.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    return folder


def kgrec(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_same_graph(a, b) -> None:
    """Exactly the same tables (rows in canonical order, columns, dtypes), schema and metadata."""
    assert a.schema == b.schema
    assert a.metadata == b.metadata
    ca, cb = a.canonical(), b.canonical()
    assert set(ca.nodes) == set(cb.nodes) and set(ca.edges) == set(cb.edges)
    for label in ca.nodes:
        pd.testing.assert_frame_equal(ca.nodes[label], cb.nodes[label], check_exact=True)
    for et in ca.edges:
        pd.testing.assert_frame_equal(ca.edges[et], cb.edges[et], check_exact=True)


def test_streamed_ingest_stores_what_the_in_memory_ingest_stores(ml_folder, url):
    streamed = kgrec("ingest", ml_folder, "--columns", COLUMNS, "--stream", "--chunk-rows", 700, "--store", url,
                     "--graph", "ml-streamed", "--no-progress")
    assert streamed.exit_code == 0, (streamed.output, streamed.exception)
    assert "edges/s, streamed)" in streamed.stdout and "in chunks of 700 rows" in streamed.stderr
    whole = kgrec("ingest", ml_folder, "--columns", COLUMNS, "--no-stream", "--store", url, "--graph", "ml-whole",
                  "--no-progress")
    assert whole.exit_code == 0, (whole.output, whole.exception)
    assert "edges/s, streamed)" not in whole.stdout
    with open_store(url) as store:
        a, b = store.read(graph="ml-streamed"), store.read(graph="ml-whole")
        assert store.graph_meta(graph="ml-streamed").node_columns == store.graph_meta(graph="ml-whole").node_columns
        sa, sb = store.stats(graph="ml-streamed"), store.stats(graph="ml-whole")
        assert (sa.nodes, sa.edges) == (sb.nodes, sb.edges)
    assert_same_graph(a, b)
    assert a.num_edges(a.schema.interaction) == ROWS
    assert ("User", "TAGGED", "Entity") in a.edges and len(a.edges[("User", "TAGGED", "Entity")]) > 0
    # and what load_generic gives, read back
    kg = load_dataset(ml_folder, columns={"user_id": "userId", "item_id": "movieId", "name": "title"})
    assert a.differences(kg) == []


def test_without_an_items_file_each_chunk_brings_its_items(ml_folder, tmp_path, url):
    inter = ml_folder / "interactions.csv"
    for args, graph in ((["--stream", "--chunk-rows", 450], "s"), (["--no-stream"], "m")):
        result = kgrec("ingest", "--interactions", inter, "--columns", COLUMNS, *args, "--store", url, "--graph", graph,
                       "--no-progress")
        assert result.exit_code == 0, (result.output, result.exception)
    with open_store(url) as store:
        a, b = store.read(graph="s"), store.read(graph="m")
    assert a.metadata.pop("dataset") == "s" and b.metadata.pop("dataset") == "m"
    assert_same_graph(a, b)
    assert a.num_nodes("Item") == pd.read_csv(inter, dtype=str)["movieId"].nunique()


def test_a_bad_row_in_a_later_chunk_names_its_line_and_a_rerun_completes_the_graph(ml_folder, url):
    inter = ml_folder / "interactions.csv"
    good = inter.read_text(encoding="utf-8")
    lines = good.splitlines(keepends=True)
    bad_line = 2345  # in the fourth chunk of 700 rows (the header is line 1)
    user, _, rating, ts = lines[bad_line - 1].rstrip("\n").split(",")
    lines[bad_line - 1] = f"{user},1,{rating}x,{ts}\n"
    inter.write_text("".join(lines), encoding="utf-8")
    result = kgrec("ingest", ml_folder, "--columns", COLUMNS, "--stream", "--chunk-rows", 700, "--store", url,
                   "--graph", "ml", "--no-progress")
    assert result.exit_code == 1
    assert isinstance(result.exception, InputError)
    assert str(result.exception) == f"{inter}:{bad_line}: rating '{rating}x' is not a number"
    with open_store(url) as store:
        assert store.state(graph="ml") == "writing"
        with pytest.raises(IncompleteGraphError):
            store.read(graph="ml")
        partial = store.read(graph="ml", allow_incomplete=True)
        assert partial.num_edges(partial.schema.interaction) == 3 * 700  # the chunks before the bad one
    inter.write_text(good, encoding="utf-8")
    again = kgrec("ingest", ml_folder, "--columns", COLUMNS, "--stream", "--chunk-rows", 700, "--store", url,
                  "--graph", "ml", "--no-progress")
    assert again.exit_code == 0, (again.output, again.exception)
    with open_store(url) as store:
        assert store.state(graph="ml") == "complete"
        assert store.read(graph="ml").num_edges(("User", "INTERACTED", "Item")) == ROWS


def test_repeats_within_a_chunk_follow_on_duplicate_and_across_chunks_are_upserted(tmp_path, url):
    path = tmp_path / "interactions.csv"
    path.write_text("user_id,item_id,rating\nu1,i1,1\nu2,i1,2\nu1,i1,3\nu3,i2,4\nu1,i1,5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"interactions.csv:4: duplicate interaction 'u1' -> 'i1' \(first on line 2\)"):
        list(stream_generic(path, chunk_rows=3))
    stream = stream_generic(path, chunk_rows=2, name="rep")  # u1-i1 on lines 2 | 4 | 6: one per chunk
    result = kgrec("ingest", "--interactions", path, "--stream", "--chunk-rows", 2, "--store", url, "--graph", "rep",
                   "--no-progress")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "warning: 2 interaction rows repeated a (user, item) pair of an earlier chunk" in result.stderr
    with open_store(url) as store:
        rated = store.read(graph="rep").interactions.set_index(["src", "dst"])
    assert len(rated) == 3 and rated.loc[("u1", "i1"), "rating"] == 5.0  # the last row won
    assert stream.name == "rep"
    whole = kgrec("ingest", "--interactions", path, "--no-stream", "--store", url, "--graph", "rep2", "--no-progress")
    assert whole.exit_code == 1 and "duplicate interaction" in str(whole.exception)


def test_large_files_stream_by_themselves(ml_folder, url, monkeypatch):
    import kgrec.cli.kg as cli

    monkeypatch.setattr(cli, "STREAM_THRESHOLD_BYTES", 1000)
    result = kgrec("ingest", ml_folder, "--columns", COLUMNS, "--store", url, "--no-progress")
    assert result.exit_code == 0, (result.output, result.exception)
    assert "edges/s, streamed)" in result.stdout
    refused = kgrec("ingest", "movielens-small", "--stream", "--store", url)
    assert refused.exit_code == 1 and "--stream reads generic files" in str(refused.exception)


def test_the_synthetic_stream_is_the_synthetic_graph(url, monkeypatch):
    import importlib

    module = importlib.import_module("kgrec.kg.sources.synthetic")
    monkeypatch.setattr(module, "BLOCK_DRAWS", 500)  # many blocks
    kg = synthetic(num_users=300, num_items=120, seed=7, name="syn")
    stream = synthetic_stream(num_users=300, num_items=120, seed=7, name="syn")
    assert sum(1 for _ in stream) > 5
    with open_store(url) as store:
        report = store.write_stream(stream)
        assert report.num_edges == kg.num_edges()
        back = store.read(graph="syn")
    assert back.differences(kg) == []
    assert back.metadata == kg.metadata
