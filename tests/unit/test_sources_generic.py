"""The generic loader and load_dataset's name/path handling, on small files written here."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from kgrec.errors import ConfigError, DatasetNotFoundError, InputError
from kgrec.kg.sources import list_datasets, load_dataset, load_generic


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def files(tmp_path):
    inter = write(tmp_path / "interactions.csv",
                  "user_id,item_id,rating,timestamp\nu1,i1,4.5,100\nu1,i2,3,200\nu2,i1,5,300\nu3,i3,,\n")
    items = write(tmp_path / "items.csv",
                  "item_id,name,text,genre,year\n"
                  "i1,First,a film about trains,Drama|Comedy,1999\n"
                  "i2,Second,,Drama,2001\n"
                  "i3,,a third one, ,\n")
    triples = write(tmp_path / "triples.csv", "head,relation,tail\ni1,film.director,Bob\nBob,people.born_in,Paris\n")
    return inter, items, triples


def test_interactions_only_derive_users_and_items(files):
    inter, _, _ = files
    kg = load_generic(inter)
    assert kg.name == "interactions"
    assert list(kg.users["id"]) == ["u1", "u2", "u3"]
    assert list(kg.items["id"]) == ["i1", "i2", "i3"]
    assert kg.schema.interaction == ("User", "INTERACTED", "Item")
    edges = kg.interactions.set_index(["src", "dst"])
    assert edges.loc[("u1", "i1"), "rating"] == 4.5
    assert edges.loc[("u2", "i1"), "timestamp"] == 300
    assert pd.isna(edges.loc[("u3", "i3"), "rating"])  # an empty optional value is missing, not an error
    assert str(kg.interactions["rating"].dtype) == "Float64"
    assert str(kg.interactions["timestamp"].dtype) == "Int64"
    assert list(kg.interactions["_line"]) == [2, 3, 4, 5]


def test_items_attributes_properties_and_triples(files):
    inter, items, triples = files
    kg = load_generic(inter, items=items, triples=triples, item_properties={"year": "integer"}, name="tiny")
    assert kg.name == "tiny"
    table = kg.items.set_index("id")
    assert table.loc["i1", "name"] == "First"
    assert table.loc["i3", "name"] == "i3"  # no name: the id
    assert table.loc["i1", "text"] == "a film about trains"
    assert pd.isna(table.loc["i2", "text"])
    assert table.loc["i2", "year"] == 2001 and pd.isna(table.loc["i3", "year"])
    assert kg.schema.node("Item").properties == {"year": "integer"}
    genre = kg.edges[("Item", "HAS_GENRE", "Genre")]
    assert sorted(zip(genre["src"], genre["dst"])) == [("i1", "Comedy"), ("i1", "Drama"), ("i2", "Drama")]
    assert sorted(kg.nodes["Genre"]["id"]) == ["Comedy", "Drama"]
    assert set(kg.nodes["Entity"]["id"]) == {"Bob", "Paris"}
    assert list(kg.edges[("Item", "FILM_DIRECTOR", "Entity")]["dst"]) == ["Bob"]
    assert list(kg.edges[("Entity", "PEOPLE_BORN_IN", "Entity")]["dst"]) == ["Paris"]
    assert kg.sources[("Item", "HAS_GENRE", "Genre")].endswith("items.csv")


def test_column_mapping_and_tsv_guessing(tmp_path):
    inter = write(tmp_path / "ratings.tsv", "userId\tmovieId\tstars\nA\t1\t2.5\nB\t1\t4\n")
    kg = load_generic(inter, columns={"user_id": "userId", "item_id": "movieId", "rating": "stars"})
    assert kg.num_edges(kg.schema.interaction) == 2
    assert list(kg.interactions["rating"]) == [2.5, 4.0]
    with pytest.raises(InputError, match=r"ratings\.tsv:1: missing column 'user_id'.*columns="):
        load_generic(inter)
    with pytest.raises(InputError, match="unknown canonical column 'usr'"):
        load_generic(inter, columns={"usr": "userId"})


def test_crlf_bom_blank_lines_and_quoted_newlines_keep_line_numbers(tmp_path):
    inter = tmp_path / "interactions.csv"
    inter.write_bytes(b"\xef\xbb\xbfuser_id,item_id,rating\r\nu1,i1,1\r\n\r\nu2,\"i\r\n2\",2\r\nu3,i3,x\r\n")
    with pytest.raises(InputError, match=r"interactions\.csv:6: rating 'x' is not a number"):
        load_generic(inter)
    inter.write_bytes(b"\xef\xbb\xbfuser_id,item_id\r\nu1,i1\r\n\r\nu2,i2\r\n")
    kg = load_generic(inter)
    assert list(kg.interactions["_line"]) == [2, 4]


def test_latin1_file_loads_with_its_encoding(tmp_path):
    inter = write(tmp_path / "interactions.csv", "user_id,item_id\nu1,café\n", encoding="latin-1")
    with pytest.raises(InputError, match=r"interactions\.csv:2: byte b'\\xe9' at column 7 is not valid utf-8"):
        load_generic(inter)
    kg = load_generic(inter, encoding="latin-1")
    assert list(kg.items["id"]) == ["café"]


def test_duplicates_error_or_keep_first_or_last(tmp_path):
    inter = write(tmp_path / "interactions.csv", "user_id,item_id,rating\nu1,i1,1\nu1,i1,5\n")
    with pytest.raises(InputError, match=r"interactions\.csv:3: duplicate interaction 'u1' -> 'i1' \(first on line 2\)"):
        load_generic(inter)
    assert list(load_generic(inter, on_duplicate="first").interactions["rating"]) == [1.0]
    assert list(load_generic(inter, on_duplicate="last").interactions["rating"]) == [5.0]


def test_triples_with_explicit_labels(tmp_path, files):
    inter, items, _ = files
    triples = write(tmp_path / "t.tsv", "head\trelation\ttail\thead_label\ttail_label\n"
                                        "i1\tsimilar to\ti2\tItem\tItem\nu1\tlives in\tOslo\tUser\tCity\n")
    kg = load_generic(inter, items=items, triples=triples)
    assert list(kg.edges[("Item", "SIMILAR_TO", "Item")]["dst"]) == ["i2"]
    assert list(kg.edges[("User", "LIVES_IN", "City")]["dst"]) == ["Oslo"]
    assert list(kg.nodes["City"]["id"]) == ["Oslo"]


def test_rdf_triples_with_item_namespace_and_labels(tmp_path, files):
    inter, _, _ = files
    ttl = write(tmp_path / "kg.ttl", """@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:i1 ex:director ex:Bob .
ex:i2 ex:director ex:Bob .
ex:Bob rdfs:label "Bob Smith" .
ex:Bob ex:age 42 .
""")
    kg = load_generic(inter, triples=ttl, item_namespace="http://example.org/")
    edges = kg.edges[("Item", "DIRECTOR", "Entity")]
    assert sorted(edges["src"]) == ["i1", "i2"]
    entities = kg.nodes["Entity"].set_index("id")
    assert entities.loc["http://example.org/Bob", "name"] == "Bob Smith"
    assert len(entities) == 1  # the literal 42 is not a node
    nt = write(tmp_path / "kg.nt", "<http://a/x> <http://a/p> <http://a/y> .\n<http://a/x> <http://a/p> .\n")
    with pytest.raises(InputError, match=r"kg\.nt:2: not valid RDF"):
        load_generic(inter, triples=nt)


def test_load_dataset_recognises_folders_and_files(tmp_path, files):
    inter, _, _ = files
    kg = load_dataset(tmp_path)  # interactions.csv + items.csv + triples.csv
    assert kg.name == tmp_path.name
    assert "Genre" in kg.nodes and "Entity" in kg.nodes
    assert load_dataset(str(inter)).num_edges(("User", "INTERACTED", "Item")) == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError, match="neither RecBole atomic files"):
        load_dataset(empty)
    with pytest.raises(DatasetNotFoundError, match="no such file or folder"):
        load_dataset(tmp_path / "missing.csv")


def test_names_are_case_and_dash_insensitive_and_unknown_names_list_every_choice():
    assert load_dataset("SYNTHETIC", num_users=3, num_items=5).metadata["synthetic"] is True
    assert load_dataset("Synth", num_users=3, num_items=5).name == "synthetic"
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("movielens-large")
    for name in ("lastfm", "lastfm-kgcn", "movielens-small", "synthetic", "generic", "recbole"):
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="takes no option 'num_user'.*num_users"):
        load_dataset("synthetic", num_user=3)


def test_list_datasets_describes_every_registered_dataset():
    infos = {d.name: d for d in list_datasets()}
    assert set(infos) == {"lastfm", "lastfm-kgcn", "movielens-small", "synthetic"}
    assert "hetrec2011-lastfm-2k/artists.dat" in infos["lastfm"].files
    assert "lastfm-dbpedia-entity2rec/graphs/dbo:genre.edgelist" in infos["lastfm"].files
    assert infos["movielens-small"].files == tuple(f"ml-latest-small/{n}" for n in
                                                   ("movies.csv", "ratings.csv", "tags.csv", "links.csv"))
    assert "non-commercial" in infos["lastfm"].license
    assert infos["synthetic"].path is None and infos["synthetic"].files == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        infos["lastfm"].name = "x"  # frozen
