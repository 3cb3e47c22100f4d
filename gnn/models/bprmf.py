"""``bprmf``: matrix factorisation trained with BPR (Rendle et al., UAI 2009)."""

from __future__ import annotations

import torch

from ..registry import register_model
from .base import Batch, ModelInputs, RecModel, l2_penalty, ranking_loss


@register_model
class BPRMF(RecModel):
    name = "bprmf"
    # lr 5e-3 / batch 4096 / reg 1e-3: within 0.004 of the best of a lastfm sweep (lr 1e-3, 35x slower
    # to converge) and ahead of lr 1e-2 or reg 1e-4 (benchmarks/notes/gnn.md); an epoch costs far
    # less than a full-ranking validation: validate every 2 epochs
    defaults = {"lr": 5e-3, "loss": "bpr", "negatives": 1, "reg": 1e-3, "batch_size": 4096, "eval_every": 2}

    @classmethod
    def user_weights(cls, user_label: str) -> tuple[str, ...]:
        return ("user.weight",)

    def __init__(self, inputs: ModelInputs, config):
        super().__init__(inputs, config)
        self.user = torch.nn.Embedding(self.num_users, config.dim)
        self.item = torch.nn.Embedding(self.num_items, config.dim)
        torch.nn.init.normal_(self.user.weight, std=0.1)
        torch.nn.init.normal_(self.item.weight, std=0.1)

    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        return {self.user_type: self.user.weight, self.item_type: self.item.weight}

    def loss(self, batch: Batch) -> torch.Tensor:
        u = self.user(batch.users)
        pos = self.item(batch.pos)
        neg = self.item(batch.neg)
        loss = ranking_loss(self.config, (u * pos).sum(-1), (u.unsqueeze(1) * neg).sum(-1))
        return loss + self.config.reg * l2_penalty(u, pos, neg.reshape(-1, neg.shape[-1]))
