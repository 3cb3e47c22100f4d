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

from .benchmark import BenchmarkResult, ModelResult, benchmark
from .config import ModelOptions, TrainConfig, load_config
from .data import IdMap, Split, UserItems, reverse_edge_type, split_interactions, to_heterodata, train_graph
from .evaluate import Metrics, click_metrics, evaluate_vectors, rank_metrics
from .foldin import ColdStart, FoldIn, NotSupportedError
from .registry import list_models, model_class, model_options, register_model
from .run import EpochRecord, Run, RunMetrics
from .train import FitResult, Trainer, train

__all__ = [
    "BenchmarkResult", "ColdStart", "EpochRecord", "FitResult", "FoldIn", "IdMap", "Metrics", "ModelOptions", "ModelResult",
    "NotSupportedError", "Run", "RunMetrics", "Split", "TrainConfig", "Trainer", "UserItems", "benchmark",
    "click_metrics", "evaluate_vectors", "list_models", "load_config", "model_class", "model_options", "rank_metrics",
    "register_model", "reverse_edge_type", "split_interactions", "to_heterodata", "train", "train_graph",
]
