"""Issue 14's ingest holes, one test each (each fails on the loaders before the fix): short rows,
repeated header names, non-ASCII relation names, invisible characters in ids, files that are not
regular files, huge fields and cells, and errors that named no file or line."""

from __future__ import annotations

import os
import threading
import time

import pytest

from kgrec.errors import ConfigError, DatasetNotFoundError, InputError, SchemaError
from kgrec.kg import Schema
from kgrec.kg.schema import check_label, to_label_name, to_relation_name
from kgrec.kg.sources import list_datasets, load_dataset, load_generic, load_recbole
from kgrec.kg.sources._io import MAX_CELL_VALUES, MAX_FIELD_LENGTH


def write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def inter(tmp_path):
    return write(tmp_path / "interactions.csv", "user_id,item_id\nu1,i1\nu2,i2\n")


# -- A6: short rows ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "text", "line"), [
    ("interactions.csv", "user_id,item_id,rating\nu1,i1,3\nu3,i2\n", 3),
    ("interactions.tsv", "user_id\titem_id\trating\nu1\ti1\t3\n\nu3\ti2\n", 4),
    ("interactions.csv", "user_id,item_id,rating\r\nu3\r\nu1,i1,3\r\n", 2),
])
def test_a_short_row_names_file_and_line(tmp_path, name, text, line):
    path = write(tmp_path / name, text)
    with pytest.raises(InputError, match=rf"{name.replace('.', '[.]')}:{line}: expected 3 fields, saw \d"):
        load_generic(path)


def test_quoted_fields_over_several_lines_and_empty_values_are_not_short_rows(tmp_path):
    path = write(tmp_path / "interactions.csv", 'user_id,item_id,rating\nu1,"i\n1",\nu2,i2,4\n\n')
    kg = load_generic(path)
    assert sorted(kg.items["id"]) == ["i\n1", "i2"]
    assert list(kg.interactions["_line"]) == [2, 4]


# -- B7: headers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("header", "name"), [
    ("item_id,genre,genre", "genre"),
    ("item_id,genre, genre ", "genre"),
    ("\ufeffitem_id,item_id\u200b,genre", "item_id"),
])
def test_an_items_header_that_names_a_column_twice_is_refused(tmp_path, inter, header, name):
    items = write(tmp_path / "items.csv", f"{header}\ni1,a,b\ni2,c,d\n")
    with pytest.raises(InputError, match=rf"items\.csv:1: the header names column '{name}' twice"):
        load_generic(inter, items=items)


@pytest.mark.parametrize("header", ["user_id,item_id,user_id", "user_id, item_id ,user_id "])
def test_an_interactions_header_with_a_second_user_id_is_refused(tmp_path, header):
    path = write(tmp_path / "interactions.csv", f"{header}\nu1,i1,u9\n")
    with pytest.raises(InputError, match=r"interactions\.csv:1: the header names column 'user_id' twice"):
        load_generic(path)


def test_a_blank_header_name_and_a_mapping_onto_a_taken_name_are_refused(tmp_path):
    blank = write(tmp_path / "blank.csv", "user_id,,item_id\nu1,x,i1\n")
    with pytest.raises(InputError, match=r"blank\.csv:1: field 2 of the header is blank"):
        load_generic(blank)
    both = write(tmp_path / "both.csv", "userId,user_id,item_id\nu1,u2,i1\n")
    with pytest.raises(InputError, match=r"both\.csv:1: column 'userId' is mapped to 'user_id', but the header has"):
        load_generic(both, columns={"user_id": "userId"})


# -- B7: relation and label names ----------------------------------------------------------------
def test_non_ascii_relations_stay_apart_and_keep_their_text(tmp_path, inter):
    triples = write(tmp_path / "triples.csv", "head,relation,tail\ni1,导演,Bob\ni1,主演,Ann\ni2,film.導演,Bob\n")
    kg = load_generic(inter, triples=triples)
    names = {r.name: r for r in kg.schema.relations if r.source == "Item"}
    assert set(names) == {"R_5BFC_6F14", "R_4E3B_6F14", "FILM_5C0E_6F14"}
    assert names["R_5BFC_6F14"].description == "导演" and names["R_4E3B_6F14"].description == "主演"
    assert list(kg.edges[("Item", "R_5BFC_6F14", "Entity")]["dst"]) == ["Bob"]
    assert list(kg.edges[("Item", "R_4E3B_6F14", "Entity")]["dst"]) == ["Ann"]
    assert names["R_5BFC_6F14"].phrase("out", you=False) == "has the 导演"
    assert names["FILM_5C0E_6F14"].phrase("in", you=False) == "is the film 導演 of"
    back = Schema.from_dict(kg.schema.to_dict())  # what a store keeps
    assert back.relation(("Item", "R_5BFC_6F14", "Entity")).description == "导演"


@pytest.mark.parametrize(("a", "b", "name"), [("film.genre", "film_genre", "FILM_GENRE"),
                                               ("Café", "cafe", "CAFE")])
def test_two_relation_texts_that_give_one_name_are_refused_naming_both(tmp_path, inter, a, b, name):
    triples = write(tmp_path / "triples.csv", f"head,relation,tail\ni1,{a},x\ni2,{b},y\n")
    with pytest.raises(InputError, match=rf"triples\.csv:3: relation '{b}' and relation '{a}' \(line 2\) "
                                         rf"both become {name}"):
        load_generic(inter, triples=triples)


def test_ascii_relation_names_are_as_before_and_non_ascii_ones_are_faithful():
    assert to_relation_name("music.artist.origin") == "MUSIC_ARTIST_ORIGIN"
    assert to_relation_name("dbo:birthPlace") == "DBO_BIRTH_PLACE"
    assert to_relation_name("film.film.genre") == "FILM_FILM_GENRE"
    assert to_relation_name("导演") == "R_5BFC_6F14" != to_relation_name("主演")
    assert to_relation_name("Größe") == "GROSSE"
    assert to_relation_name("\u202e") == "R_"
    assert to_label_name("release_year") == "ReleaseYear" and to_label_name("导演") == "A5BFC6F14"


def test_non_ascii_attribute_columns_become_distinct_labels(tmp_path, inter):
    items = write(tmp_path / "items.csv", "item_id,导演,主演\ni1,Bob,Ann\ni2,Bob,\n")
    kg = load_generic(inter, items=items)
    assert {"A5BFC6F14", "A4E3B6F14"} <= set(kg.nodes)
    assert ("Item", "HAS_5BFC_6F14", "A5BFC6F14") in kg.edges
    clash = write(tmp_path / "clash.csv", "item_id,genre,Genre\ni1,a,b\n")
    with pytest.raises(InputError, match=r"clash\.csv:1: column 'Genre' becomes label 'Genre', as column 'genre'"):
        load_generic(inter, items=clash)


# -- B8: invisible characters in ids --------------------------------------------------------------
def test_invisible_characters_do_not_make_a_second_user_or_item(tmp_path):
    path = write(tmp_path / "interactions.csv", "user_id,item_id\n2,i1\n\ufeff2,i2\n2\u200b,\u2060i1\u200d\n")
    with pytest.raises(InputError, match=r"interactions\.csv:4: duplicate interaction '2' -> 'i1' \(first on line 2\)"):
        load_generic(path)
    kg = load_generic(path, on_duplicate="first")
    assert list(kg.users["id"]) == ["2"]
    assert sorted(kg.items["id"]) == ["i1", "i2"]


def test_the_id_rule_holds_in_items_attributes_triples_rdf_and_recbole(tmp_path, inter):
    items = write(tmp_path / "items.csv", "item_id,genre\n\ufeffi1,Drama|\u200bDrama\u200b\ni2,Cafe\u0301\n")
    triples = write(tmp_path / "triples.csv", "head,relation,tail\ni1\u200b,director,\ufeffBob\ni2,director,Bob\n")
    kg = load_generic(inter, items=items, triples=triples)
    assert sorted(kg.items["id"]) == ["i1", "i2"]
    assert sorted(kg.nodes["Genre"]["id"]) == ["Café", "Drama"]  # NFC: C-a-f-e + U+0301 is 'Café'
    assert list(kg.nodes["Entity"]["id"]) == ["Bob"]
    nt = write(tmp_path / "kg.nt", "<http://a/x\u200b> <http://a/p> <http://a/y> .\n<http://a/x> <http://a/p> <http://a/y> .\n")
    assert list(load_generic(inter, triples=nt).nodes["Entity"]["id"]) == ["http://a/x", "http://a/y"]
    folder = tmp_path / "rb"
    folder.mkdir()
    write(folder / "rb.inter", "user_id:token\titem_id:token\n1\t10\n\ufeff1\t11\n")
    assert list(load_recbole(folder).users["id"]) == ["1"]


@pytest.mark.parametrize(("text", "line"), [("user_id,item_id\nu1,i1\n\ufeff\u200b,i2\n", 3),
                                             ("user_id,item_id\n \u2060 ,i2\n", 2)])
def test_an_id_empty_once_clean_names_file_and_line(tmp_path, text, line):
    path = write(tmp_path / "interactions.csv", text)
    with pytest.raises(InputError, match=rf"interactions\.csv:{line}: empty user_id \(.* holds only blanks and "
                                         r"invisible characters"):
        load_generic(path)


# -- B9: files that are not regular files, huge fields and cells ---------------------------------
def _within(seconds: float, call):
    """Run ``call`` in a thread; fail (rather than hang the run) if it takes longer than ``seconds``."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as e:  # handed to the test thread
            outcome["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds}s (it would hang)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def test_a_fifo_is_refused_at_once(tmp_path, inter):
    fifo = tmp_path / "interactions.csv"
    fifo.unlink()
    os.mkfifo(fifo)
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"interactions\.csv: is a FIFO \(named pipe\), only regular files are read"):
        _within(10, lambda: load_generic(fifo))
    assert time.perf_counter() - start < 5
    with pytest.raises(InputError, match=r"interactions\.csv: is a FIFO"):
        _within(10, lambda: load_dataset(tmp_path))  # found in the folder, refused by name
    fifo.unlink()
    write(fifo, "user_id,item_id\nu1,i1\n")
    os.mkfifo(tmp_path / "items.csv")
    with pytest.raises(InputError, match=r"items\.csv: is a FIFO"):
        _within(10, lambda: load_dataset(tmp_path))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_and_a_link_to_it_are_refused_before_reading(tmp_path, inter):
    with pytest.raises(InputError, match=r"/dev/zero: is a character device, only regular files are read"):
        _within(10, lambda: load_generic("/dev/zero"))
    link = tmp_path / "triples.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(InputError, match=r"triples\.csv: is a character device"):
        _within(10, lambda: load_generic(inter, triples=link))
    with pytest.raises(InputError, match=r"is a directory, expected a file"):
        load_generic(tmp_path)


def test_a_field_over_the_limit_names_line_and_column(tmp_path, inter):
    items = write(tmp_path / "items.csv", "item_id,genre\ni1,a\ni2," + "x" * (MAX_FIELD_LENGTH + 1) + "\n")
    with pytest.raises(InputError, match=rf"items\.csv:3: genre is {MAX_FIELD_LENGTH + 1} characters long; at most "
                                         rf"{MAX_FIELD_LENGTH} allowed in one field \(column 'genre'"):
        load_generic(inter, items=items)


def test_a_cell_with_too_many_values_names_line_and_column(tmp_path, inter):
    ok = "|".join(f"g{k}" for k in range(MAX_CELL_VALUES))
    items = write(tmp_path / "items.csv", f"item_id,genre\ni1,{ok}\ni2,a\n")
    assert load_generic(inter, items=items).num_nodes("Genre") == MAX_CELL_VALUES + 1  # g0..g999 and a
    items = write(tmp_path / "items.csv", f"item_id,genre\ni1,a\ni2,{ok}|one-more\n")
    with pytest.raises(InputError, match=rf"items\.csv:3: column 'genre': a cell holds {MAX_CELL_VALUES + 1:,} values "
                                         rf"separated by '\|'; at most {MAX_CELL_VALUES:,} allowed"):
        load_generic(inter, items=items)
    folder = tmp_path / "rb"
    folder.mkdir()
    write(folder / "rb.inter", "user_id:token\titem_id:token\n1\t10\n")
    write(folder / "rb.item", "item_id:token\tclass:token_seq\n10\t" + " ".join(["c"] * (MAX_CELL_VALUES + 1)) + "\n")
    with pytest.raises(InputError, match=r"rb\.item:2: column 'class': a cell holds 1,001 values"):
        load_recbole(folder)


# -- B11: errors that named no file, line or value -------------------------------------------------
def test_a_nul_in_an_attribute_value_names_file_line_and_value(tmp_path, inter):
    items = write(tmp_path / "items.csv", "item_id,genre\ni1,Drama\ni2,a\x00b|Comedy\n")
    with pytest.raises(InputError, match=r"items\.csv:3: column 'genre' value 'a\\x00b' contains a NUL character"):
        load_generic(inter, items=items)


def test_the_meta_label_is_reserved_with_file_and_line(tmp_path, inter):
    triples = write(tmp_path / "triples.csv", "head,relation,tail,tail_label\ni1,r,x,Thing\ni2,r,y,KgrecMeta\n")
    with pytest.raises(InputError, match=r"triples\.csv:3: tail_label 'KgrecMeta': label 'KgrecMeta' is reserved"):
        load_generic(inter, triples=triples)
    with pytest.raises(SchemaError, match="reserved"):
        check_label("KgrecMeta")
    with pytest.raises(SchemaError, match="reserved"):
        load_generic(inter, item_label="KgrecMeta")


@pytest.mark.parametrize(("relation", "target", "what"), [("interacted", "Item", "the interactions"),
                                                          ("INTERACTED", "Item", "the interactions"),
                                                          ("has genre", "Genre", "the items column 'genre'")])
def test_a_triple_relation_that_would_merge_into_another_names_both(tmp_path, inter, relation, target, what):
    items = write(tmp_path / "items.csv", "item_id,genre\ni1,Drama\ni2,Comedy\n")
    head, label = ("u1", "User") if target == "Item" else ("i1", "Item")
    tail = "i2" if target == "Item" else "Drama"
    triples = write(tmp_path / "triples.csv", f"head,relation,tail,head_label,tail_label\n"
                                              f"i1,similar,i2,Item,Item\n{head},{relation},{tail},{label},{target}\n")
    with pytest.raises(InputError, match=rf"triples\.csv:3: relation '{relation}' from {label} to {target} becomes "
                                         rf"{to_relation_name(relation)}, the relation type of {what}"):
        load_generic(inter, items=items, triples=triples)


# -- A6: dataset names and the datasets list ------------------------------------------------------
def test_an_unknown_dataset_name_gets_a_did_you_mean():
    with pytest.raises(DatasetNotFoundError, match=r"unknown dataset 'lastfn'; did you mean 'lastfm'\?"):
        load_dataset("lastfn")
    with pytest.raises(DatasetNotFoundError, match=r"did you mean 'movielens-small'\?.*choices: .*synthetic"):
        load_dataset("movielens_smal")
    with pytest.raises(ConfigError):  # a loader option it does not take is still a ConfigError
        load_dataset("Synthetic", no_such_option=1)


def test_synthetic_is_listed_as_generated_and_file_datasets_are_not():
    infos = {d.name: d for d in list_datasets()}
    assert infos["synthetic"].generated and infos["synthetic"].availability == "generated"
    for name in ("lastfm", "lastfm-kgcn", "movielens-small"):
        assert not infos[name].generated
        assert infos[name].availability in ("local", "download")


def test_a_graph_with_an_unclean_id_does_not_validate():
    import pandas as pd

    from kgrec.kg import KnowledgeGraph, NodeType, RelationType

    schema = Schema((NodeType("User"), NodeType("Item")), (RelationType("User", "INTERACTED", "Item"),))
    kg = KnowledgeGraph(schema, {"User": pd.DataFrame({"id": ["2", "\ufeff2"]}), "Item": pd.DataFrame({"id": ["i"]})},
                        {}, sources={"User": "users.csv"})
    with pytest.raises(InputError, match=r"users\.csv: User id '\\ufeff2' is not in its clean form '2'"):
        kg.validate()


# -- 15.5: how the relations of a loaded graph read ----------------------------------------------
def test_generic_relations_read_from_their_names(tmp_path):
    inter = write(tmp_path / "interactions.csv", "user_id,item_id\nu1,i1\n")
    items = write(tmp_path / "items.csv", "item_id,genre,releaseYear\ni1,Drama,1999\n")
    triples = write(tmp_path / "triples.csv", "head,relation,tail\ni1,directed by,Bob\ni1,film.country,France\n")
    schema = load_generic(inter, items=items, triples=triples).schema
    assert schema.relation(("User", "INTERACTED", "Item")).phrases == (
        "interacted with", "interacted with", "were chosen by", "was chosen by")
    assert schema.relation(("Item", "HAS_GENRE", "Genre")).phrases == (
        "have the genre", "has the genre", "are the genre of", "is the genre of")
    assert schema.relation(("Item", "HAS_RELEASE_YEAR", "ReleaseYear")).phrase("out", you=False) == \
        "has the release year"
    directed = schema.relation(("Item", "DIRECTED_BY", "Entity"))
    assert (directed.phrase("out", you=False), directed.phrase("in", you=False)) == ("is directed by", "directed")
    assert directed.description == "directed by"
    assert schema.relation(("Item", "FILM_COUNTRY", "Entity")).phrase("in", you=True) == "are the film country of"
    rated = load_generic(inter, interaction="rated").schema.relation(("User", "RATED", "Item"))
    assert rated.phrases == ("rated", "rated", "were rated by", "was rated by")


def test_the_dataset_sources_declare_their_phrases():
    from kgrec.kg.sources import lastfm, movielens

    lastfm_relations = {r.name: r for r in lastfm.BASE_RELATIONS}
    assert lastfm_relations["FRIEND_OF"].symmetric
    assert not any(r.symmetric for name, r in lastfm_relations.items() if name != "FRIEND_OF")
    assert all(len(r.phrases) == 4 for r in lastfm_relations.values())
    assert lastfm_relations["TAGGED"].phrase("out", you=True) == "tagged music with"
    assert {n.label: n.quoted for n in lastfm.BASE_NODES} == {"User": False, "Artist": False, "Tag": True}
    schema = movielens.SCHEMA
    assert schema.relation(("User", "RATED", "Movie")).phrase("in", you=False) == "was rated by"
    assert schema.relation(("User", "TAGGED", "Tag")).phrase("out", you=True) == "tagged movies with"
    assert schema.node("Tag").quoted


def test_header_names_and_the_column_mapping_are_cleaned_as_ids_are(tmp_path):
    path = write(tmp_path / "ratings.csv", "\ufeffuserId\u200b, movieId \nA,1\nB,2\n")
    kg = load_generic(path, columns={"user_id": "userId", "item_id": " movieId\u2060"})
    assert sorted(kg.users["id"]) == ["A", "B"] and sorted(kg.items["id"]) == ["1", "2"]
    with pytest.raises(InputError, match=r"columns: 'user_id' is mapped to '\\u200b'; give a header name"):
        load_generic(path, columns={"user_id": "\u200b"})
