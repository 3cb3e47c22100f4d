"""LIR, SEP and ETD on the real movielens-small graph, whose ratings carry timestamps (issue 20)."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.serving.index import GraphIndex
from kgrec.serving.path_quality import PathQuality
from kgrec.serving.paths import ExplanationPath, PathNode, PathRelation


@pytest.fixture(scope="module")
def movielens(movielens_kg):
    index = GraphIndex.from_graph(movielens_kg)
    return movielens_kg, index, PathQuality(index, movielens_kg)


def _path(kg, user: str, seen: str, genre: str, item: str) -> ExplanationPath:
    name = dict(zip(kg.nodes["Movie"]["id"].astype(str), kg.nodes["Movie"]["name"].astype(str)))
    return ExplanationPath(
        (PathNode("User", user, user), PathNode("Movie", seen, name[seen]), PathNode("Genre", genre, genre),
         PathNode("Movie", item, name[item])),
        (PathRelation("RATED", "out"), PathRelation("HAS_GENRE", "out"), PathRelation("HAS_GENRE", "in")))


def test_lir_is_the_recency_of_the_linking_rating(movielens):
    kg, _, quality = movielens
    assert quality.has_times
    ratings = kg.edges[("User", "RATED", "Movie")]
    user = "1"
    mine = ratings[ratings["src"].astype(str) == user].sort_values("timestamp", kind="stable")
    genres = kg.edges[("Movie", "HAS_GENRE", "Genre")]
    genre_of = dict(zip(genres["src"].astype(str), genres["dst"].astype(str)))
    oldest, newest = str(mine["dst"].iloc[0]), str(mine["dst"].iloc[-1])
    values = [quality.lir(_path(kg, user, str(m), genre_of[str(m)], "1")) for m in mine["dst"].astype(str)
              if str(m) in genre_of]
    assert quality.lir(_path(kg, user, oldest, genre_of[oldest], "1")) == 0.0
    assert quality.lir(_path(kg, user, newest, genre_of[newest], "1")) == 1.0
    assert np.all(np.diff(values) >= 0)  # later ratings are never less recent
    first_time = mine["timestamp"].iloc[0]
    same_time = [str(m) for m, t in zip(mine["dst"], mine["timestamp"]) if t == first_time and str(m) in genre_of]
    assert len({quality.lir(_path(kg, user, m, genre_of[m], "1")) for m in same_time}) == 1  # ties: one value
    # a path that does not start with a timestamped edge has no LIR
    tagged = ExplanationPath((PathNode("User", user, user), PathNode("Tag", "x", "x"), PathNode("Movie", "1", "x")),
                             (PathRelation("TAGGED", "out"), PathRelation("HAS_TAG", "in")))
    assert quality.lir(tagged) is None
    assert PathQuality(movielens[1]).lir(_path(kg, user, oldest, genre_of[oldest], "1")) is None  # no graph given


def test_sep_is_the_popularity_of_the_shared_entity(movielens):
    kg, index, quality = movielens
    genres = kg.edges[("Movie", "HAS_GENRE", "Genre")]
    counts = genres["dst"].astype(str).value_counts()
    top, rare = counts.index[0], counts.index[-1]
    seen = "1"
    assert quality.sep(_path(kg, "1", seen, top, "2")) == 1.0
    assert quality.sep(_path(kg, "1", seen, rare, "2")) < 0.2
    one_hop = ExplanationPath((PathNode("User", "1", "1"), PathNode("Movie", "1", "x")), (PathRelation("RATED", "out"),))
    assert quality.sep(one_hop) is None


def test_etd_counts_the_types_of_a_lists_paths(movielens):
    kg, _, quality = movielens
    assert "HAS_GENRE" in quality.types and "RATED" in quality.types
    genre = _path(kg, "1", "1", "Comedy", "2")
    listener = ExplanationPath(
        (PathNode("User", "1", "1"), PathNode("Movie", "1", "x"), PathNode("User", "2", "2"), PathNode("Movie", "3", "y")),
        (PathRelation("RATED", "out"), PathRelation("RATED", "in"), PathRelation("RATED", "out")))
    assert quality.etd([genre, genre, genre]) == pytest.approx(1 / 3)
    assert quality.etd([genre, listener]) == 1.0
    assert quality.etd([]) is None
