"""``itemknn``: item-based collaborative filtering with cosine similarity (Sarwar et al., WWW 2001).

``score(u, i) = Σ_{j ∈ train(u)} cos(i, j)`` over the whole neighbourhood, where ``cos`` is the cosine
of the items' user columns. It factorises exactly into a dot product: the user vector is
``Σ_j X[:, j] / sqrt(n_j)`` and the item vector ``X[:, i] / sqrt(n_i)`` (``X`` the user×item training
matrix, ``n`` the item degrees), both of size ``num_users``.
"""

from __future__ import annotations

import torch

from ..foldin import FoldIn
from ..registry import register_model
from .base import RecModel, to_numpy


@register_model
class ItemKNN(RecModel):
    name = "itemknn"
    trainable = False

    def __init__(self, inputs, config):
        super().__init__(inputs, config)
        # refitted in closed form from the split, so not part of the saved weights
        self.register_buffer("items", torch.zeros(0), persistent=False)
        self.register_buffer("users", torch.zeros(0), persistent=False)

    def fit(self) -> None:
        pairs = torch.from_numpy(self.inputs.split.positives("train")).long()
        n_u, n_i = self.num_users, self.num_items
        x = torch.zeros(n_u, n_i)
        x[pairs[0], pairs[1]] = 1.0
        deg = x.sum(0)
        scale = torch.where(deg > 0, deg.clamp(min=1).rsqrt(), torch.zeros_like(deg))
        items = (x * scale).T.contiguous()                       # [n_i, n_u]
        self.items = items.to(self.items.device)
        self.users = (x @ items).to(self.users.device)           # [n_u, n_u]

    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        return {self.user_type: self.users, self.item_type: self.items}

    def fold_in(self) -> FoldIn:
        return FoldIn("sum", to_numpy(self.items))
