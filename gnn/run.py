"""`Run`: the result of training, and its run directory.

A run directory holds (each file listed with its sha256 in ``manifest.json``, which
:meth:`Run.load` verifies: a truncated, missing or tampered file raises :class:`RunDirError`):

=====================  ==========================================================================
``config.yaml``        the effective :class:`TrainConfig` (model defaults applied)
``run.json``           graph name, roles, text model, fold-in / cold-start recipes' parameters
``metrics.json``       validation and test metrics at the best epoch, timings, peak memory
``history.json``       per-epoch loss, validation metric and seconds
``weights.safetensors`` the model's parameters (safetensors only; never pickle)
``vectors.safetensors`` final vectors of every embedded node type (``node.<label>``) and the
                       fold-in / cold-start tensors
``split.safetensors``  the train / valid / test pairs (row positions) and labels
``id_maps.json``       label → external ids in row order
``versions.json``      versions of kgrec, torch, torch_geometric, transformers, numpy, python
``curve.png``          training loss and validation metric per epoch
=====================  ==========================================================================

Scores are dot products: ``score(u, i) = run.user_vectors[u] @ run.item_vectors[i]``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from kgrec.errors import RunDirError

from .config import TrainConfig
from .data import IdMap, Split, UserItems
from .evaluate import Metrics
from .foldin import ColdStart, FoldIn, NotSupportedError

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
FILES = ("config.yaml", "run.json", "metrics.json", "history.json", "weights.safetensors",
         "vectors.safetensors", "split.safetensors", "id_maps.json", "versions.json", "curve.png")
REQUIRED = tuple(f for f in FILES if f != "curve.png")


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training: mean loss, validation metrics (when validated) and seconds."""

    epoch: int
    loss: float
    seconds: float
    valid: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunMetrics:
    """Validation and test metrics at the best epoch, with timings.

    ``extra`` holds protocol details (the F1 threshold chosen on validation for ``kgcn``).
    """

    valid: Metrics
    test: Metrics
    best_epoch: int
    epochs: int
    seconds: float
    seconds_per_epoch: float
    seconds_to_best: float
    peak_memory_mb: float
    device: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"valid": self.valid.to_dict(), "valid_users": int(self.valid.count),
                "test": self.test.to_dict(), "test_users": int(self.test.count),
                "best_epoch": int(self.best_epoch), "epochs": int(self.epochs), "seconds": float(self.seconds),
                "seconds_per_epoch": float(self.seconds_per_epoch), "seconds_to_best": float(self.seconds_to_best),
                "peak_memory_mb": float(self.peak_memory_mb), "device": str(self.device),
                "extra": json.loads(json.dumps(dict(self.extra), default=_jsonable))}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunMetrics:
        return cls(Metrics(d["valid"], d.get("valid_users", 0)), Metrics(d["test"], d.get("test_users", 0)),
                   int(d["best_epoch"]), int(d["epochs"]), float(d["seconds"]), float(d["seconds_per_epoch"]),
                   float(d["seconds_to_best"]), float(d["peak_memory_mb"]), str(d["device"]), d.get("extra", {}))


@dataclass(frozen=True, eq=False)
class Run:
    """A trained model's outcome: config, metrics, final vectors, id maps and recipes.

    What the serving layer uses:

    - ``id_maps[label]``: :class:`IdMap` of every label (external id ↔ row).
    - ``node_vectors[label]``: final float32 vectors ``[num_nodes(label), d]`` of every node type the
      model embeds (users and items always; kgrec embeds every label).
    - ``user_vectors`` / ``item_vectors``: score = ``user_vectors[u] @ item_vectors[i]``.
    - ``train_items(u)``: the items user ``u`` was trained on (to leave out of recommendations).
    - ``fold_in(items, weights)``: a user vector from a few interactions, without retraining.
    - ``item_from_text(text_vector, neighbours)``: a cold-start item vector.
    - ``config`` (:class:`TrainConfig`), ``metrics`` (:class:`RunMetrics`), ``history``, ``path``.
    """

    config: TrainConfig
    graph: str
    user_label: str
    item_label: str
    interaction: tuple[str, str, str]
    id_maps: Mapping[str, IdMap]
    node_vectors: Mapping[str, np.ndarray]
    split: Split
    metrics: RunMetrics
    history: tuple[EpochRecord, ...]
    fold: FoldIn
    cold: ColdStart | None = None
    weights: Mapping[str, np.ndarray] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    text_model: str | None = None
    path: Path | None = None

    # -- what serving needs ------------------------------------------------------------------------
    @property
    def user_vectors(self) -> np.ndarray:
        """``[num_users, d]`` float32."""
        return self.node_vectors[self.user_label]

    @property
    def item_vectors(self) -> np.ndarray:
        """``[num_items, d]`` float32."""
        return self.node_vectors[self.item_label]

    @property
    def model(self) -> str:
        return self.config.model

    def train_items(self, user_index: int) -> np.ndarray:
        """Row positions of the items user ``user_index`` was trained on (sorted, int64)."""
        return self._train()[int(user_index)].copy()

    def _train(self) -> UserItems:
        cache = self.__dict__.get("_train_cache")
        if cache is None:
            cache = self.split.user_items("train")
            object.__setattr__(self, "_train_cache", cache)
        return cache

    def fold_in(self, item_indices: Sequence[int] | np.ndarray, weights: Sequence[float] | np.ndarray | None = None
                ) -> np.ndarray:
        """A user vector (float32 ``[d]``) from the items someone interacted with, without retraining;
        score items with ``item_vectors @ vector``."""
        return self.fold.apply(np.asarray(item_indices, dtype=np.int64), None if weights is None else np.asarray(weights))

    def item_from_text(self, text_vector: np.ndarray | None, neighbours: Mapping[str, np.ndarray] | None = None
                       ) -> np.ndarray:
        """A vector (float32 ``[d]``) for a new item from its text vector (same text model as the run)
        and the row positions of its KG neighbours per label; score it with ``user_vectors @ vector``.

        Raises:
            NotSupportedError: the run's model has no way to place an unseen item (BPR-MF, LightGCN, ItemKNN).
        """
        if self.cold is None:
            raise NotSupportedError(f"model {self.config.model!r} cannot place a new item from text; "
                                    f"models that can: kgrec, textknn, pop")
        return self.cold.apply(text_vector, neighbours)

    def scores(self, user_indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """``[len(users), num_items]`` scores (dot products)."""
        return self.user_vectors[np.asarray(user_indices, dtype=np.int64)] @ self.item_vectors.T

    def summary(self) -> str:
        m = self.metrics
        key = self.config.monitor_metric
        return (f"{self.graph} {self.config.model} split={self.config.split} seed={self.config.seed}: "
                f"valid {key}={m.valid.get(key, float('nan')):.4f} test {m.test} "
                f"(best epoch {m.best_epoch}/{m.epochs}, {m.seconds:.0f}s)")

    # -- persistence ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Run:
        """Write the run directory (atomically per file) and its manifest; returns the run with ``path``."""
        from safetensors.numpy import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_text(path / "config.yaml", _yaml(self.config.model_dump(mode="json")))
        run_meta = {
            "format": FORMAT, "graph": self.graph, "model": self.config.model, "user_label": self.user_label,
            "item_label": self.item_label, "interaction": list(self.interaction), "text_model": self.text_model,
            "fold_in": self.fold.meta(), "cold_start": None if self.cold is None else self.cold.meta(),
            "split": {"kind": self.split.kind, "seed": self.split.seed, "num_users": self.split.num_users,
                      "num_items": self.split.num_items},
        }
        write_text(path / "run.json", json.dumps(run_meta, indent=2))
        write_text(path / "metrics.json", json.dumps(self.metrics.to_dict(), indent=2))
        write_text(path / "history.json", json.dumps([_record_dict(r) for r in self.history], indent=1))
        write_text(path / "versions.json", json.dumps(dict(self.versions) or package_versions(), indent=2))
        write_text(path / "id_maps.json", json.dumps({k: v.to_dict() for k, v in self.id_maps.items()}))
        tensors: dict[str, np.ndarray] = {f"node.{k}": v for k, v in self.node_vectors.items()}
        tensors.update({f"fold.{k}": v for k, v in self.fold.tensors().items()})
        if self.cold is not None:
            tensors.update({f"cold.{k}": v for k, v in self.cold.tensors().items()})
        _save_st(save_file, {k: _contig(v) for k, v in tensors.items()}, path / "vectors.safetensors")
        _save_st(save_file, {k: _contig(v) for k, v in self.weights.items()} or {"_empty": np.zeros(0, np.float32)},
                 path / "weights.safetensors")
        split = {"train": self.split.train, "valid": self.split.valid, "test": self.split.test}
        for part in ("train", "valid", "test"):
            labels = getattr(self.split, f"{part}_labels")
            if labels is not None:
                split[f"{part}_labels"] = labels
        if self.split.cold_items is not None:
            split["cold_items"] = self.split.cold_items
        _save_st(save_file, {k: _contig(np.asarray(v, dtype=np.int64)) for k, v in split.items()},
                 path / "split.safetensors")
        try:
            plot_history(self.history, path / "curve.png", title=f"{self.graph} · {self.config.model}",
                         metric=self.config.monitor_metric)
        except Exception as e:  # a plot must never lose a run
            logger.warning("could not draw the training curve: %s", e)
        write_manifest(path)
        return replace(self, path=path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Run:
        """Read a run directory, verifying every file against the manifest.

        Raises:
            RunDirError: missing directory, manifest or file; a file whose size or sha256 differs.
        """
        from safetensors.numpy import load_file

        path = Path(path)
        verify_manifest(path)
        try:
            import yaml

            config = TrainConfig.model_validate(yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")))
            meta = json.loads((path / "run.json").read_text(encoding="utf-8"))
            metrics = RunMetrics.from_dict(json.loads((path / "metrics.json").read_text(encoding="utf-8")))
            history = tuple(EpochRecord(**r) for r in json.loads((path / "history.json").read_text(encoding="utf-8")))
            versions = json.loads((path / "versions.json").read_text(encoding="utf-8"))
            id_maps = {k: IdMap.from_dict(v) for k, v in
                       json.loads((path / "id_maps.json").read_text(encoding="utf-8")).items()}
            vectors = load_file(str(path / "vectors.safetensors"))
            weights = {k: v for k, v in load_file(str(path / "weights.safetensors")).items() if k != "_empty"}
            sp = load_file(str(path / "split.safetensors"))
        except RunDirError:
            raise
        except Exception as e:
            raise RunDirError(f"{path}: cannot read the run directory: {e}") from e
        if meta.get("format") != FORMAT:
            raise RunDirError(f"{path}: run format {meta.get('format')!r}; this kgrec reads format {FORMAT}")
        s = meta["split"]
        split = Split(s["kind"], int(s["seed"]), int(s["num_users"]), int(s["num_items"]), sp["train"], sp["valid"],
                      sp["test"], sp.get("train_labels"), sp.get("valid_labels"), sp.get("test_labels"),
                      sp.get("cold_items"))
        nodes = {k[len("node."):]: v for k, v in vectors.items() if k.startswith("node.")}
        fold = FoldIn.from_tensors(meta["fold_in"]["kind"],
                                   {k[len("fold."):]: v for k, v in vectors.items() if k.startswith("fold.")},
                                   meta["fold_in"])
        cold = None
        if meta.get("cold_start") is not None:
            cold = ColdStart.from_tensors(meta["cold_start"],
                                          {k[len("cold."):]: v for k, v in vectors.items() if k.startswith("cold.")})
        return cls(config=config, graph=meta["graph"], user_label=meta["user_label"], item_label=meta["item_label"],
                   interaction=tuple(meta["interaction"]), id_maps=id_maps, node_vectors=nodes, split=split,
                   metrics=metrics, history=history, fold=fold, cold=cold, weights=weights, versions=versions,
                   text_model=meta.get("text_model"), path=path)

    def __repr__(self) -> str:
        return f"Run({self.summary()}, path={str(self.path) if self.path else None!r})"


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def package_versions() -> dict[str, str]:
    """Versions of the packages that made a run."""
    out = {"python": platform.python_version()}
    for name in ("kgrec", "torch", "torch_geometric", "transformers", "numpy", "safetensors", "torch_sparse"):
        try:
            out[name] = version(name.replace("_", "-")) if name != "torch_geometric" else version("torch_geometric")
        except PackageNotFoundError:
            try:
                out[name] = version(name)
            except PackageNotFoundError:
                continue
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _record_dict(r: EpochRecord) -> dict[str, Any]:
    return {"epoch": r.epoch, "loss": r.loss, "seconds": r.seconds, "valid": dict(r.valid)}


def _contig(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a)


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _save_st(save_file, tensors: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Write a file atomically (a temporary file, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(path: Path) -> None:
    files = {}
    for name in FILES:
        p = path / name
        if p.is_file():
            files[name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    write_text(path / MANIFEST, json.dumps({"format": FORMAT, "files": files}, indent=2))


def verify_manifest(path: Path) -> None:
    """Raise :class:`RunDirError` unless every file of the manifest is there, whole and unchanged."""
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise RunDirError(f"{path}: no {MANIFEST}; not a finished run directory (an interrupted run resumes "
                          f"with --resume)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise RunDirError(f"{mpath}: unreadable manifest: {e}") from e
    for name in REQUIRED:
        if name not in files:
            raise RunDirError(f"{mpath}: the manifest does not list {name}")
    for name, entry in files.items():
        p = path / name
        if not p.is_file():
            raise RunDirError(f"{p}: missing (listed in the manifest)")
        size = p.stat().st_size
        if size != entry.get("bytes"):
            raise RunDirError(f"{p}: {size} bytes, the manifest says {entry.get('bytes')} (truncated or changed)")
        if sha256_file(p) != entry.get("sha256"):
            raise RunDirError(f"{p}: sha256 differs from the manifest (changed after the run was saved)")


def plot_history(history: Sequence[EpochRecord], path: Path, *, title: str = "", metric: str = "ndcg@20") -> None:
    """Training loss and the validation metric per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        epochs = [r.epoch for r in history]
        ax.plot(epochs, [r.loss for r in history], color="tab:blue", label="training loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss", color="tab:blue")
        validated = [(r.epoch, r.valid[metric]) for r in history if metric in r.valid]
        if validated:
            ax2 = ax.twinx()
            ax2.plot(*zip(*validated), color="tab:orange", marker=".", label=f"valid {metric}")
            ax2.set_ylabel(f"validation {metric}", color="tab:orange")
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path.with_name(path.name + ".tmp.png"))
        os.replace(path.with_name(path.name + ".tmp.png"), path)
    finally:
        plt.close(fig)


def copy_run(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy a verified run directory."""
    verify_manifest(Path(src))
    shutil.copytree(src, dst)
    return Path(dst)


__all__ = ["EpochRecord", "Run", "RunMetrics", "NotSupportedError", "package_versions"]
