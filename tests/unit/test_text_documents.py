"""Node documents on hand-made graphs that follow the datasets' conventions (no encoder needed)."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.config import resolve
from kgrec.errors import ConfigError, SchemaError
from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
from kgrec.text.documents import (
    DocumentTemplates,
    display_names,
    node_documents,
    readable_uri,
    relation_phrase,
)


def music_kg() -> KnowledgeGraph:
    """A tiny lastfm-shaped graph: users, artists, tags, an unnamed Satori entity, DBpedia entities."""
    schema = Schema(
        (NodeType("User"), NodeType("Artist"), NodeType("Tag"), NodeType("SatoriEntity"), NodeType("DbpediaEntity")),
        (RelationType("User", "LISTENED_TO", "Artist", {"weight": "integer"}),
         RelationType("User", "FRIEND_OF", "User"),
         RelationType("User", "TAGGED", "Tag", {"count": "integer"}),
         RelationType("Artist", "HAS_TAG", "Tag", {"count": "integer"}),
         RelationType("Artist", "MUSIC_ARTIST_ORIGIN", "SatoriEntity", {"kg": "string"}),
         RelationType("Artist", "DBO_GENRE", "DbpediaEntity", {"kg": "string"}),
         RelationType("Artist", "DBO_ASSOCIATED_BAND", "Artist", {"kg": "string"})),
        user_label="User", item_label="Artist", interaction=("User", "LISTENED_TO", "Artist"))
    nodes = {
        "User": pd.DataFrame({"id": ["2", "3"]}),
        "Artist": pd.DataFrame({"id": ["10", "11", "12"], "name": ["Opeth", "Katatonia", "Britney Spears"]}),
        "Tag": pd.DataFrame({"id": ["1", "2", "3", "4"], "name": ["metal", "progressive metal", "pop", "doom"]}),
        "SatoriEntity": pd.DataFrame({"id": ["satori:3846", "satori:9"]}),
        "DbpediaEntity": pd.DataFrame({"id": ["http://dbpedia.org/resource/Progressive_metal",
                                              "http://dbpedia.org/resource/Dance-pop"],
                                       "name": ["Progressive metal", None]}),
    }
    edges = {
        ("User", "LISTENED_TO", "Artist"): pd.DataFrame({"src": ["2", "2", "3"], "dst": ["10", "11", "12"],
                                                         "weight": [50, 900, 10]}),
        ("User", "FRIEND_OF", "User"): pd.DataFrame({"src": ["2"], "dst": ["3"]}),
        ("User", "TAGGED", "Tag"): pd.DataFrame({"src": ["2", "2"], "dst": ["1", "4"], "count": [1, 7]}),
        ("Artist", "HAS_TAG", "Tag"): pd.DataFrame({"src": ["10", "10", "10", "11", "12"],
                                                    "dst": ["1", "2", "4", "4", "3"], "count": [5, 9, 1, 3, 8]}),
        ("Artist", "MUSIC_ARTIST_ORIGIN", "SatoriEntity"): pd.DataFrame({"src": ["10", "11"],
                                                                         "dst": ["satori:3846", "satori:3846"],
                                                                         "kg": "satori"}),
        ("Artist", "DBO_GENRE", "DbpediaEntity"): pd.DataFrame({
            "src": ["10", "11", "12"],
            "dst": ["http://dbpedia.org/resource/Progressive_metal", "http://dbpedia.org/resource/Progressive_metal",
                    "http://dbpedia.org/resource/Dance-pop"], "kg": "dbpedia"}),
        ("Artist", "DBO_ASSOCIATED_BAND", "Artist"): pd.DataFrame({"src": ["11"], "dst": ["10"], "kg": "dbpedia"}),
    }
    return KnowledgeGraph(schema, nodes, edges, name="music").validate()


def by_id(kg: KnowledgeGraph, docs: dict[str, list[str]], label: str) -> dict[str, str]:
    return dict(zip(kg.nodes[label]["id"], docs[label]))


def test_every_node_gets_a_document_aligned_with_its_rows():
    kg = music_kg()
    docs = node_documents(kg)
    assert set(docs) == set(kg.nodes)
    for label, texts in docs.items():
        assert len(texts) == kg.num_nodes(label)
        assert all(isinstance(t, str) and t for t in texts)


def test_item_document_has_name_tags_by_count_and_readable_kg_facts():
    kg = music_kg()
    artist = by_id(kg, node_documents(kg), "Artist")
    opeth = artist["10"]
    assert opeth.startswith("artist: Opeth.")
    # tags by count, most used first: progressive metal (9), metal (5), doom (1)
    assert "tags: progressive metal, metal, doom." in opeth
    assert "genre: Progressive metal." in opeth
    assert "associated band of: Katatonia." in opeth
    assert "satori" not in opeth  # an unnamed entity is never named by its id
    assert "associated band: Opeth." in artist["11"]


def test_user_document_has_tags_by_count_then_items_by_weight():
    kg = music_kg()
    user = by_id(kg, node_documents(kg), "User")["2"]
    assert user == "user. tagged: doom, metal. listened to: Katatonia, Opeth."


def test_entity_documents_name_and_type_and_unnamed_entities_by_their_links():
    kg = music_kg()
    docs = node_documents(kg)
    dbp = by_id(kg, docs, "DbpediaEntity")
    assert dbp["http://dbpedia.org/resource/Progressive_metal"] == "genre: Progressive metal."
    # no name given: the readable form of the URI
    assert dbp["http://dbpedia.org/resource/Dance-pop"] == "genre: Dance-pop."
    satori = by_id(kg, docs, "SatoriEntity")
    assert satori["satori:3846"].startswith("entity: music artist origin of ")
    assert set(satori["satori:3846"].removeprefix("entity: music artist origin of ").rstrip(".").split(", ")) == {
        "Opeth", "Katatonia"}
    assert satori["satori:9"] == "entity: no relations."
    assert by_id(kg, docs, "Tag")["2"] == "tag: progressive metal."


def test_documents_do_not_depend_on_row_order():
    kg = music_kg()
    shuffled = kg.replace(nodes={k: v.iloc[::-1].reset_index(drop=True) for k, v in kg.nodes.items()},
                          edges={k: v.iloc[::-1].reset_index(drop=True) for k, v in kg.edges.items()})
    a, b = node_documents(kg), node_documents(shuffled)
    for label in kg.nodes:
        assert by_id(kg, a, label) == by_id(shuffled, b, label)


def test_templates_truncate_and_can_drop_the_type_prefix():
    kg = music_kg()
    t = DocumentTemplates(max_tags=1, max_items=1, type_prefix=False)
    docs = node_documents(kg, templates=t)
    opeth = by_id(kg, docs, "Artist")["10"]
    assert opeth.startswith("Opeth. tags: progressive metal.")
    assert by_id(kg, docs, "User")["2"] == "tagged: doom. listened to: Katatonia."
    short = node_documents(kg, templates=DocumentTemplates(max_chars=30))
    assert all(len(d) <= 32 for texts in short.values() for d in texts)
    assert by_id(kg, short, "Artist")["10"].endswith("…")


def test_templates_are_a_config_section_that_refuses_unknown_keys():
    t = resolve(DocumentTemplates, overrides=["max_tags=3", "relation_phrases={DBO_GENRE: style}"])
    assert t.max_tags == 3
    docs = node_documents(music_kg(), templates=t)
    assert "style: Progressive metal." in docs["Artist"][0]
    with pytest.raises(ConfigError, match="max_tag"):
        resolve(DocumentTemplates, overrides=["max_tag=3"])


def test_movie_documents_have_year_genres_and_description():
    schema = Schema((NodeType("User"), NodeType("Movie", {"year": "integer"}), NodeType("Genre")),
                    (RelationType("User", "RATED", "Movie", {"rating": "float", "timestamp": "integer"}),
                     RelationType("Movie", "HAS_GENRE", "Genre")),
                    user_label="User", item_label="Movie", interaction=("User", "RATED", "Movie"))
    kg = KnowledgeGraph(schema, {
        "User": pd.DataFrame({"id": ["1"]}),
        "Movie": pd.DataFrame({"id": ["1", "2"], "name": ["Toy Story (1995)", "Heat"], "year": [1995, 1995],
                               "text": [None, "A thief and a cop." + " x" * 400]}),
        "Genre": pd.DataFrame({"id": ["Animation", "Crime"]}),
    }, {
        ("User", "RATED", "Movie"): pd.DataFrame({"src": ["1", "1"], "dst": ["1", "2"], "rating": [3.0, 5.0],
                                                  "timestamp": [2, 1]}),
        ("Movie", "HAS_GENRE", "Genre"): pd.DataFrame({"src": ["1", "2"], "dst": ["Animation", "Crime"]}),
    }).validate()
    docs = node_documents(kg)
    assert docs["Movie"][0] == "movie: Toy Story (1995). genres: Animation."  # the year is not repeated
    assert docs["Movie"][1].startswith("movie: Heat (1995). genres: Crime. A thief and a cop.")
    assert len(docs["Movie"][1]) < 400  # the description is cut at max_text_chars
    assert docs["User"][0] == "user. rated: Heat, Toy Story (1995)."  # by rating, not by time
    assert docs["Genre"] == ["genre: Animation.", "genre: Crime."]


def test_unknown_label_is_refused():
    with pytest.raises(SchemaError, match="Nope"):
        node_documents(music_kg(), labels=["Nope"])


def test_names_and_phrases():
    assert readable_uri("http://dbpedia.org/resource/Pop_(music)") == "Pop (music)"
    assert readable_uri("http://dbpedia.org/resource/Mot%C3%B6rhead") == "Motörhead"
    kg = music_kg()
    assert display_names(kg, "User").isna().all()  # opaque numeric ids are no names
    assert display_names(kg, "SatoriEntity").isna().all()
    assert relation_phrase(RelationType("Artist", "HAS_TAG", "Tag")) == "tags"
    assert relation_phrase(RelationType("Movie", "HAS_GENRE", "Genre")) == "genres"
    assert relation_phrase(RelationType("Artist", "DBO_ASSOCIATED_BAND", "Artist")) == "associated band"
    dotted = RelationType("Artist", "PEOPLE_PERSON_PLACE_OF_BIRTH", "SatoriEntity",
                          description="people.person.place_of_birth")
    assert relation_phrase(dotted) == "place of birth"
