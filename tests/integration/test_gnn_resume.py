"""Resume after a kill: a training process killed after a checkpoint, resumed, ends with the same
metrics as an uninterrupted run with the same seed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kgrec.errors import TrainingError
from kgrec.gnn import train
from tests.fixtures.gnn import checkpoint_epoch, make_config

EPOCHS = 12

SCRIPT = textwrap.dedent("""
    import sys, time
    import torch
    torch.set_num_threads(1)
    from kgrec.kg.sources import load_dataset
    from kgrec.text import NodeVectors
    from kgrec.gnn import TrainConfig, train
    kg = load_dataset("synthetic", num_users=100, num_items=200, num_tags=30, num_genres=8, seed=0)
    vectors = NodeVectors.load(sys.argv[1])
    config = TrainConfig(**{config})
    train(kg, config, vectors=vectors, out=sys.argv[2], resume=True)
""")


def _config(**extra):
    return make_config(model="kgrec", epochs=EPOCHS, patience=EPOCHS, checkpoint_every=1, seed=7,
                       batch_size=256, **extra)


def test_resume_after_kill_gives_the_same_result(synthetic_kg, synthetic_vectors, tmp_path):
    import torch

    torch.set_num_threads(1)
    vectors_dir = synthetic_vectors.save(tmp_path / "vectors")
    config = _config()
    killed_dir = tmp_path / "killed"
    script = SCRIPT.replace("{config}", repr(config.model_dump(mode="json", exclude_unset=True)))
    proc = subprocess.Popen([sys.executable, "-c", script, str(vectors_dir), str(killed_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=os.getcwd(), env=os.environ.copy())
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            if checkpoint_epoch(killed_dir) >= 3:
                break
            if proc.poll() is not None:
                pytest.fail(f"training ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint within the time limit")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    epoch_at_kill = checkpoint_epoch(killed_dir)
    assert 3 <= epoch_at_kill < EPOCHS
    assert not (killed_dir / "manifest.json").exists()      # the killed run never finished

    resumed = train(synthetic_kg, config, vectors=synthetic_vectors, out=killed_dir, resume=True)
    straight = train(synthetic_kg, config, vectors=synthetic_vectors, out=tmp_path / "straight")
    assert resumed.metrics.epochs == straight.metrics.epochs == EPOCHS
    assert resumed.metrics.best_epoch == straight.metrics.best_epoch
    assert resumed.metrics.test.to_dict() == pytest.approx(straight.metrics.test.to_dict(), abs=1e-5)
    assert [r.loss for r in resumed.history] == pytest.approx([r.loss for r in straight.history], rel=1e-5)


def test_non_finite_loss_names_epoch_and_batch(synthetic_kg, synthetic_vectors):
    config = make_config(model="bprmf", epochs=2, lr=1e30, batch_size=64)
    with pytest.raises(TrainingError, match=r"epoch 1, batch \d+"):
        train(synthetic_kg, config, vectors=synthetic_vectors, save=False)


def test_time_budget_stops_training_and_says_so(synthetic_kg, synthetic_vectors):
    """A budget spent during the first epoch: training ends there, that epoch validated and kept."""
    config = make_config(model="bprmf", epochs=50, patience=50, eval_every=10, max_minutes=1e-6)
    run = train(synthetic_kg, config, vectors=synthetic_vectors, save=False)
    assert run.metrics.epochs == 1 and run.metrics.best_epoch == 1
    assert run.metrics.extra["stopped"] == "budget"
    assert run.history[0].valid  # validated although eval_every is 10
    free = train(synthetic_kg, make_config(model="bprmf", epochs=3, patience=50), vectors=synthetic_vectors,
                 save=False)
    assert free.metrics.epochs == 3 and free.metrics.extra["stopped"] == "epochs"
