"""Training checkpoints: everything the :class:`~kgrec.gnn.Trainer` needs to continue exactly.

A checkpoint is one file in the run directory, ``checkpoint.safetensors``: the model's weights, the
best weights so far, every optimizer's tensors and the random generators, with the training state
(epoch, best score, patience count, timings, history, optimizer settings, the config) as JSON in the
file's header. One file replaced atomically, so a process killed while it writes leaves the previous
checkpoint whole: never weights of one epoch beside the state of another. Never pickle.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from kgrec.errors import TrainingError

from .run import EpochRecord

CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"  # where checkpoints before the state moved into the header kept it
_HEADER_KEY = "kgrec.checkpoint"


class TrainState:
    """Where training stands: the epoch done, the best validation so far, the history, timings."""

    def __init__(self):
        self.epoch = 0
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_valid: dict[str, float] | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad = 0
        self.history: list[EpochRecord] = []
        self.seconds = 0.0
        self.seconds_to_best = 0.0


def _optimizers(optimizer) -> list[torch.optim.Optimizer]:
    return list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer]


def save_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer, generator: torch.Generator,
                    state: TrainState, config: Any) -> None:
    """Write the checkpoint of ``model``, its optimizer(s) (one or a list), the generator and ``state``."""
    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model.{k}"] = v.detach().cpu().contiguous()
    if state.best_state is not None:
        for k, v in state.best_state.items():
            tensors[f"best.{k}"] = v.contiguous()
    metas = []
    for j, opt in enumerate(_optimizers(optimizer)):
        prefix = "opt." if j == 0 else f"opt{j}."
        sd = opt.state_dict()
        meta: dict[str, Any] = {"param_groups": sd["param_groups"], "state": {}}
        for pid, st in sd["state"].items():
            meta["state"][str(pid)] = []
            for key, value in st.items():
                if torch.is_tensor(value):
                    tensors[f"{prefix}{pid}.{key}"] = value.detach().cpu().contiguous()
                    meta["state"][str(pid)].append(key)
        metas.append(meta)
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    meta_all = {"epoch": state.epoch,
                "best_score": state.best_score if math.isfinite(state.best_score) else None,
                "best_epoch": state.best_epoch, "best_valid": state.best_valid, "bad": state.bad,
                "seconds": state.seconds, "seconds_to_best": state.seconds_to_best,
                "history": [{"epoch": r.epoch, "loss": r.loss, "seconds": r.seconds, "valid": dict(r.valid)}
                            for r in state.history],
                "optimizer": metas[0], "optimizers": metas[1:], "config": config.model_dump(mode="json")}
    tmp = run_dir / (CHECKPOINT + ".tmp")
    save_file(tensors, str(tmp), metadata={_HEADER_KEY: json.dumps(meta_all)})
    os.replace(tmp, run_dir / CHECKPOINT)
    (run_dir / CHECKPOINT_META).unlink(missing_ok=True)  # an older checkpoint's state, now stale


def remove_checkpoint(run_dir: Path) -> None:
    """Delete ``run_dir``'s checkpoint, an older one's state file and a write cut short (the run is saved)."""
    for name in (CHECKPOINT, CHECKPOINT_META, CHECKPOINT + ".tmp"):
        (run_dir / name).unlink(missing_ok=True)


def read_checkpoint_state(run_dir: Path) -> dict[str, Any]:
    """The training state stored with ``run_dir``'s checkpoint (``epoch``, ``best_score``, ``history``, …),
    read from the file's header without loading its tensors."""
    from safetensors import safe_open

    path = Path(run_dir) / CHECKPOINT
    try:
        with safe_open(str(path), framework="pt") as f:
            header = (f.metadata() or {}).get(_HEADER_KEY)
        if header is None and (Path(run_dir) / CHECKPOINT_META).is_file():
            header = (Path(run_dir) / CHECKPOINT_META).read_text(encoding="utf-8")
        if header is None:
            raise ValueError("no training state in its header")
        return json.loads(header)
    except Exception as e:
        raise TrainingError(f"{path}: cannot read the checkpoint to resume from: {e}") from e


def load_checkpoint(run_dir: Path, model: torch.nn.Module, optimizer, generator: torch.Generator) -> TrainState:
    """Restore ``model``, its optimizer(s) and the generator from ``run_dir``; the training state."""
    from safetensors.torch import load_file

    meta = read_checkpoint_state(run_dir)
    try:
        tensors = load_file(str(run_dir / CHECKPOINT))
    except Exception as e:
        raise TrainingError(f"{run_dir / CHECKPOINT}: cannot read the checkpoint to resume from: {e}") from e
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizers = _optimizers(optimizer)
    metas = [meta["optimizer"], *meta.get("optimizers", [])]
    if len(metas) != len(optimizers):
        raise TrainingError(f"{run_dir}: the checkpoint holds {len(metas)} optimizer(s), this run has "
                            f"{len(optimizers)} (was the sampler changed? resume with the same config)")
    for j, (opt, opt_meta) in enumerate(zip(optimizers, metas)):
        prefix = "opt." if j == 0 else f"opt{j}."
        opt_state = {}
        for pid, keys in opt_meta["state"].items():
            opt_state[int(pid)] = {k: tensors[f"{prefix}{pid}.{k}"].to(device) if k != "step"
                                   else tensors[f"{prefix}{pid}.{k}"] for k in keys}
        opt.load_state_dict({"state": opt_state, "param_groups": opt_meta["param_groups"]})
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    state = TrainState()
    state.epoch = int(meta["epoch"])
    state.best_score = meta["best_score"] if meta["best_score"] is not None else -math.inf
    state.best_epoch = int(meta["best_epoch"])
    state.best_valid = meta["best_valid"]
    state.bad = int(meta["bad"])
    state.seconds = float(meta["seconds"])
    state.seconds_to_best = float(meta["seconds_to_best"])
    state.history = [EpochRecord(r["epoch"], r["loss"], r["seconds"], r["valid"], r.get("train_seconds"))
                     for r in meta["history"]]
    best = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")}
    state.best_state = best or None
    return state
