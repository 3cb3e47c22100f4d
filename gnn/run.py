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
``graph_index.*``      (optional, added later) the serving layer's compact adjacency of the graph
                       the run is served over (:mod:`kgrec.serving.index`), so that a one-off
                       ``kgrec recommend`` does not read the whole graph; dropped when the run is
                       saved again (it is derived from the run's vectors and the graph)
``intent_vectors.*``   (optional, added later) text vectors of the items and of their attributes
                       (tags, genres, KG entities) in the serving index's row order, for queries
                       and text feedback (:mod:`kgrec.serving.intent.vectors`); read back
                       memory-mapped; dropped when the run is saved again
=====================  ==========================================================================

The manifest names only files of this table, inside the directory: an entry with ``..``, an
absolute path, a symlink that leads outside, an unknown name, a malformed or deeply nested
``manifest.json`` are all a :class:`RunDirError`.

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
from .metrics import Metrics
from .foldin import ColdStart, FoldIn, NotSupportedError

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
FILES = ("config.yaml", "run.json", "metrics.json", "history.json", "weights.safetensors",
         "vectors.safetensors", "split.safetensors", "id_maps.json", "versions.json", "curve.png")
REQUIRED = tuple(f for f in FILES if f != "curve.png")
ATTACHABLE = ("graph_index.json", "graph_index.safetensors")
"""Files another layer may add to a finished run directory with :func:`attach_files` (the serving
layer's graph index); :meth:`Run.save` removes them, as they derive from what it overwrites."""
INTENT_FILES = ("intent_vectors.json", "intent_vectors.npy")
"""The serving layer's intent vectors (text vectors of items and attributes), attached like the
graph index but kept apart from it: saving one never detaches the other."""
ATTACHED = ATTACHABLE + INTENT_FILES
"""Every file that may be attached to a finished run directory."""
MAX_MANIFEST_BYTES = 1 << 20
CHECKPOINT = "checkpoint.safetensors"  # what an interrupted `kgrec train` leaves (kgrec.gnn.train)


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training: mean loss, validation metrics (when validated) and seconds (the whole
    epoch; ``train_seconds``: its steps only, without validation; None in runs saved before it was
    recorded)."""

    epoch: int
    loss: float
    seconds: float
    valid: Mapping[str, float] = field(default_factory=dict)
    train_seconds: float | None = None


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
    - ``user_weights``: the names in ``weights`` whose rows ``0 .. num_users - 1`` belong to the
      users, in id-map order, as the model declares them (:meth:`RecModel.user_weights`); None for a
      run saved before runs recorded it (then the model's registered class is asked).
      :meth:`without_user` clears exactly those rows, the user's vectors and pairs.
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
    user_weights: tuple[str, ...] | None = None

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

    def fold_in_many(self, item_lists: Sequence[Sequence[int] | np.ndarray]) -> np.ndarray:
        """User vectors (float32 ``[n, d]``) for ``n`` interaction lists at once (unit weights); row
        ``i`` equals ``fold_in(item_lists[i])``."""
        return self.fold.apply_many([np.asarray(x, dtype=np.int64) for x in item_lists])

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
        for name in ATTACHED:  # derived from what is overwritten now
            (path / name).unlink(missing_ok=True)
        write_text(path / "config.yaml", _yaml(self.config.model_dump(mode="json")))
        run_meta = {
            "format": FORMAT, "graph": self.graph, "model": self.config.model, "user_label": self.user_label,
            "item_label": self.item_label, "interaction": list(self.interaction), "text_model": self.text_model,
            "fold_in": self.fold.meta(), "cold_start": None if self.cold is None else self.cold.meta(),
            "user_weights": None if self.user_weights is None else list(self.user_weights),
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
        for key in ("cold_items", "valid_cold_items"):
            if getattr(self.split, key) is not None:
                split[key] = getattr(self.split, key)
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
                      sp.get("cold_items"), sp.get("valid_cold_items"))
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
                   text_model=meta.get("text_model"), path=path,
                   user_weights=None if meta.get("user_weights") is None else tuple(meta["user_weights"]))

    def __repr__(self) -> str:
        return f"Run({self.summary()}, path={str(self.path) if self.path else None!r})"

    # -- privacy ----------------------------------------------------------------------------------
    def declared_user_weights(self) -> tuple[str, ...]:
        """The names in ``weights`` that hold one row per user (see ``user_weights``)."""
        if self.user_weights is not None:
            return self.user_weights
        from .registry import model_class  # a run saved before the declaration was recorded

        return tuple(model_class(self.config.model).user_weights(self.user_label))

    def without_user(self, user: str) -> tuple[Run, bool]:
        """A copy without one user, and whether the run knew them.

        The user's id becomes a random tombstone (not derived from the id), their rows of the user
        vectors, of every declared per-user weight (:meth:`declared_user_weights`) and of the
        cold-start basis become zeros, and their train / valid / test pairs are dropped. The
        model's shared parameters (item vectors, projections) stay: they were trained on everyone.
        """
        import secrets
        from dataclasses import replace as copy_with

        label = self.user_label
        id_map = self.id_maps[label]
        if user not in id_map:
            return self, False
        row = id_map.index(user)
        ids = list(id_map.ids)
        ids[row] = f"forgotten-{secrets.token_hex(8)}"
        num_users = len(ids)

        def zeroed(array: np.ndarray) -> np.ndarray:
            array = np.array(array, copy=True)
            array[row] = 0
            return array

        node_vectors = dict(self.node_vectors)
        if label in node_vectors:
            node_vectors[label] = zeroed(node_vectors[label])
        weights = dict(self.weights)
        for name in self.declared_user_weights():
            if name not in weights:
                raise RunDirError(f"{self.path or 'run'}: the model declares per-user weights {name!r}, "
                                  f"which the run does not hold; weights: {', '.join(weights) or 'none'}")
            if np.asarray(weights[name]).shape[0] < num_users:
                raise RunDirError(f"{self.path or 'run'}: per-user weights {name!r} have "
                                  f"{np.asarray(weights[name]).shape[0]} rows for {num_users} users")
            weights[name] = zeroed(weights[name])
        changes: dict[str, Any] = {}
        for part in ("train", "valid", "test"):
            pairs = np.asarray(getattr(self.split, part))
            keep = pairs[0] != row
            changes[part] = pairs[:, keep]
            labels = getattr(self.split, f"{part}_labels")
            if labels is not None:
                changes[f"{part}_labels"] = np.asarray(labels)[keep]
        cold = self.cold
        if cold is not None and label in cold.basis:  # the basis is aligned with the label's rows
            cold = copy_with(cold, basis={**cold.basis, label: zeroed(cold.basis[label])})
        return copy_with(self, id_maps={**self.id_maps, label: IdMap(label, ids, role=id_map.role)},
                         node_vectors=node_vectors, weights=weights, split=copy_with(self.split, **changes),
                         cold=cold), True


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


def _inside(path: Path, name: str) -> Path:
    """``path / name`` for a manifest entry, or a RunDirError: only the file names this module
    knows, and a file (after symlinks) inside the run directory."""
    if not isinstance(name, str) or name not in FILES + ATTACHED:
        raise RunDirError(f"{path / MANIFEST}: entry {name!r} is not a file of a run directory "
                          f"(allowed: {', '.join(FILES + ATTACHED)})")
    target = path / name
    try:
        inside = target.resolve().is_relative_to(path.resolve())
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise RunDirError(f"{target}: cannot resolve: {e}") from e
    if not inside:
        raise RunDirError(f"{target}: leads outside the run directory ({target.resolve()})")
    return target


def read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """The manifest's entries (file name → ``{"sha256", "bytes"}``), checked for shape; a missing,
    oversized, malformed or deeply nested manifest, or an entry outside the run directory, is a
    :class:`RunDirError`."""
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"{path}: no such run directory" if not path.exists() else f"{path}: not a directory")
    mpath = path / MANIFEST
    if not mpath.is_file():
        if (path / CHECKPOINT).is_file():
            raise RunDirError(f"{path}: an interrupted run (a checkpoint, no {MANIFEST}); finish it with "
                              "`kgrec train ... --out DIR --resume`")
        raise RunDirError(f"{path}: not a run directory (no {MANIFEST}; a run directory is what "
                          "`kgrec train ... --out DIR` writes)")
    size = mpath.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise RunDirError(f"{mpath}: {size} bytes; a manifest is at most {MAX_MANIFEST_BYTES}")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        what = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise RunDirError(f"{mpath}: unreadable manifest: {what}") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise RunDirError(f"{mpath}: unreadable manifest: no 'files' object")
    for name, entry in files.items():
        _inside(path, name)
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                and isinstance(entry.get("bytes"), int) and not isinstance(entry.get("bytes"), bool)):
            raise RunDirError(f"{mpath}: entry {name!r} is not {{\"sha256\": str, \"bytes\": int}}")
    return files


def verify_manifest(path: Path) -> None:
    """Raise :class:`RunDirError` unless every file of the manifest is there, whole and unchanged."""
    path = Path(path)
    files = read_manifest(path)
    for name in REQUIRED:
        if name not in files:
            raise RunDirError(f"{path / MANIFEST}: the manifest does not list {name}")
    for name, entry in files.items():
        p = _inside(path, name)
        if not p.is_file():
            raise RunDirError(f"{p}: missing (listed in the manifest)")
        size = p.stat().st_size
        if size != entry["bytes"]:
            raise RunDirError(f"{p}: {size} bytes, the manifest says {entry['bytes']} (truncated or changed)")
        if sha256_file(p) != entry["sha256"]:
            raise RunDirError(f"{p}: sha256 differs from the manifest (changed after the run was saved)")


def attach_files(path: str | os.PathLike, names: Sequence[str]) -> None:
    """Add files (of :data:`ATTACHED`, already written into the finished run directory) to its
    manifest, after verifying the manifest as it is: a tampered run is never blessed."""
    path = Path(path)
    verify_manifest(path)
    files = read_manifest(path)
    for name in names:
        if name not in ATTACHED:
            raise RunDirError(f"{name!r} cannot be attached to a run directory (allowed: {', '.join(ATTACHED)})")
        p = _inside(path, name)
        files[name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    write_text(path / MANIFEST, json.dumps({"format": FORMAT, "files": files}, indent=2))


def detach_files(path: str | os.PathLike, names: Sequence[str]) -> None:
    """Remove attached files (of :data:`ATTACHED`) and their manifest entries."""
    path = Path(path)
    files = read_manifest(path)
    for name in names:
        if name not in ATTACHED:
            raise RunDirError(f"{name!r} is not an attached file (allowed: {', '.join(ATTACHED)})")
        files.pop(name, None)
    write_text(path / MANIFEST, json.dumps({"format": FORMAT, "files": files}, indent=2))
    for name in names:
        (path / name).unlink(missing_ok=True)


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
            monitored = [(r.epoch, r.valid["monitored"]) for r in history if "monitored" in r.valid]
            if monitored:  # the model's own score that kept the epoch (kgrec: its blend with the block)
                ax2.plot(*zip(*monitored), color="tab:green", marker=".", label="valid, the score that keeps the epoch")
                ax2.legend(loc="lower right")
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


__all__ = ["ATTACHABLE", "ATTACHED", "INTENT_FILES", "EpochRecord", "Run", "RunMetrics", "NotSupportedError",
           "attach_files", "detach_files",
           "package_versions", "read_manifest", "verify_manifest"]
