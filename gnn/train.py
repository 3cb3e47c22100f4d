"""Training: the :class:`Trainer` and the one-call pipeline :func:`train`.

``train(kg, config)`` runs the whole way: text vectors (the text layer, cached) → ``HeteroData`` →
split → training graph (training interactions only) → model → :class:`Trainer` (early stopping on
the validation metric, checkpoints, resume) → test metrics at the best epoch → :class:`Run`, saved
to a run directory.

The trainer picks CUDA when present (with bfloat16 autocast when ``amp``), else the CPU; picks
full-graph or neighbour-sampled steps (``sampler``, see :mod:`kgrec.gnn.sampling`: ``auto`` takes
the full graph where it fits and is no slower) and logs the choice; seeds every random draw from
``config.seed`` (one ``torch.Generator`` for batches and negatives, whose state checkpoints keep,
so a resumed run continues exactly where it stopped); validates during training on at most
``valid_users`` users (a fixed sample, the same every epoch, when users are more: the full
validation runs once at the end); shows a tqdm bar with the running loss and the validation metric
when ``progress``; and raises :class:`~kgrec.errors.TrainingError` naming the epoch and batch of a
non-finite loss. Under ``torchrun`` (:mod:`kgrec.gnn.distributed`) each rank trains on its own shard
of the positive pairs through PyTorch DDP and rank 0 alone validates and checkpoints.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from kgrec.config import kgrec_home
from kgrec.errors import ConfigError, TrainingError
from kgrec.kg import KnowledgeGraph

from .checkpoint import (CHECKPOINT, CHECKPOINT_META, TrainState, load_checkpoint, remove_checkpoint,
                         save_checkpoint)
from .config import TrainConfig
from .data import split_interactions, to_heterodata, train_graph
from .evaluate import Metrics, evaluate_model, validation_sample
from .lazy_adam import RowAdam
from .memory import PeakMemory
from .models.base import Batch, ModelInputs, RecModel
from .models.propagation import History
from .registry import model_class
from .run import EpochRecord, Run, RunMetrics, package_versions
from .sampling import (SUBGRAPH_SAMPLERS, NegativeSampler, NeighborBatches, SamplerChoice, choose_sampler,
                       sampling_available)

if TYPE_CHECKING:
    from .distributed import Ranks

logger = logging.getLogger(__name__)

__all__ = ["CHECKPOINT", "CHECKPOINT_META", "FitResult", "Trainer", "evaluate_model", "finish", "prepare",
           "resolve_device", "sampling_available", "train"]

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


@dataclass(frozen=True)
class FitResult:
    """What :meth:`Trainer.fit` returns: the history, the best epoch and its validation metrics.

    ``sampler`` is the sampler that ran (``full`` or ``neighbor``) and ``sampler_reason`` why;
    ``valid_users`` the size of the fixed validation sample used during training (0: every user).
    """

    history: tuple[EpochRecord, ...]
    best_epoch: int
    best_valid: Metrics
    epochs: int
    seconds: float
    seconds_to_best: float
    peak_memory_mb: float
    device: str
    stopped: str = "epochs"  # why training ended: "epochs", "patience" or "budget"
    sampler: str = "full"
    sampler_reason: str = ""
    valid_users: int = 0


class _LossModule(torch.nn.Module):
    """``forward(batch) = model.loss(batch)``: what DDP wraps (it syncs gradients through forward)."""

    def __init__(self, model: RecModel):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.model.loss(batch)


class Trainer:
    """Fits one model: mini-batches of training pairs with sampled negatives (full-graph or
    neighbour-sampled steps), early stopping on the validation metric, checkpoints and resume.

    Args:
        config: the effective :class:`TrainConfig`.
        run_dir: where checkpoints go (default: None, no checkpoints).
        resume: continue from ``run_dir``'s checkpoint when there is one (default: False).
        progress: show a tqdm bar (default: False).
        ranks: the process group of a ``torchrun`` launch (default: None, one process); see
            :mod:`kgrec.gnn.distributed`.
        sync_log: a folder where each rank appends, after every optimizer step, a digest of its
            weights (``rank<r>.txt``: ``epoch step sha256``), to check that the ranks stay identical
            (default: None).
    """

    def __init__(self, config: TrainConfig, *, run_dir: str | Path | None = None, resume: bool = False,
                 progress: bool = False, ranks: Ranks | None = None, sync_log: str | Path | None = None):
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.resume = resume
        self.progress = progress
        self.ranks = ranks
        self.sync_log = Path(sync_log) if sync_log is not None else None
        self.device = ranks.device if ranks is not None else resolve_device(config.device)

    @property
    def is_main(self) -> bool:
        """Rank 0 (or the only process): the one that validates, checkpoints and reports."""
        return self.ranks is None or self.ranks.rank == 0

    # -- evaluation -------------------------------------------------------------------------------
    def validate(self, model: RecModel, inputs: ModelInputs, users: np.ndarray | None = None) -> Metrics:
        """Validation metrics (of ``users`` only, when given)."""
        return evaluate_model(model, inputs.split, part="valid", config=self.config, device=self.device, users=users)

    # -- training ---------------------------------------------------------------------------------
    def fit(self, model: RecModel, inputs: ModelInputs) -> FitResult:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        model.to(self.device)
        memory = PeakMemory(self.device)
        t0 = time.perf_counter()
        if not model.trainable:
            model.fit()
            model.eval()
            valid = self.validate(model, inputs) if self.is_main else Metrics({}, 0)
            memory.sample()
            seconds = time.perf_counter() - t0
            record = EpochRecord(0, 0.0, seconds, valid.to_dict())
            return FitResult((record,), 0, valid, 0, seconds, seconds, memory.peak_mb, str(self.device), "fit",
                             sampler="none", sampler_reason="fitted in closed form")

        negatives = NegativeSampler(inputs.train, model.num_items, cfg.negatives, shared=model.shared_negatives)
        loader = self._sampler(model, inputs, negatives)
        choice = self.choice
        sparse = loader is not None and not (self.ranks is not None and self.ranks.backend == "nccl")
        sparse_params = _sparse_embeddings(model, sparse)
        if choice.name == "history":
            model.history = History()
        optimizers = _optimizers(model, cfg, sparse_params)
        generator = torch.Generator().manual_seed(cfg.seed)
        state = TrainState()
        if self.resume and self.run_dir is not None and (self.run_dir / CHECKPOINT).is_file():
            state = load_checkpoint(self.run_dir, model, optimizers, generator)
            logger.info("resuming %s from epoch %d (best %s=%.4f at epoch %d)", model.name, state.epoch,
                        cfg.monitor_metric, state.best_score, state.best_epoch)
        train_pairs = torch.from_numpy(inputs.split.positives("train")).long()
        sample = validation_sample(inputs.split, cfg.valid_users, seed=cfg.seed)
        if sample is not None:
            logger.info("validating during training on a fixed sample of %d users (valid_users); the full "
                        "validation runs at the end", len(sample))
        step = _LossModule(model)
        if self.ranks is not None:
            step = self.ranks.wrap(step, find_unused_parameters=loader is not None, apart=sparse_params)
        amp = self.device.type == "cuda" and cfg.amp
        monitor = cfg.monitor_metric
        bar = None
        if self.progress and self.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.epochs, initial=state.epoch, desc=f"train {model.name} ({choice.name})", unit="epoch")
        history = list(state.history)
        elapsed_before = state.seconds
        t_start = time.perf_counter()
        budget = cfg.max_minutes * 60.0
        stopped = "epochs"
        try:
            for epoch in range(state.epoch + 1, cfg.epochs + 1):
                t_epoch = time.perf_counter()
                if model.history is not None:  # the deeper layers' states, from this epoch's weights
                    model.refresh_history()
                model.train()
                draws = self._draws(epoch, generator)
                total, count = 0.0, 0
                for b, index in enumerate(self._positions(train_pairs.shape[1], generator), start=1):
                    if loader is None:
                        users, pos = train_pairs[0, index], train_pairs[1, index]
                        neg = negatives.sample(users, draws)
                        batch = Batch(users.to(self.device), pos.to(self.device), neg.to(self.device))
                    else:
                        batch = loader.batch(index, draws)
                        batch = Batch(batch.users.to(self.device), batch.pos.to(self.device),
                                      batch.neg.to(self.device), graph=batch.graph.to(self.device))
                    for opt in optimizers:
                        opt.zero_grad(set_to_none=True)
                    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=amp):
                        loss = step(batch)
                    if not torch.isfinite(loss):
                        raise TrainingError(f"{model.name}: non-finite loss {loss.item()} at epoch {epoch}, batch {b} "
                                            f"(lr={cfg.lr}; try a smaller lr or a larger reg)")
                    loss.backward()
                    if self.ranks is not None and sparse_params:
                        self.ranks.reduce_sparse(sparse_params)
                    for opt in optimizers:
                        opt.step()
                    model.invalidate()
                    total += float(loss.detach()) * len(batch.users)
                    count += len(batch.users)
                    memory.sample()
                    if self.sync_log is not None:
                        self._log_digest(model, epoch, b)
                train_seconds = time.perf_counter() - t_epoch  # the steps (and the history's refresh)
                if self.ranks is not None:
                    total, count = self.ranks.sum(total, count)
                mean_loss = total / max(count, 1)
                valid: dict[str, float] = {}
                over_budget = budget > 0 and elapsed_before + time.perf_counter() - t_start >= budget
                if self.is_main and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs or over_budget):
                    model.eval()
                    valid = self.validate(model, inputs, sample).to_dict()
                    score = model.monitor(valid, monitor)
                    if score != valid[monitor]:  # the model keeps its epoch by a score of its own (kgrec's blend)
                        valid["monitored"] = score
                    if score > state.best_score:
                        state.best_score, state.best_epoch, state.bad = score, epoch, 0
                        state.best_valid = valid
                        state.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                        state.seconds_to_best = elapsed_before + time.perf_counter() - t_start
                    else:
                        state.bad += 1
                seconds = time.perf_counter() - t_epoch
                history.append(EpochRecord(epoch, mean_loss, seconds, valid, round(train_seconds, 3)))
                state.epoch = epoch
                state.history = history
                state.seconds = elapsed_before + time.perf_counter() - t_start
                if bar is not None:
                    bar.update(1)
                    shown = {"loss": f"{mean_loss:.4f}", monitor: f"{valid.get(monitor, float('nan')):.4f}"}
                    if "monitored" in valid:  # the model's own score keeps the epoch (kgrec: its blend)
                        shown["monitored"] = f"{valid['monitored']:.4f}"
                    bar.set_postfix({**shown, "best": f"{state.best_score:.4f}"})
                logger.debug("%s epoch %d loss %.5f %s", model.name, epoch, mean_loss, valid)
                stop = state.bad >= cfg.patience or over_budget
                if self.ranks is not None:  # rank 0 decides for every rank
                    stop = self.ranks.agree(stop)
                if stop:
                    stopped = "patience" if state.bad >= cfg.patience else "budget"
                if (self.is_main and self.run_dir is not None and cfg.checkpoint_every
                        and (epoch % cfg.checkpoint_every == 0 or stop)):
                    save_checkpoint(self.run_dir, model, optimizers, generator, state, cfg)
                if stop:
                    why = "early stop" if stopped == "patience" else f"time budget of {cfg.max_minutes:g} min spent"
                    logger.info("%s: %s at epoch %d (best %s=%.4f at epoch %d)", model.name, why, epoch, monitor,
                                state.best_score, state.best_epoch)
                    break
        finally:
            if bar is not None:
                bar.close()
            _sparse_embeddings(model, False)
            model.history = None
        if state.best_state is not None:
            model.load_state_dict(state.best_state)
        model.eval()
        model.invalidate()
        best = Metrics(state.best_valid or {}, 0)
        return FitResult(tuple(history), state.best_epoch, best, state.epoch, state.seconds, state.seconds_to_best,
                         memory.peak_mb, str(self.device), stopped, sampler=choice.name, sampler_reason=choice.reason,
                         valid_users=0 if sample is None else len(sample))

    # -- pieces of the loop -----------------------------------------------------------------------
    choice: SamplerChoice = SamplerChoice("full", "not chosen yet")

    def _sampler(self, model: RecModel, inputs: ModelInputs, negatives: NegativeSampler) -> NeighborBatches | None:
        """Apply the sampler rule (:func:`~kgrec.gnn.sampling.choose_sampler`); the sampled batches, or None."""
        cfg = self.config
        probe = None
        if cfg.sampler != "full" and model.supports_sampling:
            probe = NeighborBatches(inputs, edge_types=model.sampling_edge_types(), num_neighbors=cfg.num_neighbors,
                                    layers=cfg.layers, negatives=negatives)
        self.choice = choose_sampler(cfg.sampler, model=model, inputs=inputs, config=cfg, device=self.device,
                                     probe=probe)
        logger.info("%s: sampler %s (%s)", model.name, self.choice.name, self.choice.reason)
        if self.choice.name == "history":
            probe.set_hops(1)  # auto's estimate draws layers hops; history samples one, the rest from its table
        return probe if self.choice.name in SUBGRAPH_SAMPLERS else None

    def _rank_batch(self) -> int:
        """Pairs per step on this rank: the global ``batch_size`` split over the ranks."""
        world = self.ranks.world if self.ranks is not None else 1
        return max(1, -(-self.config.batch_size // world))

    def _positions(self, n: int, generator: torch.Generator):
        """This epoch's batches of positions into the training pairs: a shuffle drawn from
        ``generator``; under DDP the same shuffle on every rank, each taking its own equal shard."""
        perm = torch.randperm(n, generator=generator)
        if self.ranks is not None and self.ranks.world > 1:
            per_rank = n // self.ranks.world
            perm = perm[self.ranks.rank::self.ranks.world][:per_rank]
        size = self._rank_batch()
        for start in range(0, len(perm), size):
            yield perm[start:start + size]

    def _draws(self, epoch: int, generator: torch.Generator) -> torch.Generator:
        """The generator that this epoch's negatives and neighbour samples come from. One process:
        ``generator`` itself (which also shuffles; its state is checkpointed). Several ranks: one of
        each rank's own, seeded from (seed, epoch, rank), while ``generator`` shuffles the same on
        every rank; a resumed run draws what it would have drawn."""
        if self.ranks is None or self.ranks.world == 1:
            return generator
        seed = (self.config.seed * 1_000_003 + epoch * 7_919 + self.ranks.rank * 104_729) % 2**63
        return torch.Generator().manual_seed(seed)

    def _log_digest(self, model: RecModel, epoch: int, step: int) -> None:
        digest = hashlib.sha256()
        for name, p in sorted(model.named_parameters()):
            digest.update(name.encode())
            digest.update(p.detach().cpu().contiguous().numpy().tobytes())
        rank = self.ranks.rank if self.ranks is not None else 0
        self.sync_log.mkdir(parents=True, exist_ok=True)
        with open(self.sync_log / f"rank{rank}.txt", "a", encoding="utf-8") as fh:
            fh.write(f"{epoch} {step} {digest.hexdigest()}\n")


def _sparse_embeddings(model: RecModel, on: bool) -> list[torch.nn.Parameter]:
    """Switch the model's embedding tables to sparse gradients (sampled steps: a step then touches
    only the rows of its batch) or back; the tables' weights when switched on."""
    params = []
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            module.sparse = on
            if on and module.weight.requires_grad:
                params.append(module.weight)
    return params


def _optimizers(model: RecModel, cfg: TrainConfig, sparse: list[torch.nn.Parameter]) -> list[torch.optim.Optimizer]:
    """Adam over the parameters; with sparse embedding gradients, a lazy Adam (:class:`RowAdam`,
    SparseAdam's update done by rows: only the rows a step touched move, their moments too) for those
    tables and Adam for the rest."""
    ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    out: list[torch.optim.Optimizer] = []
    if dense or not sparse:
        out.append(torch.optim.Adam(dense, lr=cfg.lr, weight_decay=cfg.weight_decay))
    if sparse:
        out.append(RowAdam(sparse, lr=cfg.lr))
    return out


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
        remove_checkpoint(run_dir)
        logger.info("%s → %s", run.summary(), run_dir)
    return run


def finish(kg: KnowledgeGraph, model: RecModel, inputs: ModelInputs, data: Any, config: TrainConfig,
           fit: FitResult, device: torch.device, *, vectors: Any = None) -> Run:
    """Test the fitted model and gather the :class:`Run`."""
    split = inputs.split
    extra: dict[str, Any] = {"stopped": fit.stopped, "sampler": fit.sampler, "sampler_reason": fit.sampler_reason}
    if fit.valid_users:
        extra["valid_users_during_training"] = fit.valid_users
    # choices the model makes on validation after fitting (kgrec's closed-form block)
    selection = model.after_fit()
    if selection:
        extra["selection"] = selection
    if split.labelled:
        valid = evaluate_model(model, split, part="valid", config=config, device=device)
        threshold = float(valid["threshold"])
        test = evaluate_model(model, split, part="test", config=config, device=device, threshold=threshold)
        extra["threshold"] = threshold
    else:
        # validated on a user sample during training, or changed after fitting (a selection): the
        # full validation, once, at the best epoch
        full = not fit.best_valid.values or fit.valid_users or selection
        valid = evaluate_model(model, split, part="valid", config=config, device=device) if full else fit.best_valid
        valid = Metrics(valid.values, int((split.user_items("valid").counts() > 0).sum()))
        test = evaluate_model(model, split, part="test", config=config, device=device)
    if split.cold_items is not None:
        extra["test_candidates"] = "cold items only"
    if split.valid_cold_items is not None:
        extra["valid_candidates"] = "validation's cold items only"
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

