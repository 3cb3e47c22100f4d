"""kgrec's RecBole writer (:func:`kgrec.kg.sources.recbole.write_recbole`), beside its reader:
kgrec's split of MovieLens exported as RecBole atomic files, and a graph written then read back by
:func:`load_recbole` (RecBole itself never runs here)."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.errors import InputError
from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
from kgrec.kg.sources import load_recbole
from kgrec.kg.sources.recbole import NO_KG_RELATION, RecboleExport, kg_edge_types, write_recbole


@pytest.fixture(scope="module")
def split(movielens_kg):
    from kgrec.gnn import TrainConfig, split_interactions

    cfg = TrainConfig(split="random", split_seed=0)
    return split_interactions(movielens_kg, cfg.split, seed=cfg.effective_split_seed, valid=cfg.valid_fraction,
                              test=cfg.test_fraction)


@pytest.fixture(scope="module")
def exported(movielens_kg, split, tmp_path_factory) -> RecboleExport:
    parts = {p: split.positives(p) for p in ("train", "valid", "test")}
    return write_recbole(movielens_kg, tmp_path_factory.mktemp("recbole"), name="kgrec-ml", parts=parts)


def _read(report: RecboleExport, suffix: str) -> pd.DataFrame:
    return pd.read_csv(report.folder / f"{report.name}.{suffix}", sep="\t", dtype=str, keep_default_na=False)


def _pairs(df: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(df["user_id:token"], df["item_id:token"]))


def test_interaction_files_are_the_split_exactly(movielens_kg, split, exported):
    users = movielens_kg.nodes["User"]["id"].astype(str).to_numpy()
    items = movielens_kg.nodes["Movie"]["id"].astype(str).to_numpy()
    parts = {}
    for part in ("train", "valid", "test"):
        df = _read(exported, f"{part}.inter")
        assert list(df.columns) == ["user_id:token", "item_id:token"]
        pairs = split.positives(part)
        assert len(df) == pairs.shape[1] == exported.rows[part]
        assert _pairs(df) == set(zip(users[pairs[0]], items[pairs[1]]))
        parts[part] = _pairs(df)
    assert not parts["test"] & (parts["train"] | parts["valid"]), "a test pair leaked into train/valid"
    assert not parts["valid"] & parts["train"]
    every = _read(exported, "inter")
    assert len(every) == len(movielens_kg.edges[("User", "RATED", "Movie")]) == sum(map(len, parts.values()))
    assert _pairs(every) == parts["train"] | parts["valid"] | parts["test"]


def test_kg_and_link_keep_every_interaction(movielens_kg, exported):
    kg = _read(exported, "kg")
    link = _read(exported, "link")
    assert list(kg.columns) == ["head_id:token", "relation_id:token", "tail_id:token"]
    assert list(link.columns) == ["item_id:token", "entity_id:token"]
    assert set(kg["relation_id:token"]) == {"HAS_GENRE", "HAS_TAG", NO_KG_RELATION}  # no user-side TAGGED, no RATED
    assert kg_edge_types(movielens_kg) == [("Movie", "HAS_GENRE", "Genre"), ("Movie", "HAS_TAG", "Tag")]
    assert not kg["head_id:token"].str.startswith("User:").any()
    assert not kg.duplicated().any()
    real = kg[kg["relation_id:token"] != NO_KG_RELATION]
    n_genre = len(movielens_kg.edges[("Movie", "HAS_GENRE", "Genre")])
    n_tag = len(movielens_kg.edges[("Movie", "HAS_TAG", "Tag")])
    assert len(real) == exported.triples == n_genre + n_tag
    # RecBole drops interactions whose item's entity is in no triple: every interacted item is linked
    interacted = set(_read(exported, "inter")["item_id:token"])
    assert set(link["item_id:token"]) == interacted and link["item_id:token"].is_unique
    entities = set(kg["head_id:token"]) | set(kg["tail_id:token"])
    assert set(link["entity_id:token"]) <= entities
    loops = kg[kg["relation_id:token"] == NO_KG_RELATION]
    assert (loops["head_id:token"] == loops["tail_id:token"]).all() and len(loops) == exported.self_loops
    names = pd.read_csv(exported.folder / "entities.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert set(names["entity"]) == entities
    movie = names[names["entity"] == link["entity_id:token"].iat[0]]
    assert movie["id"].iat[0] == link["item_id:token"].iat[0]


def test_what_the_writer_writes_the_reader_reads_back(movielens_kg, tmp_path):
    report = write_recbole(movielens_kg, tmp_path, name="ml-back")  # no parts: every interaction
    assert report.rows["inter"] == movielens_kg.num_edges(movielens_kg.schema.interaction)
    back = load_recbole(report.folder)
    assert back.name == "ml-back" and back.metadata["format"] == "recbole"
    want = set(zip(movielens_kg.interactions["src"], movielens_kg.interactions["dst"]))
    assert set(zip(back.interactions["src"], back.interactions["dst"])) == want
    # every .kg fact comes back as an edge: linked entities are the items, the others Entity nodes
    facts = sum(len(df) for et, df in back.edges.items() if et[1] in ("HAS_GENRE", "HAS_TAG"))
    assert facts == report.triples
    genre = back.edges[("Item", "HAS_GENRE", "Entity")]
    assert set(genre["src"]) <= set(back.items["id"]) and genre["dst"].str.startswith("Genre:").all()


def test_ids_that_cannot_be_recbole_tokens_are_refused(tmp_path):
    schema = Schema((NodeType("User"), NodeType("Item")), (RelationType("User", "INTERACTED", "Item"),))
    kg = KnowledgeGraph(schema, {"User": pd.DataFrame({"id": ["u\t1"]}), "Item": pd.DataFrame({"id": ["i1"]})},
                        {("User", "INTERACTED", "Item"): pd.DataFrame({"src": ["u\t1"], "dst": ["i1"]})})
    with pytest.raises(InputError, match=r"User id 'u\\t1' cannot be a RecBole token"):
        write_recbole(kg, tmp_path, name="bad")
