"""Warm start: continue training a run from its weights on the graph as it is now — with the
interactions that arrived since (the live events' edges), new users and new items.

:func:`warm_start` keeps the run's split and adds what arrived to the training pairs:

- train = the run's training pairs ∪ the pairs ``since`` (default: every interaction edge of the
  graph that carries an event id, i.e. that came through the event stream);
- valid / test = the run's, less those pairs (they are training data now), less forgotten users;
- new users and items get new rows, initialised as the model initialises them; every other
  per-node table (embeddings, item biases) is copied row by row **by id** (the graph read from the
  store may list nodes in another order than the one the run was trained on), and the shared
  parameters (projections, relation weights, text PCA) are copied as they are;
- training goes on with the run's config (``epochs`` and ``lr`` may be changed; the default is
  a fifth of the run's epochs, at least 5), early-stopping on the remaining validation pairs.

The result is a new :class:`~kgrec.gnn.Run` (its own run directory); the serving layer loads it
like any other. When to do it is a policy, documented in ``docs/events.md``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kgrec.errors import ConfigError, InputError
from kgrec.kg import KnowledgeGraph

from .config import TrainConfig
from .data import Split, to_heterodata, train_graph
from .models.base import ModelInputs
from .registry import model_class
from .run import Run
from .train import DERIVED_FROM_HISTORY, Trainer, default_run_dir, finish

logger = logging.getLogger(__name__)

EVENT_ID_COLUMN = "event_id"


def streamed_pairs(kg: KnowledgeGraph) -> list[tuple[str, str]]:
    """The interactions of ``kg`` that came through the event stream (their edges carry an event id)."""
    table = kg.edges[tuple(kg.schema.interaction)]
    if EVENT_ID_COLUMN not in table.columns:
        return []
    mine = table[table[EVENT_ID_COLUMN].notna()]
    return list(zip(mine["src"].astype(str), mine["dst"].astype(str)))


def _pairs(run: Run, part: str) -> set[tuple[str, str]]:
    users, items = run.id_maps[run.user_label].ids, run.id_maps[run.item_label].ids
    pairs = np.asarray(getattr(run.split, part))
    return {(users[u], items[i]) for u, i in zip(pairs[0].tolist(), pairs[1].tolist())}


def _index(pairs: Iterable[tuple[str, str]], users, items) -> np.ndarray:
    rows = [(users.get(u), items.get(i)) for u, i in pairs]
    rows = sorted((u, i) for u, i in rows if u is not None and i is not None)
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2).T.copy()


def _label_of(name: str, rows: int, old_counts: dict[str, int]) -> str | None:
    """The label whose nodes a weight's rows are: its name names the label, or only that label has
    that many nodes (an item bias)."""
    tokens = set(re.split(r"[._]", name))
    named = [label for label, n in old_counts.items() if n == rows and label in tokens]
    if named:
        return named[0]
    same = [label for label, n in old_counts.items() if n == rows]
    return same[0] if len(same) == 1 and rows > 1 else None


def transfer_weights(model: torch.nn.Module, run: Run, new_maps: dict[str, Any]) -> dict[str, str]:
    """Copy the run's weights into ``model``: per-node rows by id, the rest as they are.
    Returns what happened to each weight (``copied``, ``rows``, ``kept``: shapes that do not fit)."""
    old_counts = {label: len(m) for label, m in run.id_maps.items()}
    state = model.state_dict()
    done: dict[str, str] = {}
    for name, target in state.items():
        if name not in run.weights:
            done[name] = "kept"
            continue
        source = torch.as_tensor(np.asarray(run.weights[name]))
        label = _label_of(name, source.shape[0], old_counts) if source.ndim >= 1 else None
        if label is not None and label in new_maps and tuple(source.shape[1:]) == tuple(target.shape[1:]):
            old_ids = run.id_maps[label].ids
            new_index = {i: n for n, i in enumerate(new_maps[label].ids)}
            pairs = [(o, new_index[i]) for o, i in enumerate(old_ids) if i in new_index]
            if pairs:
                old_rows = torch.as_tensor([o for o, _ in pairs])
                new_rows = torch.as_tensor([n for _, n in pairs])
                target = target.clone()
                target[new_rows] = source[old_rows].to(target.dtype)
                state[name] = target
            done[name] = f"rows ({len(pairs)} of {target.shape[0]} by id)"
        elif tuple(source.shape) == tuple(target.shape):
            state[name] = source.to(target.dtype)
            done[name] = "copied"
        else:
            done[name] = "kept"
    model.load_state_dict(state)
    return done


def warm_start(run: Run, kg: KnowledgeGraph, *, since: Iterable[tuple[str, str]] | None = None,
               epochs: int | None = None, lr: float | None = None, vectors: Any = None, text: Any = None,
               out: str | os.PathLike | None = None, progress: bool | None = None, save: bool = True) -> Run:
    """Continue training ``run`` on ``kg`` (its graph now), with the interactions ``since`` added to
    the training pairs.

    Args:
        run: the run to continue.
        kg: the graph as it is now (read from the store: streamed edges carry ``event_id``).
        since: the new interactions, ``(user id, item id)`` (default: :func:`streamed_pairs`).
        epochs: epochs to train on (default: a fifth of the run's, at least 5).
        lr: the learning rate (default: the run's).
        vectors, text: the node text vectors, or how to compute them (as for :func:`kgrec.gnn.train`).
        out: the new run directory (default: ``KGREC_HOME/runs/<graph>-<model>-...``).
        progress: progress bars (default: auto).
        save: write the run directory (default: True).
    """
    from kgrec.config import show_progress

    if run.split.labelled:
        raise ConfigError("warm start continues ranking runs; a run of the kgcn protocol (labelled pairs) cannot")
    changes: dict[str, Any] = {"epochs": epochs or max(5, run.config.epochs // 5), "checkpoint_every": 0}
    if lr is not None:
        changes["lr"] = lr
    config: TrainConfig = run.config.model_copy(update=changes).effective()
    progress = show_progress(progress)
    schema = kg.schema
    if (schema.user_label, schema.item_label) != (run.user_label, run.item_label):
        raise InputError(f"graph {kg.name!r} has users {schema.user_label!r} and items {schema.item_label!r}; "
                         f"the run was trained on {run.user_label!r} and {run.item_label!r}")
    since = list(streamed_pairs(kg) if since is None else since)
    cls = model_class(config.model)
    table: dict[str, np.ndarray] = {}
    if cls.uses_text and config.text:
        if vectors is None:
            from kgrec.text import embed_features

            vectors = embed_features(kg, text, progress=progress)
        table = dict(vectors.vectors if hasattr(vectors, "vectors") else vectors)
        table.pop(schema.user_label, None)  # a user's document holds their whole history: never a feature
    present = set(schema.relation_names())
    exclude = [r for r in (*config.exclude_relations, *DERIVED_FROM_HISTORY)
               if r in present and r not in (config.relations or [])]
    data = to_heterodata(kg, table, relations=config.relations, exclude_relations=exclude)
    users = {u: n for n, u in enumerate(data.id_maps[run.user_label].ids)}
    items = {i: n for n, i in enumerate(data.id_maps[run.item_label].ids)}
    train_pairs = _pairs(run, "train") | set(since)
    split = Split(run.split.kind, run.split.seed, len(users), len(items), _index(train_pairs, users, items),
                  _index(_pairs(run, "valid") - train_pairs, users, items),
                  _index(_pairs(run, "test") - train_pairs, users, items))
    inputs = ModelInputs(train_graph(data, split), split, split.user_items("train"), run.user_label, run.item_label,
                         tuple(schema.interaction))
    torch.manual_seed(config.seed)
    model = cls(inputs, config)
    moved = transfer_weights(model, run, data.id_maps)
    logger.info("warm start of %s: %d new training pairs, %d new users, %d new items; weights: %s", run.path,
                len(since), len(users) - len(run.id_maps[run.user_label]),
                len(items) - len(run.id_maps[run.item_label]),
                ", ".join(f"{k}: {v}" for k, v in moved.items() if v != "copied"))
    run_dir = Path(out) if out is not None else default_run_dir(kg, config)
    fit = Trainer(config, progress=progress).fit(model, inputs)
    result = finish(kg, model, inputs, data, config, fit, Trainer(config).device, vectors=vectors)
    if save:
        result = result.save(run_dir)
        logger.info("warm start → %s: %s", run_dir, result.summary())
    return result


__all__ = ["EVENT_ID_COLUMN", "streamed_pairs", "transfer_weights", "warm_start"]
