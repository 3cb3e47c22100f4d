"""``ease``: EASE, the closed-form item–item autoencoder (Steck, WWW 2019), interactions only.

``B = I − P · diag(1/diag(P))`` with ``P = (XᵀX + λI)⁻¹``; ``score(u, i) = x_u · B[:, i]``. The solve
runs in the cheapest exact form (:mod:`kgrec.gnn.models.closedform`): over items when items are
fewer than users, else over users by Woodbury (lastfm's 17.6k items cost a 1.9k × 1.9k solve);
past a size limit a low-rank form whose cost is linear in the interactions. Its vectors have
``min(users, items)`` coordinates (``rank`` in the low-rank form), and a new user folds in as a sum
over their items.

``λ`` is ``config.reg`` (default 100: across the development datasets' validation NDCG@20 it is
within 1.2 % of each dataset's best λ, see benchmarks/notes/gnn.md; RecBole's default is 250).
"""

from __future__ import annotations

import logging

import torch

from ..foldin import FoldIn
from ..registry import register_model
from .base import RecModel, to_numpy
from .closedform import fit, interaction_matrix

logger = logging.getLogger(__name__)


@register_model
class EASE(RecModel):
    name = "ease"
    trainable = False
    defaults = {"reg": 100.0}

    def __init__(self, inputs, config):
        super().__init__(inputs, config)
        # refitted in closed form from the split, so not part of the saved weights
        for key in ("users", "items", "basis"):
            self.register_buffer(key, torch.zeros(0), persistent=False)
        self.form = ""

    def fit(self) -> None:
        pairs = torch.from_numpy(self.inputs.split.positives("train")).long()
        x = interaction_matrix(pairs, self.num_users, self.num_items)
        f = fit(x, lam=float(self.config.reg), seed=self.config.seed)
        self.form = f.form
        logger.info("ease: %s form, λ=%g, %d coordinates", f.form, f.lam, f.dim)
        dev = self.users.device
        self.users, self.items, self.basis = f.users.to(dev), f.items.to(dev), f.basis.to(dev)

    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        return {self.user_type: self.users, self.item_type: self.items}

    def fold_in(self) -> FoldIn:
        return FoldIn("sum", to_numpy(self.basis))
