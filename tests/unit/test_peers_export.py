"""benchmarks/peers.py: kgrec's split, its RecBole runs and their table (RecBole itself never runs
here). The atomic-file writer it uses is kgrec's own, tested in tests/unit/test_sources_recbole_write.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import peers as _peers


@pytest.fixture(scope="module")
def peers():
    return _peers


def test_split_is_the_one_kgrec_trains_on(peers, movielens_kg):
    from kgrec.gnn import TrainConfig
    from kgrec.gnn.train import prepare

    inputs, _ = prepare(movielens_kg, TrainConfig(model="pop").effective())
    split = peers.make_split(movielens_kg, split_seed=0)
    for part in ("train", "valid", "test"):
        assert np.array_equal(split.positives(part), inputs.split.positives(part)), part


def test_export_writes_the_split_through_kgrecs_writer(peers, movielens_kg, tmp_path):
    split = peers.make_split(movielens_kg, split_seed=0)
    report = peers.export_recbole(movielens_kg, split, tmp_path, name="kgrec-ml")
    for part in ("train", "valid", "test"):
        df = pd.read_csv(report.folder / f"kgrec-ml.{part}.inter", sep="\t", dtype=str)
        assert len(df) == split.positives(part).shape[1] == report.rows[part]
    assert report.rows["inter"] == movielens_kg.num_edges(movielens_kg.schema.interaction)


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


FAKE_RECBOLE = """#!/usr/bin/env bash
# Stands in for RecBole's run.py (not installable in CI): its log lines and its final JSON line.
# args: run.py MODEL NAME DATA --split-files --epochs N --seed S --config FILE
[[ "$3" == kgrec-* && -e "$4/$3/$3.train.inter" ]] || { echo "no exported dataset $3 in $4" >&2; exit 1; }
echo "$2 $9" >> "$FAKE_RECBOLE_CALLS"
echo "01 Dec 20:00    INFO  epoch 0 training [time: 1.50s, train loss: 1.0]"
echo "01 Dec 20:00    INFO  epoch 0 evaluating [time: 0.50s, valid_score: 0.100000]"
echo "01 Dec 20:00    INFO  epoch 1 training [time: 1.50s, train loss: 0.9]"
echo "01 Dec 20:00    INFO  epoch 1 evaluating [time: 0.50s, valid_score: 0.2$9]"
echo '{"model": "'$2'", "dataset": "'$3'", "wall_s": 4.0, "best_valid": {"ndcg@20": 0.2}, "test": {"recall@10": 0.1, "recall@20": 0.2, "ndcg@10": 0.1, "ndcg@20": 0.2'$9', "mrr@10": 0.3}}'
"""


@pytest.fixture()
def fake_recbole(tmp_path, monkeypatch):
    """A venv whose ``bin/python`` is FAKE_RECBOLE, and the file it logs its calls to."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(FAKE_RECBOLE)
    (venv / "bin" / "python").chmod(0o755)
    calls = tmp_path / "calls"
    monkeypatch.setenv("FAKE_RECBOLE_CALLS", str(calls))
    return venv, calls


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="peers.py measures peak memory with /usr/bin/time")
def test_runs_in_parallel_and_a_second_invocation_resumes(peers, tmp_path, fake_recbole):
    venv, calls = fake_recbole
    out = tmp_path / "out"
    results = tmp_path / "results"
    argv = ["movielens-small", "--models", "LightGCN,KGIN", "--kgrec-models", "", "--seeds", "0,1", "--jobs", "2",
            "--venv", str(venv), "--out", str(out), "--results", str(results)]
    assert peers.main(argv) == 0
    assert sorted(calls.read_text().split("\n")[:-1]) == ["KGIN 0", "KGIN 1", "LightGCN 0", "LightGCN 1"]
    raw = json.loads((out / "peers.json").read_text())
    assert [(r["model"], r["seed"]) for r in raw["recbole"]] == [("LightGCN", 0), ("LightGCN", 1), ("KGIN", 0),
                                                                 ("KGIN", 1)]
    run = raw["recbole"][1]
    assert (run["epochs"], run["best_epoch"], run["train_s"], run["seconds_to_best"]) == (2, 2, 4.0, 4.0)
    assert run["test"]["ndcg@20"] == pytest.approx(0.21)
    table = (out / "peers.md").read_text()
    assert "| LightGCN | RecBole 1.2.1 | 2 |" in table and "| KGIN | RecBole 1.2.1 | 2 |" in table

    # One seed more with --only-finished: nothing trains, the table shows what is finished.
    assert peers.main([*argv[:6], "0,1,2", *argv[7:], "--only-finished"]) == 0
    assert len(calls.read_text().split("\n")[:-1]) == 4
    assert "| KGIN | RecBole 1.2.1 | 2 |" in (out / "peers.md").read_text()

    # The same command again, one seed more: only the new seed trains; the finished runs are read back.
    assert peers.main([*argv[:6], "0,1,2", *argv[7:]]) == 0
    assert sorted(calls.read_text().split("\n")[:-1]) == ["KGIN 0", "KGIN 1", "KGIN 2", "LightGCN 0",
                                                          "LightGCN 1", "LightGCN 2"]
    assert "| LightGCN | RecBole 1.2.1 | 3 |" in (out / "peers.md").read_text()

    # A later session: a new output folder, only the kept results; a run of another export is not reused.
    kept = json.loads((results / "KGIN-s2.run.json").read_text())
    (results / "KGIN-s2.run.json").write_text(json.dumps({**kept, "export_rows": {**kept["export_rows"], "test": 1}}))
    later = [*argv[:6], "0,1,2", *argv[7:-4], "--out", str(tmp_path / "later"), "--results", str(results)]
    assert peers.main(later) == 0
    assert calls.read_text().split("\n")[:-1][6:] == ["KGIN 2"]


def test_main_leaves_logging_alone(peers, tmp_path):
    import logging

    train_logger = logging.getLogger("kgrec.gnn.train")
    train_logger.setLevel(logging.NOTSET)
    handlers = list(logging.getLogger().handlers)
    peers.main(["movielens-small", "--export-only", "--out", str(tmp_path)])
    assert train_logger.level == logging.NOTSET and logging.getLogger().handlers == handlers


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="peers.py measures peak memory with /usr/bin/time")
def test_a_model_with_its_own_setting_is_a_row_of_its_own(peers, tmp_path, fake_recbole):
    venv, _ = fake_recbole
    out, results = tmp_path / "out", tmp_path / "results"
    argv = ["movielens-small", "--models", "LightGCN,LightGCN+learning_rate=0.005", "--kgrec-models", "",
            "--seeds", "0", "--venv", str(venv), "--out", str(out), "--results", str(results)]
    assert peers.main(argv) == 0
    assert sorted(p.name for p in results.iterdir()) == ["LightGCN+learning_rate=0.005-s0.run.json",
                                                         "LightGCN-s0.run.json"]
    assert "learning_rate" not in (out / "logs" / "LightGCN-s0.yaml").read_text()
    assert "learning_rate: 0.005\n" in (out / "logs" / "LightGCN+learning_rate=0.005-s0.yaml").read_text()
    table = (out / "peers.md").read_text()
    assert "| LightGCN | RecBole 1.2.1 | 1 |" in table
    assert "| LightGCN+learning_rate=0.005 | RecBole 1.2.1 | 1 |" in table
    kept = json.loads((results / "LightGCN+learning_rate=0.005-s0.run.json").read_text())["run"]
    assert (kept["model"], kept["settings"]) == ("LightGCN", {"learning_rate": "0.005"})


def test_a_setting_run_py_fixes_is_refused_before_anything_runs(peers, tmp_path):
    with pytest.raises(SystemExit, match="run.py fixes 'stopping_step'"):
        peers.main(["movielens-small", "--models", "KGCN+stopping_step=3", "--out", str(tmp_path)])
    assert not (tmp_path / "data").exists()


def test_a_crossval_variant_is_exported_on_the_split_heldout_py_scores(peers, tmp_path):
    """movielens-dense (built by crossval.py, not a loader) gets the split kgrec's harness trains on."""
    from kgrec.gnn import TrainConfig
    from kgrec.gnn.train import prepare

    kg = peers.load_graph("movielens-dense")
    assert kg.name == "movielens-dense" and kg.stats().nodes["Movie"] < 1000
    inputs, _ = prepare(kg, TrainConfig(model="pop").effective())
    split = peers.make_split(kg, split_seed=0)
    assert np.array_equal(split.positives("test"), inputs.split.positives("test"))
    with pytest.raises(SystemExit, match="temporal"):
        peers.load_graph("movielens-temporal")
