"""``pop``: the most popular items (training interactions per item), the same list for everyone."""

from __future__ import annotations

import numpy as np
import torch

from ..foldin import ColdStart, FoldIn
from ..registry import register_model
from .base import RecModel


@register_model
class MostPopular(RecModel):
    name = "pop"
    trainable = False

    def __init__(self, inputs, config):
        super().__init__(inputs, config)
        self.register_buffer("popularity", torch.zeros(self.num_items, 1))

    def fit(self) -> None:
        pairs = self.inputs.split.positives("train")
        counts = np.bincount(pairs[1], minlength=self.num_items).astype(np.float32)
        self.popularity.copy_(torch.from_numpy(counts).unsqueeze(1))

    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        ones = torch.ones(self.num_users, 1, device=self.popularity.device)
        return {self.user_type: ones, self.item_type: self.popularity}

    def fold_in(self) -> FoldIn:
        return FoldIn("constant", np.zeros((self.num_items, 1), np.float32), constant=np.ones(1, np.float32))

    def cold_start(self) -> ColdStart | None:
        text = self.inputs.text(self.item_type)
        dim = text.shape[1] if text is not None else 1
        return ColdStart(np.zeros((1, dim), np.float32))  # a new item has no popularity yet
