"""The GNN layer: knowledge graph + text vectors → HeteroData → trained model → run directory.

Entry point::

    from kgrec.gnn import TrainConfig, train, Run
    run = train(kg, TrainConfig(model="kgrec", split="random"), out="runs/lastfm")
    run.metrics.test["ndcg@20"]
    run = Run.load("runs/lastfm")           # verifies every file against manifest.json

Parts that compose on their own: :func:`to_heterodata` (one node type per label, every relation
and its reverse ``rev_<REL>``, text vectors as ``x``), :func:`split_interactions` (``random`` |
``temporal`` | ``cold-items`` | ``kgcn``), :func:`train_graph` (training interactions only in the
message-passing graph), the model registry (:func:`list_models`, :func:`model_class`), the
:class:`Trainer`, :func:`rank_metrics` / :func:`click_metrics`, and :func:`benchmark` (every model,
the same split, several seeds, one markdown table and chart).

What serving builds on (all on :class:`Run`):

- ``run.id_maps[label]`` — :class:`IdMap`: external string id ↔ row position (``index``,
  ``indices``, ``id``, ``external_ids``); unknown users/items raise ``UnknownUserError`` /
  ``UnknownItemError``.
- ``run.node_vectors[label]`` — float32 ``[num_nodes(label), d]``: final vectors of every node
  type the model embeds (kgrec: every label; baselines: users and items).
- ``run.user_vectors``, ``run.item_vectors`` — the score of user ``u`` for item ``i`` is
  ``user_vectors[u] @ item_vectors[i]`` for every model.
- ``run.train_items(user_index)`` — the items the user was trained on (int64, sorted).
- ``run.config`` (:class:`TrainConfig`, effective values), ``run.metrics`` (:class:`RunMetrics`:
  ``valid`` / ``test`` :class:`Metrics`, timings), ``run.history``, ``run.path``.
- ``run.fold_in(item_indices, weights=None)`` — float32 ``[d]``: a user vector from a few
  interactions without retraining, computed as the model would (for the propagation models, one
  propagation layer for a new user node over the interacted items' stored per-layer states).
- ``run.item_from_text(text_vector, neighbours)`` — float32 ``[d]``: a cold-start item from its
  text vector and its KG neighbours (``{label: row positions}``); raises :class:`NotSupportedError`
  for models that cannot place an unseen item (BPR-MF, LightGCN, ItemKNN).
"""

from __future__ import annotations

import importlib
import sys
import types

# public name -> module that defines it; imported on first use, so that loading a run directory
# (:class:`Run`, :class:`IdMap`, the fold-in recipes) does not import torch or PyTorch Geometric
_LAZY = {
    "BenchmarkResult": ".benchmark", "ModelResult": ".benchmark", "benchmark": ".benchmark",
    "ModelOptions": ".config", "TrainConfig": ".config", "load_config": ".config",
    "IdMap": ".data", "Split": ".data", "UserItems": ".data", "reverse_edge_type": ".data",
    "split_interactions": ".data", "to_heterodata": ".data", "train_graph": ".data",
    "Metrics": ".metrics",
    "click_metrics": ".evaluate", "evaluate_vectors": ".evaluate", "rank_metrics": ".evaluate",
    "ColdStart": ".foldin", "FoldIn": ".foldin", "NotSupportedError": ".foldin",
    "list_models": ".registry", "model_class": ".registry", "model_options": ".registry",
    "register_model": ".registry",
    "EpochRecord": ".run", "Run": ".run", "RunMetrics": ".run",
    "FitResult": ".train", "Trainer": ".train", "train": ".train",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package: importing the submodules ``train`` or ``benchmark`` sets the package attribute
    of that name to the module; the public name stays the function of the same name (as it was when
    this package imported everything eagerly)."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == "." + name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
