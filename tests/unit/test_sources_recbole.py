"""RecBole atomic files (.inter, .item, .kg, .link) on small files written here."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.errors import DatasetNotFoundError, InputError
from kgrec.kg.sources import load_dataset, load_recbole


@pytest.fixture
def atomic(tmp_path):
    folder = tmp_path / "ml-tiny"
    folder.mkdir()
    (folder / "ml-tiny.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t4\t881250949\n2\t10\t3\t881250950.7\n2\t11\t5\t881250951\n")
    (folder / "ml-tiny.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\tscore:float\temb:float_seq\n"
        "10\tToy Story\t1995\tAnimation Comedy\t0.5\t1 2\n11\tHeat\t1995\tCrime\t\t3 4\n12\tAlien\t1979\tHorror\t0.9\t\n")
    (folder / "ml-tiny.link").write_text("item_id:token\tentity_id:token\n10\tm.01\n11\tm.02\n")
    (folder / "ml-tiny.kg").write_text("head_id:token\trelation_id:token\ttail_id:token\n"
                                       "m.01\tfilm.film.genre\tm.g1\nm.g1\tgenre.parent\tm.g2\nm.02\tfilm.film.sequel\tm.01\n")
    return folder


def test_atomic_files_become_a_graph(atomic):
    kg = load_dataset(atomic)  # recognised as RecBole by its .inter file
    assert kg.name == "ml-tiny"
    assert kg.metadata["format"] == "recbole"
    assert list(kg.users["id"]) == ["1", "2"]
    items = kg.items.set_index("id")
    assert items.loc["10", "name"] == "Toy Story"
    assert items.loc["10", "score"] == 0.5 and pd.isna(items.loc["11", "score"])
    assert kg.schema.node("Item").properties == {"score": "float"}
    assert "emb" not in kg.items.columns  # float_seq is skipped
    inter = kg.interactions.set_index(["src", "dst"])
    assert inter.loc[("2", "10"), "timestamp"] == 881250950  # float timestamps round down
    assert inter.loc[("1", "10"), "rating"] == 4.0
    classes = kg.edges[("Item", "HAS_CLASS", "Class")]
    assert sorted(zip(classes["src"], classes["dst"])) == [("10", "Animation"), ("10", "Comedy"), ("11", "Crime"),
                                                           ("12", "Horror")]
    years = kg.edges[("Item", "HAS_RELEASE_YEAR", "ReleaseYear")]
    assert sorted(years["dst"].unique()) == ["1979", "1995"]
    # linked entities are the items themselves, others are Entity nodes
    assert list(kg.edges[("Item", "FILM_FILM_GENRE", "Entity")]["src"]) == ["10"]
    assert list(kg.edges[("Item", "FILM_FILM_SEQUEL", "Item")].itertuples(index=False, name=None))[0][:2] == ("11", "10")
    assert list(kg.edges[("Entity", "GENRE_PARENT", "Entity")]["dst"]) == ["m.g2"]
    assert set(kg.nodes["Entity"]["id"]) == {"m.g1", "m.g2"}


def test_inter_only_and_explicit_dataset_name(atomic):
    for suffix in ("item", "link", "kg"):
        (atomic / f"ml-tiny.{suffix}").unlink()
    kg = load_recbole(atomic / "ml-tiny.inter")
    assert sorted(kg.items["id"]) == ["10", "11"]
    (atomic / "other.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(DatasetNotFoundError, match="expected one NAME.inter file.*pass dataset=NAME"):
        load_recbole(atomic)
    assert load_recbole(atomic, dataset="other").num_edges(("User", "INTERACTED", "Item")) == 1


def test_errors_name_file_and_line(atomic):
    (atomic / "ml-tiny.item").write_text("item_id:token\tscore:float\n10\t0.5\n11\thigh\n")
    with pytest.raises(InputError, match=r"ml-tiny\.item:3: score 'high' is not a number"):
        load_recbole(atomic)
    (atomic / "ml-tiny.item").write_text("item_id:token\tscore:double\n10\t0.5\n")
    with pytest.raises(InputError, match=r"ml-tiny\.item:1: header field 'score:double' is not name:type"):
        load_recbole(atomic)
    (atomic / "ml-tiny.item").unlink()
    (atomic / "ml-tiny.link").write_text("item_id:token\tentity_id:token\n10\tm.01\n11\tm.01\n")
    with pytest.raises(InputError, match=r"ml-tiny\.link:3: entity 'm\.01' is linked to two items"):
        load_recbole(atomic)
    (atomic / "ml-tiny.link").write_text("entity_id:token\n")
    with pytest.raises(InputError, match=r"ml-tiny\.link:1: missing field 'item_id'"):
        load_recbole(atomic)
