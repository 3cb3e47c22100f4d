"""torchrun DDP on a real graph: 2 CPU processes over gloo. The weights on both ranks are identical
after every step; the run's quality is within the seed spread of one-process runs; rank 0 alone
writes the run; a run killed after a checkpoint and resumed ends exactly as an uninterrupted one.

Each launch is two fresh Python processes on the 60-user lastfm subgraph: a few minutes in all on
CI's 2 cores (marker ``distributed``; part of the default run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kgrec.gnn import Run, train
from tests.fixtures.gnn import checkpoint_epoch, make_config
from tests.fixtures.kg import lastfm_small_users

pytestmark = pytest.mark.distributed

SAMPLED = {"model": "lightgcn", "text": False, "sampler": "neighbor", "epochs": 8, "eval_every": 1, "patience": 8,
           "batch_size": 512, "lr": 0.01}
FULL = {"model": "kgrec", "text": False, "sampler": "full", "epochs": 5, "eval_every": 1, "patience": 5,
        "batch_size": 512, "negatives": 256, "checkpoint_every": 1}


def _command(users: Path, out: Path, settings: dict, *extra: str) -> list[str]:
    sets = [a for k, v in {"device": "cpu", "checkpoint_every": 0, **settings}.items()
            for a in ("--set", f"{k}={json.dumps(v) if not isinstance(v, str) else v}")]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
            "-m", "kgrec.gnn.distributed", "lastfm", "--users", str(users), "--out", str(out), "--threads", "1",
            *sets, *extra]


def _env() -> dict:
    env = os.environ.copy()
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run(cmd: list[str], timeout: float = 600) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=os.getcwd())
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stderr


@pytest.fixture(scope="module")
def users_file(lastfm_kg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "users.txt"
    path.write_text("\n".join(lastfm_small_users(lastfm_kg)) + "\n", encoding="utf-8")
    return path


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and every process below it (found through /proc)."""
    def children(p: int) -> list[int]:
        try:
            return [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            return []

    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children(p))
    for p in reversed(tree):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _same_steps(sync: Path) -> list[str]:
    rank0 = (sync / "rank0.txt").read_text().splitlines()
    rank1 = (sync / "rank1.txt").read_text().splitlines()
    assert rank0 and rank0 == rank1  # the same weights, step after step
    return rank0


def test_ddp_sampled_weights_identical_and_quality_within_seed_spread(users_file, lastfm_small_kg, tmp_path):
    out, sync = tmp_path / "run", tmp_path / "sync"
    _run(_command(users_file, out, SAMPLED, "--sync-log", str(sync), "--seed", "0"))
    steps = _same_steps(sync)
    train_pairs = Run.load(out).split.train.shape[1]
    per_epoch = -(-(train_pairs // 2) // (SAMPLED["batch_size"] // 2))  # each rank: its half, half batches
    assert len(steps) == SAMPLED["epochs"] * per_epoch
    assert len({line.split()[2] for line in steps}) == len(steps)  # the weights did move every step
    run = Run.load(out)
    assert run.metrics.extra["distributed"] == {"world": 2, "backend": "gloo"}
    assert run.metrics.extra["sampler"] == "neighbor"
    assert not (out / "checkpoint.safetensors").exists()
    assert sorted(p.name for p in sync.iterdir()) == ["rank0.txt", "rank1.txt"]
    # one process, five seeds, the same settings: the DDP run lies within their spread (the mean ± 3
    # standard deviations; at least ± 0.005, NDCG@20 over 60 users moves that much between seeds)
    single = [train(lastfm_small_kg, make_config(**{**SAMPLED, "seed": s}), save=False).metrics
              for s in range(5)]
    for part in ("valid", "test"):
        values = np.array([getattr(m, part)["ndcg@20"] for m in single])
        ddp = getattr(run.metrics, part)["ndcg@20"]
        assert abs(ddp - values.mean()) <= max(3 * values.std(ddof=1), 0.005), (part, ddp, values)


@pytest.mark.parametrize("sampler", ["neighbor", "history"])
def test_ddp_sampled_kgrec_dense_and_sparse_gradients_keep_the_ranks_identical(sampler, users_file, tmp_path):
    # kgrec has dense parameters (DDP averages them) beside its embedding tables, whose sparse
    # gradients Ranks.reduce_sparse averages after the backward; with history each rank reads its
    # own table (its seeds' states differ), the weights must not
    out, sync = tmp_path / "run", tmp_path / "sync"
    settings = {**SAMPLED, "model": "kgrec", "epochs": 2, "patience": 2, "sampler": sampler}
    _run(_command(users_file, out, settings, "--sync-log", str(sync), "--seed", "0"))
    steps = _same_steps(sync)
    assert len({line.split()[2] for line in steps}) == len(steps) > 2
    assert Run.load(out).metrics.extra["sampler"] == sampler


def test_ddp_resume_after_kill_equals_an_uninterrupted_run(users_file, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _run(_command(users_file, whole, FULL, "--sync-log", str(tmp_path / "sync-whole")))
    proc = subprocess.Popen(_command(users_file, killed, FULL), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env(), cwd=os.getcwd())
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if checkpoint_epoch(killed) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        _kill_tree(proc.pid)  # torchrun starts each worker in a session of its own: kill them by id
        proc.wait(timeout=60)
    stopped_at = checkpoint_epoch(killed)  # what the resume reads, whenever the kill landed
    assert 2 <= stopped_at < FULL["epochs"] and not (killed / "metrics.json").exists()
    log = _run(_command(users_file, killed, FULL, "--resume", "--sync-log", str(tmp_path / "sync-resumed")))
    resumed = _same_steps(tmp_path / "sync-resumed")
    assert int(resumed[0].split()[0]) == stopped_at + 1, log[-3000:]  # it went on from the checkpoint
    assert resumed == _same_steps(tmp_path / "sync-whole")[-len(resumed):]  # the same weights, step for step
    a, b = Run.load(whole), Run.load(killed)
    assert np.array_equal(a.item_vectors, b.item_vectors) and np.array_equal(a.user_vectors, b.user_vectors)
    assert a.metrics.test.to_dict() == b.metrics.test.to_dict()
    assert [h.epoch for h in b.history] == list(range(1, FULL["epochs"] + 1))
