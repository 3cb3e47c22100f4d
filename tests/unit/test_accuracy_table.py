"""benchmarks/accuracy_table.py: the accuracy section's opening table, read from the committed results."""

from __future__ import annotations

import json

import pytest

from benchmarks import accuracy_table as table_mod


def test_cells_are_mean_and_sample_std_and_a_single_seed_says_so():
    runs = [{"ndcg@20": 0.1}, {"ndcg@20": 0.2}, {"ndcg@20": 0.3}]
    assert table_mod.cell(runs, "ndcg@20") == "0.2000 ± 0.1000"
    assert table_mod.cell(runs[:1], "ndcg@20", ", stopped") == "0.1000 (1 seed, stopped)"


def test_the_table_reads_every_model_from_its_file(tmp_path, monkeypatch):
    heldout = tmp_path / "heldout" / "lastfm"
    heldout.mkdir(parents=True)
    tests = [{"ndcg@20": v, "recall@20": v + 0.1} for v in (0.25, 0.27)]
    heldout.joinpath("benchmark.json").write_text(json.dumps({"results": [{"model": "kgrec", "test": tests}]}))
    peers = tmp_path / "peers" / "lastfm"
    peers.mkdir(parents=True)
    for name, v in [("LightGCN-s0", 0.20), ("LightGCN+learning_rate=0.005-s0", 0.22), ("EASE-s0", 0.23)]:
        peers.joinpath(f"{name}.run.json").write_text(
            json.dumps({"run": {"test": {"ndcg@20": v, "recall@20": v}}}))
    monkeypatch.setattr(table_mod, "RESULTS", tmp_path)
    monkeypatch.setattr(table_mod, "DATASETS", ["lastfm"])
    lines = table_mod.table().splitlines()
    ndcg = lines[2].split(" | ")
    assert ndcg[:3] == ["| lastfm", "ndcg@20", "0.2600 ± 0.0141"]
    assert ndcg[3] == "—"  # its LightGCN: no run
    assert "0.2200 (1 seed)" in lines[2] and "0.2000" not in lines[2]  # the better LightGCN setting
    assert "0.2300 (1 seed)" in lines[2]
    assert lines[3].split(" | ")[2] == "0.3600 ± 0.0141"


@pytest.mark.parametrize("dataset", table_mod.DATASETS)
def test_every_committed_dataset_has_kgrec_and_its_lightgcn(dataset):
    own = table_mod.kgrec_runs(dataset)
    if not own:
        pytest.skip(f"no committed heldout results for {dataset}")
    assert {"kgrec", "lightgcn"} <= set(own) and all(len(own[m]) == 3 for m in ("kgrec", "lightgcn"))
