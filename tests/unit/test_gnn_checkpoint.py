"""A checkpoint is one file: its weights and its training state are replaced together, so a process
killed at any moment leaves one whole checkpoint, never one epoch's weights beside another's state."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from kgrec.errors import TrainingError
from kgrec.gnn import checkpoint as ckpt
from kgrec.gnn.checkpoint import (CHECKPOINT, CHECKPOINT_META, TrainState, load_checkpoint, read_checkpoint_state,
                                  remove_checkpoint)
from tests.fixtures.gnn import make_config


def _parts(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(8, 4)).sum().backward()
    optimizer.step()
    return model, optimizer, torch.Generator().manual_seed(seed)


def _save(run_dir, epoch: int, seed: int) -> torch.nn.Module:
    model, optimizer, generator = _parts(seed)
    state = TrainState()
    state.epoch = epoch
    ckpt.save_checkpoint(run_dir, model, optimizer, generator, state, make_config())
    return model


def test_weights_and_state_come_back_from_the_one_file(tmp_path):
    saved = _save(tmp_path, epoch=2, seed=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]
    assert read_checkpoint_state(tmp_path)["epoch"] == 2
    model, optimizer, generator = _parts(seed=5)
    state = load_checkpoint(tmp_path, model, optimizer, generator)
    assert state.epoch == 2
    assert torch.equal(model.weight, saved.weight) and torch.equal(model.bias, saved.bias)


@pytest.mark.parametrize("renames_before_the_kill", [0, 1, 2])
def test_a_write_cut_short_leaves_one_whole_checkpoint(renames_before_the_kill, tmp_path, monkeypatch):
    # the process dies after its n-th file rename: whatever is on disk must pair weights and state
    weights = {2: _save(tmp_path, epoch=2, seed=1).weight.detach().clone()}
    real_replace, done = ckpt.os.replace, []

    def replace(*args):
        if len(done) == renames_before_the_kill:
            raise KeyboardInterrupt("killed while writing")
        done.append(args)
        real_replace(*args)
    monkeypatch.setattr(ckpt.os, "replace", replace)
    try:
        weights[3] = _save(tmp_path, epoch=3, seed=2).weight.detach().clone()
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    model, optimizer, generator = _parts(seed=5)
    epoch = load_checkpoint(tmp_path, model, optimizer, generator).epoch
    assert torch.equal(model.weight, weights[epoch])  # the weights of the epoch the state names
    remove_checkpoint(tmp_path)  # once the run is saved: nothing of the checkpoint stays, a cut write neither
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_from_before_the_state_moved_into_the_file_still_resumes(tmp_path):
    saved = _save(tmp_path, epoch=4, seed=1)
    from safetensors.torch import load_file
    tensors = load_file(str(tmp_path / CHECKPOINT))
    state = read_checkpoint_state(tmp_path)
    save_file(tensors, str(tmp_path / CHECKPOINT))  # the old layout: no state in the header ...
    (tmp_path / CHECKPOINT_META).write_text(json.dumps(state), encoding="utf-8")  # ... but beside it
    model, optimizer, generator = _parts(seed=5)
    assert load_checkpoint(tmp_path, model, optimizer, generator).epoch == 4
    assert torch.equal(model.weight, saved.weight)
    _save(tmp_path, epoch=5, seed=1)  # the next checkpoint is the new layout: the stale file goes
    assert not (tmp_path / CHECKPOINT_META).exists() and read_checkpoint_state(tmp_path)["epoch"] == 5


def test_a_file_without_state_is_a_clear_error(tmp_path):
    save_file({"model.weight": torch.zeros(2)}, str(tmp_path / CHECKPOINT))
    with pytest.raises(TrainingError, match=r"checkpoint\.safetensors: cannot read .*no training state"):
        read_checkpoint_state(tmp_path)
