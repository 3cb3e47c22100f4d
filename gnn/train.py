"""Training: the :class:`Trainer` and the one-call pipeline :func:`train`.

``train(kg, config)`` runs the whole way: text vectors (the text layer, cached) → ``HeteroData`` →
split → training graph (training interactions only) → model → :class:`Trainer` (early stopping on
the validation metric, checkpoints, resume) → test metrics at the best epoch → :class:`Run`, saved
to a run directory.

The trainer picks CUDA when present (with bfloat16 autocast when ``amp``), else the CPU; seeds
every random draw from ``config.seed`` (one ``torch.Generator`` for batches and negatives, whose
state checkpoints keep, so a resumed run continues exactly where it stopped); shows a tqdm bar
with the running loss and the validation metric when ``progress``; and raises
:class:`~kgrec.errors.TrainingError` naming the epoch and batch of a non-finite loss.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgrec.config import kgrec_home
from kgrec.errors import ConfigError, TrainingError
from kgrec.kg import KnowledgeGraph

from .config import TrainConfig
from .data import Split, UserItems, split_interactions, to_heterodata, train_graph
from .evaluate import Metrics, best_threshold, click_metrics, rank_metrics
from .models.base import Batch, ModelInputs, RecModel
from .registry import model_class
from .run import EpochRecord, Run, RunMetrics, package_versions, write_text

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"
# Relations that a store may hold but that are derived from users' whole histories (test items
# included): never trained on unless named in ``relations``.
DERIVED_FROM_HISTORY = ("INTERESTED_IN",)


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cuda`` without CUDA is a :class:`ConfigError`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but torch sees no CUDA device; devices: auto, cpu")
    return torch.device(device)


def sampling_available() -> bool:
    """Whether PyG's neighbour loaders can run (they need pyg-lib or torch-sparse)."""
    import torch_geometric.typing as t

    return bool(t.WITH_PYG_LIB or t.WITH_TORCH_SPARSE)


@dataclass(frozen=True)
class FitResult:
    """What :meth:`Trainer.fit` returns: the history, the best epoch and its validation metrics."""

    history: tuple[EpochRecord, ...]
    best_epoch: int
    best_valid: Metrics
    epochs: int
    seconds: float
    seconds_to_best: float
    peak_memory_mb: float
    device: str
    stopped: str = "epochs"  # why training ended: "epochs", "patience" or "budget"


class _Memory:
    """Peak memory that training adds: CUDA's peak allocation, or on the CPU the peak resident set
    of the process above its size when training starts (graph, features and model already loaded).

    On Linux the kernel keeps the peak itself (``VmHWM`` in ``/proc/self/status``), which catches
    short-lived peaks that sampling misses. It is reset when training starts (``clear_refs`` 5),
    after the C heap has handed back to the system what earlier runs of this process freed
    (``malloc_trim``), so each model of a benchmark gets a figure of its own rather than reusing
    pages an earlier model left resident. Where that is not possible the resident set is sampled
    during training (a lower bound).
    """

    _STATUS = Path("/proc/self/status")

    def __init__(self, device: torch.device):
        self.device = device
        self.kernel_peak = False
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        else:
            _trim_heap()
            self.kernel_peak = _reset_peak_rss()
        self.start = self._status("VmRSS")
        self.peak = self.start

    @classmethod
    def _status(cls, key: str) -> float:
        """A ``kB`` line of ``/proc/self/status`` in MiB (0 where there is no /proc)."""
        try:
            for line in cls._STATUS.read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def sample(self) -> None:
        if self.device.type != "cuda" and not self.kernel_peak:
            self.peak = max(self.peak, self._status("VmRSS"))

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        peak = self._status("VmHWM") if self.kernel_peak else self.peak
        return max(0.0, peak - self.start)


def _trim_heap() -> None:
    """Return freed C-heap memory to the system (glibc ``malloc_trim``), after a garbage collection."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak resident set of this process to its current size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class Trainer:
    """Fits one model: mini-batches of training pairs with sampled negatives, early stopping on the
    validation metric, checkpoints and resume.

    Args:
        config: the effective :class:`TrainConfig`.
        run_dir: where checkpoints go (default: None, no checkpoints).
        resume: continue from ``run_dir``'s checkpoint when there is one (default: False).
        progress: show a tqdm bar (default: False).
    """

    def __init__(self, config: TrainConfig, *, run_dir: str | os.PathLike | None = None, resume: bool = False,
                 progress: bool = False):
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.resume = resume
        self.progress = progress
        self.device = resolve_device(config.device)

    # -- evaluation -------------------------------------------------------------------------------
    def validate(self, model: RecModel, inputs: ModelInputs) -> Metrics:
        return evaluate_model(model, inputs.split, part="valid", config=self.config, device=self.device)

    # -- training ---------------------------------------------------------------------------------
    def fit(self, model: RecModel, inputs: ModelInputs) -> FitResult:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        model.to(self.device)
        memory = _Memory(self.device)
        t0 = time.perf_counter()
        if not model.trainable:
            model.fit()
            model.eval()
            valid = self.validate(model, inputs)
            memory.sample()
            seconds = time.perf_counter() - t0
            record = EpochRecord(0, 0.0, seconds, valid.to_dict())
            return FitResult((record,), 0, valid, 0, seconds, seconds, memory.peak_mb(), str(self.device), "fit")

        sampled = cfg.sampler == "neighbor"
        if sampled and not model.supports_sampling:
            logger.warning("model %r trains on the full graph only; ignoring sampler='neighbor'", model.name)
            sampled = False
        if sampled and not sampling_available():
            logger.warning("sampler='neighbor' needs pyg-lib or torch-sparse (pip install the torch-sparse wheel "
                           "for your torch, see shared/wheels/README.md); training on the full graph instead")
            sampled = False

        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        generator = torch.Generator().manual_seed(cfg.seed)
        state = _State()
        if self.resume and self.run_dir is not None and (self.run_dir / CHECKPOINT).is_file():
            state = load_checkpoint(self.run_dir, model, optimizer, generator)
            logger.info("resuming %s from epoch %d (best %s=%.4f at epoch %d)", model.name, state.epoch,
                        cfg.monitor_metric, state.best_score, state.best_epoch)
        train_pairs = torch.from_numpy(inputs.split.positives("train")).long()
        negatives = _NegativeSampler(inputs.train, model.num_items, cfg.negatives, shared=model.shared_negatives)
        loader = _sampled_loader(inputs, cfg) if sampled else None
        amp = self.device.type == "cuda" and cfg.amp
        monitor = cfg.monitor_metric
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.epochs, initial=state.epoch, desc=f"train {model.name}", unit="epoch")
        history = list(state.history)
        elapsed_before = state.seconds
        t_start = time.perf_counter()
        budget = cfg.max_minutes * 60.0
        stopped = "epochs"
        try:
            for epoch in range(state.epoch + 1, cfg.epochs + 1):
                t_epoch = time.perf_counter()
                model.train()
                total, count = 0.0, 0
                batches = loader if loader is not None else _batches(train_pairs, cfg.batch_size, generator)
                for b, batch in enumerate(batches, start=1):
                    if loader is None:
                        users, pos = batch
                        neg = negatives.sample(users, generator)
                        batch = Batch(users.to(self.device), pos.to(self.device), neg.to(self.device))
                    else:
                        batch = _from_sampled(batch.to(self.device), inputs)
                    optimizer.zero_grad(set_to_none=True)
                    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                        loss = model.loss(batch)
                    if not torch.isfinite(loss):
                        raise TrainingError(f"{model.name}: non-finite loss {loss.item()} at epoch {epoch}, batch {b} "
                                            f"(lr={cfg.lr}; try a smaller lr or a larger reg)")
                    loss.backward()
                    optimizer.step()
                    model.invalidate()
                    total += float(loss.detach()) * len(batch.users)
                    count += len(batch.users)
                    memory.sample()
                mean_loss = total / max(count, 1)
                valid: dict[str, float] = {}
                over_budget = budget > 0 and elapsed_before + time.perf_counter() - t_start >= budget
                if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or over_budget:
                    model.eval()
                    metrics = self.validate(model, inputs)
                    valid = metrics.to_dict()
                    score = valid[monitor]
                    if score > state.best_score:
                        state.best_score, state.best_epoch, state.bad = score, epoch, 0
                        state.best_valid = valid
                        state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                        state.seconds_to_best = elapsed_before + time.perf_counter() - t_start
                    else:
                        state.bad += 1
                seconds = time.perf_counter() - t_epoch
                history.append(EpochRecord(epoch, mean_loss, seconds, valid))
                state.epoch = epoch
                state.history = history
                state.seconds = elapsed_before + time.perf_counter() - t_start
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix({"loss": f"{mean_loss:.4f}", monitor: f"{valid.get(monitor, float('nan')):.4f}",
                                     "best": f"{state.best_score:.4f}"})
                logger.debug("%s epoch %d loss %.5f %s", model.name, epoch, mean_loss, valid)
                stop = state.bad >= cfg.patience or over_budget
                if stop:
                    stopped = "patience" if state.bad >= cfg.patience else "budget"
                if self.run_dir is not None and cfg.checkpoint_every and (epoch % cfg.checkpoint_every == 0 or stop):
                    save_checkpoint(self.run_dir, model, optimizer, generator, state, cfg)
                if stop:
                    why = "early stop" if stopped == "patience" else f"time budget of {cfg.max_minutes:g} min spent"
                    logger.info("%s: %s at epoch %d (best %s=%.4f at epoch %d)", model.name, why, epoch, monitor,
                                state.best_score, state.best_epoch)
                    break
        finally:
            if bar is not None:
                bar.close()
        if state.best_state is not None:
            model.load_state_dict(state.best_state)
        model.eval()
        model.invalidate()
        best = Metrics(state.best_valid or {}, 0)
        return FitResult(tuple(history), state.best_epoch, best, state.epoch, state.seconds, state.seconds_to_best,
                         memory.peak_mb(), str(self.device), stopped)


# -- pieces of the loop ----------------------------------------------------------------------------
class _State:
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


def _batches(pairs: torch.Tensor, batch_size: int, generator: torch.Generator):
    perm = torch.randperm(pairs.shape[1], generator=generator)
    for start in range(0, len(perm), batch_size):
        idx = perm[start:start + batch_size]
        yield pairs[0, idx], pairs[1, idx]


class _NegativeSampler:
    """Uniform negatives, redrawn (a few times) where they hit one of the user's training items;
    or, for models with ``shared_negatives``, one uniform set per batch."""

    def __init__(self, train: UserItems, num_items: int, amount: int, *, shared: bool = False):
        self.num_items = num_items
        self.amount = amount
        self.shared = shared
        users = np.repeat(np.arange(train.num_users), train.counts())
        self.codes = torch.from_numpy(np.sort(users * num_items + train.indices))

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.shared:  # one uniform set for the whole batch (a positive among them is rare and harmless)
            return torch.randint(0, self.num_items, (1, self.amount), generator=generator)
        neg = torch.randint(0, self.num_items, (len(users), self.amount), generator=generator)
        for _ in range(3):
            codes = users.unsqueeze(1) * self.num_items + neg
            pos = torch.searchsorted(self.codes, codes).clamp(max=len(self.codes) - 1)
            hit = self.codes[pos] == codes
            n = int(hit.sum())
            if n == 0:
                break
            neg[hit] = torch.randint(0, self.num_items, (n,), generator=generator)
        return neg


def _sampled_loader(inputs: ModelInputs, cfg: TrainConfig):
    from torch_geometric.loader import LinkNeighborLoader
    from torch_geometric.sampler import NegativeSampling

    graph = inputs.graph
    pairs = torch.from_numpy(inputs.split.positives("train")).long()
    return LinkNeighborLoader(graph, num_neighbors=list(cfg.num_neighbors)[: max(cfg.layers, 1)],
                              edge_label_index=(tuple(inputs.interaction), pairs),
                              neg_sampling=NegativeSampling("triplet", amount=cfg.negatives),
                              batch_size=cfg.batch_size, shuffle=True)


def _from_sampled(batch, inputs: ModelInputs) -> Batch:
    u, i = inputs.user_type, inputs.item_type
    neg = batch[i].dst_neg_index
    if neg.dim() == 1:
        neg = neg.unsqueeze(1)
    return Batch(batch[u].src_index, batch[i].dst_pos_index, neg, graph=batch)


# -- evaluation of a fitted model --------------------------------------------------------------------
def evaluate_model(model: RecModel, split: Split, *, part: str, config: TrainConfig,
                   device: torch.device | None = None, threshold: float | None = None,
                   progress: bool = False) -> Metrics:
    """Validation (``part="valid"``) or test metrics of a fitted model.

    Ranking splits: full ranking; the user's training items are never ranked, nor, when testing,
    their validation items; ``cold-items`` tests rank among the unseen items only. ``kgcn``: AUC and
    F1 over the labelled pairs (F1's threshold chosen on validation).
    """
    model.eval()
    if split.labelled:
        pairs = torch.from_numpy(getattr(split, part)).long()
        labels = getattr(split, f"{part}_labels")
        scores = model.score_pairs(pairs[0], pairs[1]).float().cpu().numpy()
        if threshold is None:
            threshold = best_threshold(scores, labels)
        out = click_metrics(scores, labels, threshold=threshold)
        return Metrics({**out.values, "threshold": threshold}, out.count)
    train = split.user_items("train")
    exclude = [train] if part == "valid" else [train, split.user_items("valid")]
    candidates = split.cold_items if (part == "test" and split.cold_items is not None) else None
    return rank_metrics(model.score_all_items, split.user_items(part), exclude=exclude, ks=config.ks,
                        batch_size=config.eval_batch_size, candidates=candidates, device=device, progress=progress)


# -- checkpoints -------------------------------------------------------------------------------------
def save_checkpoint(run_dir: Path, model: RecModel, optimizer: torch.optim.Optimizer, generator: torch.Generator,
                    state: _State, cfg: TrainConfig) -> None:
    """Everything needed to continue exactly: weights, optimizer moments, the RNG, the best weights
    so far, the history. safetensors for tensors, JSON for the rest; written atomically."""
    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        tensors[f"model.{k}"] = v.detach().cpu().contiguous()
    if state.best_state is not None:
        for k, v in state.best_state.items():
            tensors[f"best.{k}"] = v.contiguous()
    opt = optimizer.state_dict()
    opt_meta: dict[str, Any] = {"param_groups": opt["param_groups"], "state": {}}
    for pid, st in opt["state"].items():
        opt_meta["state"][str(pid)] = []
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{key}"] = value.detach().cpu().contiguous()
                opt_meta["state"][str(pid)].append(key)
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {"epoch": state.epoch, "best_score": state.best_score if math.isfinite(state.best_score) else None,
            "best_epoch": state.best_epoch, "best_valid": state.best_valid, "bad": state.bad,
            "seconds": state.seconds, "seconds_to_best": state.seconds_to_best,
            "history": [{"epoch": r.epoch, "loss": r.loss, "seconds": r.seconds, "valid": dict(r.valid)}
                        for r in state.history],
            "optimizer": opt_meta, "config": cfg.model_dump(mode="json")}
    tmp = run_dir / (CHECKPOINT + ".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, run_dir / CHECKPOINT)
    write_text(run_dir / CHECKPOINT_META, json.dumps(meta))


def load_checkpoint(run_dir: Path, model: RecModel, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> _State:
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(run_dir / CHECKPOINT))
        meta = json.loads((run_dir / CHECKPOINT_META).read_text(encoding="utf-8"))
    except Exception as e:
        raise TrainingError(f"{run_dir}: cannot read the checkpoint to resume from: {e}") from e
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_meta = meta["optimizer"]
    opt_state = {}
    for pid, keys in opt_meta["state"].items():
        opt_state[int(pid)] = {k: tensors[f"opt.{pid}.{k}"].to(device) if k != "step" else tensors[f"opt.{pid}.{k}"]
                               for k in keys}
    optimizer.load_state_dict({"state": opt_state, "param_groups": opt_meta["param_groups"]})
    generator.set_state(tensors["rng.generator"])
    torch.set_rng_state(tensors["rng.torch"])
    state = _State()
    state.epoch = int(meta["epoch"])
    state.best_score = meta["best_score"] if meta["best_score"] is not None else -math.inf
    state.best_epoch = int(meta["best_epoch"])
    state.best_valid = meta["best_valid"]
    state.bad = int(meta["bad"])
    state.seconds = float(meta["seconds"])
    state.seconds_to_best = float(meta["seconds_to_best"])
    state.history = [EpochRecord(r["epoch"], r["loss"], r["seconds"], r["valid"]) for r in meta["history"]]
    best = {k[len("best."):]: v for k, v in tensors.items() if k.startswith("best.")}
    state.best_state = best or None
    return state


# -- the pipeline --------------------------------------------------------------------------------------
def prepare(kg: KnowledgeGraph, config: TrainConfig, *, vectors: Any = None, text: Any = None,
            progress: bool | None = None) -> tuple[ModelInputs, Any]:
    """Graph + vectors → (model inputs, the full HeteroData): the split and the training graph.

    ``kg`` is the graph to train on (:meth:`KnowledgeGraph.core` already applied); ``vectors``
    None = encode them with ``text`` (a :class:`kgrec.text.TextConfig`) when the model uses text.
    """
    cls = model_class(config.model)
    table = _vector_table(kg, vectors, needed=cls.uses_text and config.text, text=text, progress=progress)
    exclude = list(config.exclude_relations)
    present = set(kg.schema.relation_names())
    for name in DERIVED_FROM_HISTORY:
        if name in present and name not in exclude and name not in (config.relations or []):
            exclude.append(name)
    exclude = [r for r in exclude if r in present or logger.warning("exclude_relations: %r is not a relation of "
                                                                     "graph %r", r, kg.name)]
    data = to_heterodata(kg, table, relations=config.relations, exclude_relations=exclude)
    split = split_interactions(kg, config.split, seed=config.effective_split_seed, valid=config.valid_fraction,
                               test=config.test_fraction)
    graph = train_graph(data, split)
    inputs = ModelInputs(graph, split, split.user_items("train"), kg.schema.user_label, kg.schema.item_label,
                         tuple(kg.schema.interaction))
    return inputs, data


def _vector_table(kg: KnowledgeGraph, vectors: Any, *, needed: bool, text: Any = None,
                  progress: bool | None = None) -> dict[str, np.ndarray]:
    if vectors is None and needed:
        from kgrec.text import embed_features

        vectors = embed_features(kg, text, progress=progress)
    if vectors is None:
        return {}
    table = dict(getattr(vectors, "vectors", vectors))
    # A user's document is written from their whole history, test items included: never a feature.
    table.pop(kg.schema.user_label, None)
    return table


def default_run_dir(kg: KnowledgeGraph, config: TrainConfig) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return kgrec_home() / "runs" / f"{kg.name}-{config.model}-{config.split}-s{config.seed}-{stamp}"


def train(kg: KnowledgeGraph, config: TrainConfig | None = None, *, vectors: Any = None, text: Any = None,
          out: str | os.PathLike | None = None, progress: bool | None = None, resume: bool = False,
          save: bool = True) -> Run:
    """Train one model on ``kg`` and return its :class:`Run` (saved to ``out``).

    Args:
        kg: the knowledge graph (validated). With ``config.min_interactions > 1`` the model trains
            on :meth:`KnowledgeGraph.core` of it.
        config: a :class:`TrainConfig` (default: ``TrainConfig()``, the kgrec model, random split).
        vectors: the node text vectors (``NodeVectors`` or label → array), aligned with the graph
            trained on; None = compute them with :func:`kgrec.text.embed_graph` (cached) when the
            model uses text.
        text: how to compute them: a :class:`kgrec.text.TextConfig` (default: ``TextConfig()``,
            full documents of every label but users'). ``TextConfig(documents="short",
            labels="items")`` is the quick path: short documents of the items only.
        out: the run directory (default: ``KGREC_HOME/runs/<graph>-<model>-<split>-s<seed>-<time>``).
        progress: progress bars (encoding, training); None = auto: on in a terminal or a notebook,
            off otherwise (:func:`kgrec.config.show_progress`) (default: None).
        resume: continue from the checkpoint in ``out`` (default: False).
        save: write the run directory (default: True).
    """
    from kgrec.config import show_progress

    config = (config or TrainConfig()).effective()
    progress = show_progress(progress)
    kg = kg.core(min_interactions=config.min_interactions)
    cls = model_class(config.model)
    run_dir = Path(out) if out is not None else default_run_dir(kg, config)
    if resume and not (run_dir / CHECKPOINT).is_file():
        logger.info("no checkpoint in %s: training from the start", run_dir)
    inputs, data = prepare(kg, config, vectors=vectors, text=text, progress=progress)
    torch.manual_seed(config.seed)
    model = cls(inputs, config)
    trainer = Trainer(config, run_dir=run_dir if (save or resume) else None, resume=resume, progress=progress)
    fit = trainer.fit(model, inputs)
    run = finish(kg, model, inputs, data, config, fit, trainer.device, vectors=vectors)
    if save:
        run = run.save(run_dir)
        for name in (CHECKPOINT, CHECKPOINT_META):
            (run_dir / name).unlink(missing_ok=True)
        logger.info("%s → %s", run.summary(), run_dir)
    return run


def finish(kg: KnowledgeGraph, model: RecModel, inputs: ModelInputs, data: Any, config: TrainConfig,
           fit: FitResult, device: torch.device, *, vectors: Any = None) -> Run:
    """Test the fitted model and gather the :class:`Run`."""
    split = inputs.split
    extra: dict[str, Any] = {"stopped": fit.stopped}
    # accuracy (issue 16): choices the model makes on validation after fitting (kgrec's closed-form block)
    selection = model.after_fit()
    if selection:
        extra["selection"] = selection
    if split.labelled:
        valid = evaluate_model(model, split, part="valid", config=config, device=device)
        threshold = float(valid["threshold"])
        test = evaluate_model(model, split, part="test", config=config, device=device, threshold=threshold)
        extra["threshold"] = threshold
    else:
        valid = fit.best_valid if fit.best_valid.values and not selection else evaluate_model(
            model, split, part="valid", config=config, device=device)
        valid = Metrics(valid.values, int((split.user_items("valid").counts() > 0).sum()))
        test = evaluate_model(model, split, part="test", config=config, device=device)
    if split.cold_items is not None:
        extra["test_candidates"] = "cold items only"
    if hasattr(model, "relation_weights"):
        extra["relation_weights"] = model.relation_weights()
    emb = model.embeddings()
    node_vectors = {k: v.detach().float().cpu().numpy() for k, v in emb.items()}
    fold = model.fold_in()
    cold = model.cold_start()
    weights = {k: v.detach().float().cpu().numpy() if v.is_floating_point() else v.detach().cpu().numpy()
               for k, v in model.state_dict().items() if not v.is_sparse and v.layout == torch.strided}
    epochs = max(fit.epochs, 1)
    metrics = RunMetrics(valid, test, fit.best_epoch, fit.epochs, fit.seconds, fit.seconds / epochs,
                         fit.seconds_to_best, fit.peak_memory_mb, fit.device, extra)
    text_model = getattr(vectors, "model_id", None)
    return Run(config=config, graph=kg.name, user_label=inputs.user_type, item_label=inputs.item_type,
               interaction=tuple(inputs.interaction), id_maps=dict(data.id_maps),
               node_vectors=node_vectors, split=split, metrics=metrics, history=fit.history, fold=fold, cold=cold,
               weights=weights, versions=package_versions(), text_model=text_model,
               user_weights=type(model).user_weights(inputs.user_type))

