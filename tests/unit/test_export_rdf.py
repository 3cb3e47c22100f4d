"""RDF export/import on small hand-made graphs: lossless round trips, hostile ids, the vocabulary,
pseudonymisation, GraphML, and the errors import gives on files kgrec did not write."""

from __future__ import annotations

import hashlib
import hmac
import math

import networkx as nx
import pandas as pd
import pytest
import rdflib

from kgrec.errors import ConfigError, InputError
from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
from kgrec.kg.export import ExportReport, export_graph, import_rdf, to_rdflib
from kgrec.kg.pseudonym import pseudonymize
from kgrec.kg.rdf.vocab import DEFAULT_BASE_IRI, RDF_TYPE, Vocabulary, quote_id

HOSTILE = [
    'u"1', "u>2", "u 3", "ünï©ødé 🎵", "x'}) DETACH DELETE n //", "a/b\\c", "tab\there", "nl\nline",
    "<script>", "%41", "~.-_", ".", "}{; DROP ALL", "\u0001ctrl\u007f",
]
RDF_FORMATS = ["nt", "ttl", "jsonld"]
RDFLIB_NAMES = {"nt": "nt", "ttl": "turtle", "jsonld": "json-ld"}


def make_kg(name: str = "small test") -> KnowledgeGraph:
    schema = Schema(
        (NodeType("User", {"age": "integer", "vip": "boolean"}),
         NodeType("Item", {"year": "integer", "score": "float", "url": "string", "unused": "string"}),
         NodeType("Tag")),
        (RelationType("User", "RATED", "Item", {"rating": "float", "timestamp": "integer"}),
         RelationType("User", "FRIEND_OF", "User"),
         RelationType("Item", "HAS_TAG", "Tag", {"count": "integer", "kg": "string"}),
         RelationType("User", "HAS_TAG", "Tag")),
        user_label="User", item_label="Item", interaction=("User", "RATED", "Item"))
    n = len(HOSTILE)
    users = pd.DataFrame({
        "id": HOSTILE,
        "name": [*HOSTILE[:2], None, *HOSTILE[3:]],
        "text": [None, 'says "hi"\r\nbye', "", "é" * 3, None, "back\\slash", *[None] * (n - 6)],
        "age": pd.array([20, None, 30, 40, None, 1, 2, 3, 4, 5, 6, 7, 8, 9], dtype="Int64"),
        "vip": pd.array([True, False, None, True, True, False, False, True, None, True, False, True, True, False],
                        dtype="boolean"),
    })
    items = pd.DataFrame({"id": ["i1", "i 2", 'i"3'], "name": ["One", "Two \u2028 sep", "Three"],
                          "year": pd.array([1999, None, 2020], dtype="Int64"),
                          "score": [0.1, 1e-300, float("inf")], "url": ["http://x/a b", None, '"q"']})
    tags = pd.DataFrame({"id": ["t1", "t2"], "name": ["rock", "jazz"]})
    rated = pd.DataFrame({"src": HOSTILE[:6], "dst": ["i1", "i 2", 'i"3', "i1", "i 2", 'i"3'],
                          "rating": [1.5, 2.0, None, 0.1 + 0.2, 5.0, -3.25],
                          "timestamp": pd.array([1, None, None, 4, 2**62, 6], dtype="Int64")})
    friends = pd.DataFrame({"src": HOSTILE[:3], "dst": HOSTILE[3:6]})
    has_tag = pd.DataFrame({"src": ["i1", "i 2"], "dst": ["t1", "t1"], "count": pd.array([3, None], dtype="Int64"),
                            "kg": ["satori", None]})
    user_tag = pd.DataFrame({"src": [HOSTILE[4], HOSTILE[13]], "dst": ["t2", "t1"]})
    return KnowledgeGraph(schema, {"User": users, "Item": items, "Tag": tags},
                          {("User", "RATED", "Item"): rated, ("User", "FRIEND_OF", "User"): friends,
                           ("Item", "HAS_TAG", "Tag"): has_tag, ("User", "HAS_TAG", "Tag"): user_tag},
                          name=name, metadata={"dataset": "hand-made", "nested": {"k": [1, 2]}}).validate()


@pytest.fixture()
def kg() -> KnowledgeGraph:
    return make_kg()


# -- round trips ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", RDF_FORMATS)
def test_round_trip_is_lossless(kg, tmp_path, fmt):
    report = export_graph(kg, tmp_path / f"g.{fmt}", format=fmt)
    assert isinstance(report, ExportReport)
    assert report.format == fmt and report.triples > 0 and report.bytes == (tmp_path / f"g.{fmt}").stat().st_size
    back = import_rdf(report.path)
    assert back.differences(kg) == []
    assert back.name == kg.name and back.metadata == kg.metadata
    assert back.schema.to_dict() == kg.schema.to_dict()
    # columns are kept as they were: a declared column absent from the table stays absent
    assert "unused" not in back.nodes["Item"].columns
    assert set(back.nodes["User"]["id"]) == set(HOSTILE)


@pytest.mark.parametrize("fmt", RDF_FORMATS)
def test_rdflib_reads_every_format_and_import_takes_its_graph(kg, tmp_path, fmt):
    report = export_graph(kg, tmp_path / f"g.{fmt}", format=fmt)
    g = rdflib.Graph().parse(report.path, format=RDFLIB_NAMES[fmt])
    assert len(g) == report.triples
    assert import_rdf(g).differences(kg) == []


def test_values_keep_their_exact_types(kg, tmp_path):
    back = import_rdf(export_graph(kg, tmp_path / "g.nt", format="nt").path)
    rated = back.edges[("User", "RATED", "Item")].set_index("src")
    assert rated.loc[HOSTILE[3], "rating"] == 0.1 + 0.2  # shortest repr round-trips exactly
    assert rated.loc[HOSTILE[4], "timestamp"] == 2**62
    assert pd.isna(rated.loc[HOSTILE[2], "rating"])
    items = back.nodes["Item"].set_index("id")
    assert items.loc["i1", "score"] == 0.1 and items.loc["i 2", "score"] == 1e-300
    assert math.isinf(items.loc['i"3', "score"])
    users = back.nodes["User"].set_index("id")
    assert users.loc["u>2", "text"] == 'says "hi"\r\nbye'
    assert users.loc["u 3", "text"] == "" and pd.isna(users.loc["u 3", "name"])
    assert str(back.nodes["User"]["vip"].dtype) == "boolean" and str(back.nodes["User"]["age"].dtype) == "Int64"


def test_to_rdflib_gives_the_same_triples_as_the_file(kg, tmp_path):
    g = to_rdflib(kg)
    report = export_graph(kg, tmp_path / "g.nt", format="nt")
    assert len(g) == report.triples
    v = Vocabulary()
    rows = list(g.query("SELECT ?id WHERE { ?u a ?c ; kgrec:id ?id }", initBindings={"c": rdflib.URIRef(v.class_iri("User"))}))
    assert {str(r[0]) for r in rows} == set(HOSTILE)
    assert import_rdf(g).equals(kg)


# -- vocabulary ----------------------------------------------------------------------------------
def test_node_iris_are_plain_ascii_and_quote_every_reserved_character(kg):
    v = Vocabulary()
    for node_id in HOSTILE:
        iri = v.node_iri("User", node_id)
        assert iri.startswith(DEFAULT_BASE_IRI + "node/User/")
        tail = iri[len(v.node_prefix("User")):]
        assert tail.isascii() and not set(tail) & set(' <>"{}|\\^`/\n\t\'')
    assert v.node_iri("User", "a/b") != v.node_iri("User", "a%2Fb")  # quoting is injective
    assert quote_id("x'}) DETACH DELETE n //") == "x%27%7D%29%20DETACH%20DELETE%20n%20%2F%2F"
    assert v.class_iri("User") == DEFAULT_BASE_IRI + "schema/User"
    assert v.relation_iri("HAS_TAG") == DEFAULT_BASE_IRI + "schema/HAS_TAG"
    assert v.property_iri("weight") == DEFAULT_BASE_IRI + "schema/weight"
    assert v.term("text") == DEFAULT_BASE_IRI + "vocab#text"
    assert v.graph_iri("lastfm") == DEFAULT_BASE_IRI + "graph/lastfm"


def test_vocabulary_checks_names_and_base(kg):
    v = Vocabulary()
    with pytest.raises(InputError):
        v.class_iri("not a label")
    with pytest.raises(InputError):
        v.relation_iri("x> <y")
    with pytest.raises(KeyError):
        v.term("nope")
    for bad in ("kgrec.dev/", "https://kgrec.dev", "https://kgrec.dev/#", "https://kg rec.dev/", 'https://x/">/'):
        with pytest.raises(ConfigError):
            Vocabulary(bad)


def test_file_holds_the_documented_triples(kg, tmp_path):
    path = export_graph(kg, tmp_path / "g.nt", format="nt").path
    g = rdflib.Graph().parse(path, format="nt")
    v = Vocabulary()
    u = rdflib.URIRef(v.node_iri("User", HOSTILE[4]))
    assert (u, rdflib.URIRef(RDF_TYPE), rdflib.URIRef(v.class_iri("User"))) in g
    assert str(g.value(u, rdflib.URIRef(v.term("id")))) == HOSTILE[4]
    assert str(g.value(u, rdflib.RDFS.label)) == HOSTILE[4]
    # the edge itself is a plain triple; its properties sit on a reified edge resource
    s, o = rdflib.URIRef(v.node_iri("User", 'u"1')), rdflib.URIRef(v.node_iri("Item", "i1"))
    assert (s, rdflib.URIRef(v.relation_iri("RATED")), o) in g
    e = rdflib.URIRef(v.edge_iri("User", "RATED", "Item", 'u"1', "i1"))
    assert g.value(e, rdflib.RDF.subject) == s and g.value(e, rdflib.RDF.object) == o
    assert g.value(e, rdflib.RDF.predicate) == rdflib.URIRef(v.relation_iri("RATED"))
    rating = g.value(e, rdflib.URIRef(v.property_iri("rating")))
    assert rating.datatype == rdflib.XSD.double and rating.toPython() == 1.5
    assert g.value(e, rdflib.URIRef(v.property_iri("timestamp"))).datatype == rdflib.XSD.integer
    # an edge without properties has no edge resource
    assert (None, rdflib.RDF.subject, rdflib.URIRef(v.node_iri("User", HOSTILE[13]))) not in g
    # the schema as RDFS-ish triples next to the exact JSON
    assert (rdflib.URIRef(v.class_iri("Item")), rdflib.RDF.type, rdflib.RDFS.Class) in g
    rt = rdflib.URIRef(v.relation_type_iri("User", "RATED", "Item"))
    assert g.value(rt, rdflib.URIRef(v.term("source"))) == rdflib.URIRef(v.class_iri("User"))
    graph_res = rdflib.URIRef(v.graph_iri(kg.name))
    assert g.value(graph_res, rdflib.URIRef(v.term("interaction"))) == rt


def test_custom_base_iri_is_found_on_import(kg, tmp_path):
    base = "http://example.org/my-kg/"
    path = export_graph(kg, tmp_path / "g.ttl", base_iri=base).path
    text = path.read_text(encoding="utf-8")
    assert "kgrec.dev" not in text and base in text
    assert import_rdf(path).equals(kg)
    assert import_rdf(path, base_iri=base).equals(kg)
    with pytest.raises(InputError, match="no kgrec graph"):
        import_rdf(path, base_iri=DEFAULT_BASE_IRI)


# -- pseudonymisation -----------------------------------------------------------------------------
def test_pseudonymized_export_hides_every_user_id(tmp_path):
    schema = Schema((NodeType("User"), NodeType("Item")), (RelationType("User", "RATED", "Item", {"rating": "float"}),
                                                          RelationType("User", "FRIEND_OF", "User")),
                    user_label="User", item_label="Item", interaction=("User", "RATED", "Item"))
    users = ["alice-secret", "bob-secret", "carol-secret"]
    kg = KnowledgeGraph(schema, {"User": pd.DataFrame({"id": users, "name": ["Alice A", "Bob B", "Carol C"]}),
                                 "Item": pd.DataFrame({"id": ["item-1", "item-2"]})},
                        {("User", "RATED", "Item"): pd.DataFrame({"src": users[:2], "dst": ["item-1", "item-2"],
                                                                 "rating": [4.0, 2.0]}),
                         ("User", "FRIEND_OF", "User"): pd.DataFrame({"src": [users[0]], "dst": [users[2]]})},
                        name="p")
    key = b"k" * 32
    for fmt in ("nt", "ttl", "jsonld", "graphml"):
        path = export_graph(kg, tmp_path / f"p.{fmt}", format=fmt, pseudonymize_key=key).path
        text = path.read_text(encoding="utf-8")
        for secret in ("alice", "bob", "carol", "Alice A"):
            assert secret not in text, (fmt, secret)
        assert "item-1" in text
        assert hmac.new(key, b"alice-secret", hashlib.sha256).hexdigest() in text
    back = import_rdf(tmp_path / "p.nt")
    assert back.metadata["pseudonymized"] is True
    expected = {hmac.new(key, u.encode(), hashlib.sha256).hexdigest() for u in users}
    assert set(back.users["id"]) == expected
    assert back.num_edges() == kg.num_edges()
    # the same key gives the same pseudonyms; another key other ones
    assert set(pseudonymize(kg, key).users["id"]) == expected
    assert not set(pseudonymize(kg, b"other key").users["id"]) & expected
    with pytest.raises(ConfigError):
        pseudonymize(kg, b"")


# -- GraphML ---------------------------------------------------------------------------------------
def test_graphml_is_readable_by_networkx(kg, tmp_path):
    report = export_graph(kg, tmp_path / "g.graphml", format="graphml")
    assert report.triples is None
    g = nx.read_graphml(report.path)
    assert g.number_of_nodes() == kg.num_nodes() and g.number_of_edges() == kg.num_edges()
    node = g.nodes["User:" + HOSTILE[4]]
    assert node["label"] == "User" and node["id"] == HOSTILE[4] and "age" not in node  # missing stays missing
    assert g.nodes["User:" + HOSTILE[5]]["age"] == 1 and g.nodes["Item:i 2"]["score"] == 1e-300
    assert "\ufffd" in g.nodes["User:" + HOSTILE[13].replace("\u0001", "\ufffd")]["id"]  # XML 1.0 cannot carry \x01


# -- errors ------------------------------------------------------------------------------------------
def test_format_names_are_checked(kg, tmp_path):
    assert export_graph(kg, tmp_path / "a.x", format="Turtle").format == "ttl"
    assert export_graph(kg, tmp_path / "b.x", format="N-Triples").format == "nt"
    assert export_graph(kg, tmp_path / "c.x", format="json-ld").format == "jsonld"
    with pytest.raises(ConfigError, match=r"unknown export format 'rdfxml'; choices: ttl \(turtle\), nt .*graphml"):
        export_graph(kg, tmp_path / "d.x", format="rdfxml")
    with pytest.raises(ConfigError, match="did you mean 'jsonld'"):
        export_graph(kg, tmp_path / "d.x", format="jsonl")
    with pytest.raises(InputError, match="suffix"):
        import_rdf(tmp_path / "a.x")
    assert import_rdf(tmp_path / "a.x", format="turtle").equals(kg)


def test_invalid_graph_is_refused_before_writing(kg, tmp_path):
    bad = kg.replace(edges={("User", "FRIEND_OF", "User"): pd.DataFrame({"src": ["nobody"], "dst": ["u 3"]})})
    with pytest.raises(InputError, match="nobody"):
        export_graph(bad, tmp_path / "bad.nt", format="nt")
    assert not (tmp_path / "bad.nt").exists()


def test_import_refuses_files_kgrec_did_not_write(tmp_path):
    (tmp_path / "other.ttl").write_text("<http://x/a> <http://x/b> <http://x/c> .\n", encoding="utf-8")
    with pytest.raises(InputError, match="no kgrec graph"):
        import_rdf(tmp_path / "other.ttl")
    (tmp_path / "broken.ttl").write_text("<http://x/a> <http://x/b> .\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.ttl.*not valid ttl"):
        import_rdf(tmp_path / "broken.ttl")
    with pytest.raises(InputError, match="no such file"):
        import_rdf(tmp_path / "missing.nt")
    with pytest.raises(ConfigError):
        import_rdf(42)


def test_import_refuses_a_damaged_graph(kg, tmp_path):
    path = export_graph(kg, tmp_path / "g.nt", format="nt").path
    v = Vocabulary()
    lines = path.read_text(encoding="utf-8").splitlines()
    # an edge whose target node is gone
    target = f"<{v.node_iri('Tag', 't2')}>"
    kept = [ln for ln in lines if not ln.startswith(target)]
    (tmp_path / "dangling.nt").write_text("\n".join(kept) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a node of the graph"):
        import_rdf(tmp_path / "dangling.nt")
