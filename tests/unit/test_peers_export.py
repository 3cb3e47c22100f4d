"""benchmarks/peers.py: kgrec's split exported as RecBole atomic files (RecBole itself never runs here)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PEERS = Path(__file__).resolve().parents[2] / "benchmarks" / "peers.py"


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("kgrec_bench_peers", PEERS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(peers, movielens_kg, tmp_path_factory):
    split = peers.make_split(movielens_kg, split_seed=0)
    folder = tmp_path_factory.mktemp("recbole")
    report = peers.export_recbole(movielens_kg, split, folder, name="kgrec-ml")
    return split, report


def _read(report, suffix: str) -> pd.DataFrame:
    return pd.read_csv(report.folder / f"{report.name}.{suffix}", sep="\t", dtype=str, keep_default_na=False)


def _pairs(df: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(df["user_id:token"], df["item_id:token"]))


def test_split_is_the_one_kgrec_trains_on(peers, movielens_kg):
    from kgrec.gnn import TrainConfig
    from kgrec.gnn.train import prepare

    inputs, _ = prepare(movielens_kg, TrainConfig(model="pop").effective())
    split = peers.make_split(movielens_kg, split_seed=0)
    for part in ("train", "valid", "test"):
        assert np.array_equal(split.positives(part), inputs.split.positives(part)), part


def test_interaction_files_are_kgrec_split_exactly(movielens_kg, exported):
    split, report = exported
    users = movielens_kg.nodes["User"]["id"].astype(str).to_numpy()
    items = movielens_kg.nodes["Movie"]["id"].astype(str).to_numpy()
    parts = {}
    for part in ("train", "valid", "test"):
        df = _read(report, f"{part}.inter")
        assert list(df.columns) == ["user_id:token", "item_id:token"]
        pairs = split.positives(part)
        assert len(df) == pairs.shape[1] == report.rows[part]
        assert _pairs(df) == set(zip(users[pairs[0]], items[pairs[1]]))
        parts[part] = _pairs(df)
    assert not parts["test"] & (parts["train"] | parts["valid"]), "a test pair leaked into train/valid"
    assert not parts["valid"] & parts["train"]
    every = _read(report, "inter")
    assert len(every) == len(movielens_kg.edges[("User", "RATED", "Movie")]) == sum(map(len, parts.values()))
    assert _pairs(every) == parts["train"] | parts["valid"] | parts["test"]


def test_kg_and_link_keep_every_interaction(movielens_kg, exported):
    _, report = exported
    kg = _read(report, "kg")
    link = _read(report, "link")
    assert list(kg.columns) == ["head_id:token", "relation_id:token", "tail_id:token"]
    assert list(link.columns) == ["item_id:token", "entity_id:token"]
    relations = set(kg["relation_id:token"])
    assert relations == {"HAS_GENRE", "HAS_TAG", "NO_KG_FACT"}  # no user-side TAGGED, no RATED
    assert not kg["head_id:token"].str.startswith("User:").any()
    assert not kg.duplicated().any()
    real = kg[kg["relation_id:token"] != "NO_KG_FACT"]
    n_genre = len(movielens_kg.edges[("Movie", "HAS_GENRE", "Genre")])
    n_tag = len(movielens_kg.edges[("Movie", "HAS_TAG", "Tag")])
    assert len(real) == report.triples == n_genre + n_tag
    # RecBole drops interactions whose item's entity is in no triple: every interacted item is linked
    interacted = set(_read(report, "inter")["item_id:token"])
    assert set(link["item_id:token"]) == interacted and link["item_id:token"].is_unique
    entities = set(kg["head_id:token"]) | set(kg["tail_id:token"])
    assert set(link["entity_id:token"]) <= entities
    loops = kg[kg["relation_id:token"] == "NO_KG_FACT"]
    assert (loops["head_id:token"] == loops["tail_id:token"]).all() and len(loops) == report.self_loops
    names = pd.read_csv(report.folder / "entities.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert set(names["entity"]) == entities
    movie = names[names["entity"] == link["entity_id:token"].iat[0]]
    assert movie["id"].iat[0] == link["item_id:token"].iat[0]


def test_recbole_log_parsing(peers):
    green, blue, end = "\x1b[1;32m", "\x1b[1;34m", "\x1b[0m"
    log = f"""{green}epoch 0 training{end} [{blue}time{end}: 2.50s, train loss: 10.0]
{green}epoch 0 evaluating{end} [{blue}time{end}: 0.50s, {blue}valid_score{end}: 0.100000]
epoch 1 training [time: 2.00s, train loss: 9.0]
epoch 1 evaluating [time: 1.00s, valid_score: 0.200000]
epoch 2 training [time: 3.00s, train loss: 8.0]
epoch 2 evaluating [time: 1.00s, valid_score: 0.150000]
epoch 3 training [time: 1.00s, train loss: 7.0]
epoch 3 evaluating [time: 1.00s, valid_score: 0.200000]
"""
    parsed = peers.parse_recbole_log(log)
    # no "best eval result" line (the epoch cap ended the run); a tie counts as better, as in RecBole
    assert parsed == {"epochs": 4, "best_epoch": 4, "train_s": 12.0, "seconds_per_epoch": 3.0,
                      "seconds_to_best": 12.0}


def test_kgrec_rows_from_refuses_another_split(peers, tmp_path):
    result = {"graph": "lastfm", "split": "random", "split_seed": 0, "results": []}
    (tmp_path / "benchmark.json").write_text(json.dumps(result))
    assert peers.kgrec_rows_from(tmp_path, dataset="lastfm", split_seed=0)["graph"] == "lastfm"
    for other in ({"graph": "movielens-small"}, {"split": "cold-items"}, {"split_seed": 1}):
        (tmp_path / "benchmark.json").write_text(json.dumps({**result, **other}))
        with pytest.raises(SystemExit, match="is not"):
            peers.kgrec_rows_from(tmp_path / "benchmark.json", dataset="lastfm", split_seed=0)
