"""Run directories: round trip, tamper detection, fold-in and cold-start vectors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kgrec.errors import RunDirError
from kgrec.gnn import Run, train
from kgrec.gnn.run import FILES, MANIFEST
from tests.fixtures.gnn import make_config


def test_round_trip(gnn_synthetic_run):
    run = gnn_synthetic_run
    loaded = Run.load(run.path)
    assert loaded.config == run.config
    assert loaded.metrics.test.to_dict() == pytest.approx(run.metrics.test.to_dict())
    assert loaded.metrics.best_epoch == run.metrics.best_epoch
    for label, vectors in run.node_vectors.items():
        assert np.array_equal(loaded.node_vectors[label], vectors)
    assert {k: v.ids for k, v in loaded.id_maps.items()} == {k: v.ids for k, v in run.id_maps.items()}
    assert np.array_equal(loaded.train_items(3), run.train_items(3))
    assert len(loaded.history) == len(run.history)
    for name in FILES:
        assert (run.path / name).is_file(), name
    manifest = json.loads((run.path / MANIFEST).read_text())
    assert set(manifest["files"]) == set(FILES)
    versions = json.loads((run.path / "versions.json").read_text())
    for package in ("kgrec", "torch", "torch_geometric", "transformers"):
        assert package in versions
    # safetensors only: no pickle anywhere in the run directory
    for path in run.path.iterdir():
        assert not path.read_bytes()[:2] == b"\x80\x04" and path.suffix not in (".pt", ".pkl", ".bin")
    assert (run.path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    # checkpoints are gone once the run is saved
    assert not (run.path / "checkpoint.safetensors").exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_tampering_is_detected(gnn_synthetic_run, tmp_path, damage):
    copy = tmp_path / "run"
    shutil.copytree(gnn_synthetic_run.path, copy)
    target = copy / "vectors.safetensors"
    if damage == "flip":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "truncate":
        (copy / "metrics.json").write_bytes((copy / "metrics.json").read_bytes()[:20])
    elif damage == "delete":
        (copy / "weights.safetensors").unlink()
    else:
        (copy / MANIFEST).unlink()
    with pytest.raises(RunDirError):
        Run.load(copy)


def test_fold_in_ranks_held_out_items_high(gnn_synthetic_run):
    """Fold in a user's training items, without retraining: their test items rank far above random."""
    run = gnn_synthetic_run
    test = run.split.user_items("test")
    ranks, model_ranks = [], []
    for u in np.flatnonzero(test.counts() > 0):
        train_items = run.train_items(u)
        vector = run.fold_in(train_items)
        for user_vector, out in ((vector, ranks), (run.user_vectors[u], model_ranks)):
            scores = run.item_vectors @ user_vector
            scores[train_items] = -np.inf
            order = np.argsort(-scores, kind="stable")
            candidates = len(scores) - len(train_items)
            position = np.empty(len(scores))
            position[order] = np.arange(len(scores))
            out.extend(position[test[u]] / candidates)
    # a random ranking puts test items at the median (0.5)
    assert np.mean(ranks) < 0.3, np.mean(ranks)
    assert np.mean(ranks) < np.mean(model_ranks) + 0.1


def test_fold_in_weights_and_errors(gnn_synthetic_run):
    run = gnn_synthetic_run
    items = run.train_items(0)
    a = run.fold_in(items)
    b = run.fold_in(items, np.ones(len(items)))
    assert np.allclose(a, b)
    with pytest.raises(Exception, match="weights"):
        run.fold_in(items, [1.0])


def test_item_from_text_matches_the_model_for_unseen_items(synthetic_kg, synthetic_vectors, tmp_path):
    """On the cold-items split the model itself placed the unseen items from text and KG links;
    item_from_text, given the same text and links, must land close to it."""
    kg = synthetic_kg
    run = train(kg, make_config(model="kgrec", split="cold-items", epochs=15, patience=5), vectors=synthetic_vectors,
                save=False)
    item_label = kg.schema.item_label
    text = synthetic_vectors.vectors[item_label]
    neighbours_of = {}
    for (s, r, t), df in kg.edges.items():
        if s == item_label and t != kg.schema.user_label:
            ei = kg.edge_index((s, r, t))
            neighbours_of[t] = ei
    sims = []
    for i in run.split.cold_items[:20]:
        neighbours = {label: ei[1][ei[0] == i] for label, ei in neighbours_of.items()}
        v = run.item_from_text(text[i], neighbours)
        m = run.item_vectors[i]
        sims.append(float(v @ m / (np.linalg.norm(v) * np.linalg.norm(m))))
    assert np.mean(sims) > 0.8, sims
    assert run.metrics.test["recall@20"] > 0
    # validation ranked its own cold items, and the run keeps which they were
    assert run.metrics.extra["valid_candidates"] == "validation's cold items only"
    back = Run.load(run.save(tmp_path / "cold").path)
    assert np.array_equal(back.split.valid_cold_items, run.split.valid_cold_items)
    assert np.array_equal(back.split.cold_items, run.split.cold_items)
