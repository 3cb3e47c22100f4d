"""RDF round trips of the real datasets: export, import, equal."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.kg.export import export_graph, import_rdf
from kgrec.kg.rdf.vocab import Vocabulary

FORMATS = ["nt", "ttl", "jsonld"]


@pytest.mark.parametrize("fmt", ["nt", "ttl", pytest.param("jsonld", marks=pytest.mark.slow)])
def test_lastfm_small_round_trips(lastfm_small_kg, tmp_path, fmt):
    report = export_graph(lastfm_small_kg, tmp_path / f"lastfm.{fmt}", format=fmt)
    assert report.nodes == lastfm_small_kg.num_nodes() and report.edges == lastfm_small_kg.num_edges()
    back = import_rdf(report.path)
    assert back.differences(lastfm_small_kg) == []
    assert back.schema.to_dict() == lastfm_small_kg.schema.to_dict()
    assert (back.edges[("User", "LISTENED_TO", "Artist")]["weight"].dtype.name, back.name) == ("Int64", "lastfm")


def test_movielens_round_trips(movielens_kg, tmp_path):
    report = export_graph(movielens_kg, tmp_path / "ml.nt", format="nt")
    back = import_rdf(report.path)
    assert back.differences(movielens_kg) == []
    rated = back.edges[("User", "RATED", "Movie")]
    assert rated["rating"].sum() == pytest.approx(movielens_kg.edges[("User", "RATED", "Movie")]["rating"].sum())


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ttl", "jsonld"])
def test_movielens_round_trips_in_turtle_and_jsonld(movielens_kg, tmp_path, fmt):
    back = import_rdf(export_graph(movielens_kg, tmp_path / f"ml.{fmt}", format=fmt).path)
    assert back.differences(movielens_kg) == []


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_full_lastfm_round_trips(lastfm_kg, tmp_path, fmt):
    report = export_graph(lastfm_kg, tmp_path / f"lastfm.{fmt}", format=fmt)
    back = import_rdf(report.path)
    assert back.differences(lastfm_kg) == []
    satori = sum(len(df) for et, df in back.edges.items() if "kg" in df and (df["kg"] == "satori").all())
    assert satori == 15_518


def test_pseudonymized_lastfm_small_has_no_user_iri(lastfm_small_kg, tmp_path):
    key = b"a key of the analyst's choosing"
    path = export_graph(lastfm_small_kg, tmp_path / "p.nt", format="nt", pseudonymize_key=key).path
    v = Vocabulary()
    text = path.read_text(encoding="utf-8")
    for uid in lastfm_small_kg.users["id"]:
        assert f"<{v.node_iri('User', uid)}>" not in text
    back = import_rdf(path)
    assert back.num_edges() == lastfm_small_kg.num_edges()
    assert set(back.users["id"].str.len()) == {64}
    # items, tags and their edges are untouched
    pd.testing.assert_frame_equal(back.canonical().nodes["Artist"], lastfm_small_kg.canonical().nodes["Artist"],
                                  check_dtype=False)
