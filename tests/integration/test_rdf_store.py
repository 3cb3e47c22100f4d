"""The rdf store on real data: write/read, SPARQL answers equal to pandas, persistence, read-only
SPARQL, hostile ids. (The generic cases run in test_store_contract.py.)"""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.errors import ForbiddenQueryError, InputError, ReadOnlyQueryError, StoreError, StoreUnavailableError, UnknownGraphError
from kgrec.kg.rdf.vocab import Vocabulary
from kgrec.kg.stores.rdf import RdfStore
from tests.unit.test_export_rdf import HOSTILE, make_kg


@pytest.fixture()
def store(tmp_path):
    s = RdfStore(f"rdf:{tmp_path / 'rdf'}").open()
    yield s
    s.close()


@pytest.fixture(scope="module")
def lastfm_store(tmp_path_factory, lastfm_small_kg):
    """lastfm_small written once for the module; tests must leave it as they found it."""
    s = RdfStore(f"rdf:{tmp_path_factory.mktemp('rdf') / 'lastfm'}").open()
    s.write(lastfm_small_kg)
    yield s
    s.close()


def test_write_read_and_rewrite(lastfm_store, lastfm_small_kg):
    store = lastfm_store
    assert store.graphs() == ["lastfm"]
    assert store.read().differences(lastfm_small_kg) == []
    triples = store.triples()
    report = store.write(lastfm_small_kg)  # into the existing graph: upserts
    assert report.num_edges == lastfm_small_kg.num_edges()
    assert store.triples() == triples
    stats, expected = store.stats(), lastfm_small_kg.stats(degrees=False)
    assert (stats.nodes, stats.edges, stats.relations) == (expected.nodes, expected.edges, expected.relations)
    assert store.schema().to_dict() == lastfm_small_kg.schema.to_dict()


def test_sparql_artists_sharing_a_tag_match_pandas(lastfm_store, lastfm_small_kg):
    has_tag = lastfm_small_kg.edges[("Artist", "HAS_TAG", "Tag")]
    artist = has_tag["src"].value_counts().index[0]  # the artist with the most tags
    tags = has_tag.loc[has_tag["src"] == artist, "dst"]
    expected = set(has_tag.loc[has_tag["dst"].isin(tags), "src"]) - {artist}
    res = lastfm_store.sparql(
        "SELECT DISTINCT ?other WHERE { ?a kgrec:id ?artist ; a kgs:Artist ; kgs:HAS_TAG ?t . "
        "?b kgs:HAS_TAG ?t ; kgrec:id ?other . FILTER(?b != ?a) }", params={"artist": artist})
    assert res.columns == ["other"]
    assert {r[0] for r in res.rows} == expected and len(expected) > 10
    # tag popularity: artists per tag, as pandas counts it
    res = lastfm_store.sparql("SELECT ?tag (COUNT(?a) AS ?n) WHERE { ?a kgs:HAS_TAG ?t . ?t kgrec:id ?tag } "
                              "GROUP BY ?tag")
    counts = has_tag.groupby("dst").size()
    assert dict(res.rows) == {k: int(v) for k, v in counts.items()}


def test_sparql_reads_edge_properties(lastfm_store, lastfm_small_kg):
    listened = lastfm_small_kg.edges[("User", "LISTENED_TO", "Artist")]
    res = lastfm_store.sparql("SELECT (SUM(?w) AS ?total) WHERE { ?e rdf:predicate kgs:LISTENED_TO ; kgs:weight ?w }")
    assert res.scalar() == int(listened["weight"].sum())
    satori = sum(int((df["kg"] == "satori").sum()) for df in lastfm_small_kg.edges.values() if "kg" in df)
    assert lastfm_store.sparql('SELECT (COUNT(*) AS ?n) WHERE { ?e kgs:kg "satori" }').scalar() == satori > 0
    ask = lastfm_store.sparql("ASK { ?u a kgs:User ; kgs:FRIEND_OF ?v }")
    assert ask.rows == [(True,)]
    construct = lastfm_store.sparql("CONSTRUCT { ?t rdfs:label ?n } WHERE { ?t a kgs:Tag ; rdfs:label ?n }")
    assert construct.columns == ["subject", "predicate", "object"]
    assert len(construct) == lastfm_small_kg.num_nodes("Tag")


def test_sparql_refuses_updates_and_leaves_the_data(lastfm_store):
    before = lastfm_store.triples()
    for update in ("INSERT DATA { <http://x/a> <http://x/b> <http://x/c> }", "DELETE WHERE { ?s ?p ?o }",
                   "DROP ALL", "CLEAR DEFAULT", "CREATE GRAPH <http://x/g>",
                   "WITH <http://x/g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
                   "PREFIX x: <http://x/> INSERT { ?s x:p 1 } WHERE { ?s ?p ?o }"):
        with pytest.raises(ReadOnlyQueryError):
            lastfm_store.sparql(update)
    # reaching outside the store: refused as forbidden, not only as a write
    with pytest.raises(ForbiddenQueryError, match="LOAD"):
        lastfm_store.sparql("LOAD <http://example.org/x.ttl>")
    with pytest.raises(ForbiddenQueryError, match="SERVICE"):
        lastfm_store.sparql("SELECT * WHERE { SERVICE <http://example.org/sparql> { ?s ?p ?o } }")
    with pytest.raises(StoreError):
        lastfm_store.sparql("SELECT * WHERE { ?s ?p ?o } ; DROP ALL")
    # a parameter cannot break out of its literal
    res = lastfm_store.sparql("SELECT ?s WHERE { ?s kgrec:id ?id }", params={"id": '1" } } ; DROP ALL ; #'})
    assert res.rows == []
    assert lastfm_store.triples() == before
    with pytest.raises(StoreError, match="sparql"):
        lastfm_store.query("MATCH (n) RETURN count(n)")


def test_data_persists_across_close_and_reopen(tmp_path, lastfm_small_kg):
    url = f"rdf:{tmp_path / 'persist'}"
    with RdfStore(url) as store:
        store.write(lastfm_small_kg)
        triples = store.triples()
        with pytest.raises(StoreUnavailableError):
            RdfStore(url).open()  # RocksDB lets one opener at a time
        assert store.dataset().graph(Vocabulary().graph_iri("lastfm")) is not None  # rdflib's view
    with RdfStore(url) as again:
        assert again.graphs() == ["lastfm"]
        assert again.triples() == triples
        assert again.read().equals(lastfm_small_kg)
        n = again.sparql("SELECT (COUNT(?u) AS ?n) WHERE { ?u a kgs:User }").scalar()
        assert n == lastfm_small_kg.num_nodes("User")


def test_hostile_ids_survive_the_store(store):
    kg = make_kg(name="hostile")
    store.write(kg)
    assert store.read().differences(kg) == []
    v = Vocabulary()
    for node_id in HOSTILE:
        res = store.sparql("SELECT ?n WHERE { ?u kgrec:id ?id ; a kgs:User . OPTIONAL { ?u rdfs:label ?n } }",
                           params={"id": node_id})
        assert len(res) == 1, node_id
        iri = store.sparql("SELECT ?u WHERE { ?u kgrec:id ?id }", params={"id": node_id}).scalar()
        assert iri == v.node_iri("User", node_id)
    store.add_interaction(HOSTILE[7], 'i"3', properties={"rating": 4.5, "timestamp": 9})
    rated = store.read().edges[("User", "RATED", "Item")]
    row = rated[(rated["src"] == HOSTILE[7]) & (rated["dst"] == 'i"3')]
    assert row["rating"].tolist() == [4.5] and row["timestamp"].tolist() == [9]
    assert store.delete_nodes("User", [HOSTILE[4]]) == 1
    back = store.read()
    assert HOSTILE[4] not in set(back.users["id"])
    assert HOSTILE[4] not in set(back.edges[("User", "HAS_TAG", "Tag")]["src"])
    assert store.sparql("SELECT (COUNT(*) AS ?n) WHERE { ?e rdf:subject ?s FILTER NOT EXISTS { ?s kgrec:id ?i } }"
                        ).scalar() == 0  # no edge resource left dangling


def test_upserts_replace_only_the_given_columns(store):
    kg = make_kg(name="up")
    store.write(kg)
    store.upsert_nodes("Item", pd.DataFrame({"id": ["i1", "i9"], "year": [2001, 1990]}))
    items = store.read().nodes["Item"].set_index("id")
    assert items.loc["i1", "year"] == 2001 and items.loc["i1", "name"] == "One"  # name untouched
    assert items.loc["i9", "name"] == "i9"  # a new node is named by its id
    store.upsert_edges(("User", "RATED", "Item"), pd.DataFrame({"src": ['u"1'], "dst": ["i1"], "rating": [None]}))
    rated = store.read().edges[("User", "RATED", "Item")].set_index(["src", "dst"])
    assert pd.isna(rated.loc[('u"1', "i1"), "rating"]) and rated.loc[('u"1', "i1"), "timestamp"] == 1
    with pytest.raises(InputError, match="no User node"):
        store.upsert_edges(("User", "RATED", "Item"), pd.DataFrame({"src": ["ghost"], "dst": ["i1"]}))
    assert store.delete_edges(("User", "RATED", "Item"), src=['u"1', "u>2"]) == 2
    assert store.delete_edges(("User", "RATED", "Item")) == 4
    assert store.stats().edges["(User)-[RATED]->(Item)"] == 0
    assert store.sparql("SELECT (COUNT(*) AS ?n) WHERE { ?e rdf:predicate kgs:RATED }").scalar() == 0
    store.drop("up")
    assert store.graphs() == [] and not (store.graphs_dir / "up").exists()
    with pytest.raises(UnknownGraphError):
        store.drop("up")
    store.write(kg.replace(name="up"))  # the name can be used again
    assert store.read(graph="up").equals(kg)


@pytest.mark.slow
def test_full_lastfm_ingest_and_read_back(tmp_path, lastfm_kg):
    with RdfStore(f"rdf:{tmp_path / 'full'}") as store:
        report = store.write(lastfm_kg)
        assert report.num_edges == lastfm_kg.num_edges()
        assert store.read().differences(lastfm_kg) == []
        assert store.sparql('SELECT (COUNT(*) AS ?n) WHERE { ?e kgs:kg "satori" }').scalar() == 15_518
