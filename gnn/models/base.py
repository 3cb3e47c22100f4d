"""The contract every model follows (RecBole-style), so one harness trains and evaluates them all.

A model is built from :class:`ModelInputs` (the training graph — training interactions only — the
split and sizes) and a :class:`~kgrec.gnn.TrainConfig`, and provides:

- ``loss(batch) -> Tensor`` — one training step's loss on a :class:`Batch` of (user, positive item,
  sampled negatives); models with ``trainable = False`` fit in closed form in ``fit()`` instead.
- ``embeddings() -> dict[label, Tensor]`` — the final vectors of every node type it embeds (users
  and items at least), computed without gradients and cached until the next training step.
- ``score_all_items(users) -> Tensor[B, num_items]`` — dot products of user and item vectors.
- ``fold_in() -> FoldIn`` and ``cold_start() -> ColdStart | None`` — the recipes for new users and
  new items that the run directory keeps (see :mod:`kgrec.gnn.foldin`).
- ``after_fit() -> dict`` — choices made on validation after fitting (default: none).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ModelOptions, TrainConfig
from ..data import Split, UserItems
from ..foldin import ColdStart, FoldIn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ModelInputs:
    """What a model is built from.

    Args:
        graph: the ``HeteroData`` message-passing graph (training interactions only).
        split: the split (pairs as row positions).
        train: each user's training items.
        user_type, item_type: labels of users and items.
        interaction: the user→item edge type.
    """

    graph: Any
    split: Split
    train: UserItems
    user_type: str
    item_type: str
    interaction: tuple[str, str, str]

    @property
    def num_users(self) -> int:
        return self.split.num_users

    @property
    def num_items(self) -> int:
        return self.split.num_items

    def text(self, label: str) -> torch.Tensor | None:
        """The text vectors of a label, or None."""
        store = self.graph[label]
        return store.x if "x" in store else None


@dataclass(frozen=True, eq=False)
class Batch:
    """A training batch. ``users``, ``pos`` ``[B]`` and ``neg`` ``[B, negatives]`` are row positions
    in the whole graph, or, when ``graph`` (a sampled subgraph with ``n_id`` per type) is given,
    positions in that subgraph."""

    users: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor
    graph: Any = None


class RecModel(torch.nn.Module):
    """Base of every registered model.

    Class attributes:
        name: the registry name.
        trainable: trained by gradient steps (else ``fit()`` computes it in closed form).
        uses_text: needs the text vectors.
        supports_sampling: can train on neighbour-sampled subgraphs.
        shared_negatives: one set of ``negatives`` items per batch, shared by all its users
            (``Batch.neg`` is ``[1, negatives]``), instead of ``negatives`` per positive.
        defaults: config values that suit this model, used for every field the user did not set
            (shared :class:`TrainConfig` fields or its own options).
        Options: the model's own typed options (a :class:`~kgrec.gnn.config.ModelOptions`
            subclass; default: none); the model reads them as ``config.model_options``.
    """

    name: ClassVar[str] = ""
    trainable: ClassVar[bool] = True
    uses_text: ClassVar[bool] = False
    supports_sampling: ClassVar[bool] = False
    shared_negatives: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {}
    Options: ClassVar[type[ModelOptions]] = ModelOptions

    def __init__(self, inputs: ModelInputs, config: TrainConfig):
        super().__init__()
        self.inputs = inputs
        self.config = config
        self.num_users = inputs.num_users
        self.num_items = inputs.num_items
        self.user_type = inputs.user_type
        self.item_type = inputs.item_type
        self._cache: dict[str, torch.Tensor] | None = None

    # -- training ---------------------------------------------------------------------------------
    def fit(self) -> None:
        """Closed-form fitting (models with ``trainable = False``)."""

    def loss(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not trained by gradient steps")

    def train(self, mode: bool = True) -> RecModel:
        self._cache = None
        return super().train(mode)

    def invalidate(self) -> None:
        """Forget cached embeddings (after a parameter update)."""
        self._cache = None

    def monitor(self, valid: dict[str, float], metric: str) -> float:
        """The validation score by which the trainer keeps the best epoch and stops early, given the
        epoch's validation metrics (default: ``valid[metric]``; kgrec's can score its blend)."""
        return valid[metric]

    def after_fit(self) -> dict[str, Any]:
        """Choices made on the validation part once fitting is over (best weights loaded), such as
        kgrec's closed-form block and its blend weight; returns what the run records under
        ``metrics.extra["selection"]`` (default: nothing chosen, ``{}``). Never reads the test part."""
        return {}

    #: ``sampler="history"``: the table of deeper layer states a one-hop step reads (set by the
    #: trainer for the length of a fit, refreshed at each epoch's start; not saved).
    history: Any = None

    def layer_states(self) -> list[dict[str, torch.Tensor]]:
        """The full-graph layer states ``[h0, h1, …, hL]`` per label, as in evaluation (models with
        ``supports_sampling``): what ``sampler="history"`` keeps of layers ``1 … L-1``."""
        raise NotImplementedError(f"{type(self).__name__} does not train on one-hop subgraphs with history")

    @torch.no_grad()
    def refresh_history(self) -> None:
        """Recompute :attr:`history` from the current weights (one full-graph propagation)."""
        was = self.training
        self.eval()
        try:
            self.history.refresh(self.layer_states())
        finally:
            self.train(was)

    def sampling_edge_types(self) -> list[tuple[str, str, str]]:
        """The edge types a neighbour-sampled step draws from (models with ``supports_sampling``;
        default: every edge type of the training graph)."""
        return [tuple(et) for et in self.inputs.graph.edge_types if self.inputs.graph[et].edge_index.shape[1] > 0]

    # -- vectors and scores -------------------------------------------------------------------------
    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        """The final vectors per node type (with gradients when training)."""
        raise NotImplementedError

    @torch.no_grad()
    def embeddings(self) -> dict[str, torch.Tensor]:
        """Final vectors of every embedded node type (no gradients; cached until invalidated)."""
        if self._cache is None or self.training:
            out = {k: v.detach().float() for k, v in self.compute_embeddings().items()}
            if self.training:
                return out
            self._cache = out
        return self._cache

    @torch.no_grad()
    def score_all_items(self, users: torch.Tensor) -> torch.Tensor:
        """``[B, num_items]`` scores of the given users for every item."""
        e = self.embeddings()
        u = e[self.user_type][users.to(e[self.user_type].device)]
        return u @ e[self.item_type].T

    @torch.no_grad()
    def score_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        e = self.embeddings()
        dev = e[self.user_type].device
        return (e[self.user_type][users.to(dev)] * e[self.item_type][items.to(dev)]).sum(-1)

    # -- what the model holds per user (forgetting a user clears it) ----------------------------------
    @classmethod
    def user_weights(cls, user_label: str) -> tuple[str, ...]:
        """The ``state_dict`` names whose rows ``0 .. num_users - 1`` are the users' own, in id-map
        order (a saved run records them; forgetting a user zeroes that row). Default: none."""
        return ()

    # -- recipes for new users and items ------------------------------------------------------------
    def fold_in(self) -> FoldIn:
        """Default: a ridge solve against the item vectors (the least-squares user vector)."""
        return ridge_fold_in(self.embeddings()[self.item_type])

    def cold_start(self) -> ColdStart | None:
        return None


# -- shared pieces ---------------------------------------------------------------------------------
def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: ``-log σ(s⁺ - s⁻)`` averaged over positives and negatives.

    Shapes: ``pos`` ``[B]``, ``neg`` ``[B, n]``."""
    return -F.logsigmoid(pos.unsqueeze(1) - neg).mean()


def softmax_loss(pos: torch.Tensor, neg: torch.Tensor, temperature: float) -> torch.Tensor:
    """Sampled softmax: cross-entropy of the positive against its negatives at a temperature."""
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(pos), dtype=torch.long, device=pos.device))


def ranking_loss(config: TrainConfig, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    if config.loss == "softmax":
        return softmax_loss(pos, neg, config.temperature)
    return bpr_loss(pos, neg)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of matching rows of ``a`` and ``b`` (cosine, every other row of ``b`` a negative).

    Shapes: ``a``, ``b``: ``[n, d]``."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    return F.cross_entropy(logits, torch.arange(len(a), device=a.device))


def l2_penalty(*tensors: torch.Tensor) -> torch.Tensor:
    """LightGCN's regulariser: half the squared norm of the batch's layer-0 vectors, per row."""
    n = max(len(tensors[0]), 1)
    return sum(t.float().pow(2).sum() for t in tensors) / (2 * n)


def ridge_fold_in(items: torch.Tensor, *, reg: float = 1.0) -> FoldIn:
    """The user vector that best reproduces 1 on the interacted items and 0 elsewhere
    (``(VᵀV + λI)⁻¹ Vᵀ y``): folding in for models whose user vectors are free parameters."""
    v = items.detach().double().cpu()
    gram = v.T @ v + reg * torch.eye(v.shape[1], dtype=torch.float64)
    post = torch.linalg.inv(gram)
    return FoldIn("ridge", v.float().numpy(), post=post.float().numpy())


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
