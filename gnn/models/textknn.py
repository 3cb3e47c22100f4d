"""``textknn``: text only. A user's profile is the mean text vector of their training items; items
are ranked by cosine between that profile and their own text vectors. No collaborative signal.

The users' own text vectors are not used: the text layer writes a user's document from their
whole history, test items included.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from kgrec.errors import ConfigError

from ..foldin import ColdStart, FoldIn
from ..registry import register_model
from .base import RecModel, to_numpy


@register_model
class TextKNN(RecModel):
    name = "textknn"
    trainable = False
    uses_text = True

    def __init__(self, inputs, config):
        super().__init__(inputs, config)
        x = inputs.text(self.item_type)
        if x is None:
            raise ConfigError(f"model 'textknn' needs text vectors for {self.item_type}; none were given")
        self.register_buffer("items", F.normalize(x.float(), dim=-1), persistent=False)
        self.register_buffer("users", torch.zeros(self.num_users, x.shape[1]), persistent=False)

    def fit(self) -> None:
        pairs = torch.from_numpy(self.inputs.split.positives("train")).long().to(self.items.device)
        prof = torch.zeros_like(self.users).index_add_(0, pairs[0], self.items[pairs[1]])
        self.users = F.normalize(prof, dim=-1)

    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        return {self.user_type: self.users, self.item_type: self.items}

    def fold_in(self) -> FoldIn:
        return FoldIn("mean", to_numpy(self.items))

    def cold_start(self) -> ColdStart | None:
        d = self.items.shape[1]
        return ColdStart(np.eye(d, dtype=np.float32), normalize=True)
