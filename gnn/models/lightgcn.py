"""``lightgcn``: PyTorch Geometric's ``LightGCN`` on the user–item graph (He et al., SIGIR 2020).

Users and items share one node set (users first). PyG's ``LightGCN`` module holds the embeddings,
the layer weights ``alpha`` (``1/(K+1)``) and the BPR ``recommendation_loss`` with L2 on the batch's
layer-0 vectors, as in the paper. Its ``LGConv`` layers are linear and parameter-free, ``Â x`` with
the symmetric-normalised adjacency ``Â``; here ``Â`` is built once as a sparse matrix and applied
with a precomputed transpose for the backward pass (what ``LGConv`` computes, without re-normalising
and re-transposing the graph on every step).
"""

from __future__ import annotations

import torch

from ..data import reverse_edge_type
from ..foldin import FoldIn
from ..registry import register_model
from .base import Batch, ModelInputs, RecModel, to_numpy
from .propagation import _inv_sqrt, sampled_layers, spmm


def bipartite_adjacency(inputs: ModelInputs, n_u: int, n_i: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """The node degrees and the symmetric-normalised user–item adjacency ``Â`` (users first, then
    items) of the training pairs, as CSR matrices ``(Â, Âᵀ)``."""
    pairs = torch.from_numpy(inputs.split.positives("train")).long()
    row = torch.cat([pairs[0], pairs[1] + n_u])
    col = torch.cat([pairs[1] + n_u, pairs[0]])
    n = n_u + n_i
    deg = torch.bincount(row, minlength=n).float()
    val = _inv_sqrt(deg)[row] * _inv_sqrt(deg)[col]
    # LGConv aggregates messages from sources (row 0) into targets (row 1): A[target, source]
    adj = torch.sparse_coo_tensor(torch.stack([col, row]), val, (n, n)).coalesce()
    return deg, (adj.to_sparse_csr(), adj.t().coalesce().to_sparse_csr())


@register_model
class LightGCN(RecModel):
    name = "lightgcn"
    supports_sampling = True
    # lr 5e-3 with batches of 4096: to convergence (3 seeds) it beats lr 0.02 / 2048, which is faster
    # to a lower plateau, by +0.018 NDCG@20 on lastfm and +0.02 on movielens-small, at less time per
    # epoch (benchmarks/notes/gnn.md); validated every 2 epochs (an epoch is cheap next to a ranking).
    defaults = {"lr": 5e-3, "loss": "bpr", "negatives": 1, "reg": 1e-4, "layers": 3, "batch_size": 4096,
                "eval_every": 2}

    @classmethod
    def user_weights(cls, user_label: str) -> tuple[str, ...]:
        return ("net.embedding.weight",)  # one table: the users' rows first, then the items'

    def __init__(self, inputs: ModelInputs, config):
        super().__init__(inputs, config)
        degree, self._adj = bipartite_adjacency(inputs, self.num_users, self.num_items)
        self.register_buffer("degree", degree, persistent=False)
        from torch_geometric.nn import LightGCN as PygLightGCN  # here: importing PyG costs seconds a loaded run never needs

        self.net = PygLightGCN(self.num_users + self.num_items, config.dim, config.layers)

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)
        self._adj = tuple(fn(a) for a in self._adj)
        return self

    def _layers(self) -> list[torch.Tensor]:
        x = self.net.embedding.weight
        out = [x]
        for _ in self.net.convs:
            x = spmm(*self._adj, x)
            out.append(x)
        return out

    def _embedding(self) -> torch.Tensor:
        """``LightGCN.get_embedding``: the alpha-weighted sum of the layer states."""
        alpha = self.net.alpha.to(self.net.embedding.weight.device)
        return sum(a * x for a, x in zip(alpha, self._layers()))

    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        e = self._embedding()
        return {self.user_type: e[:self.num_users], self.item_type: e[self.num_users:]}

    def loss(self, batch: Batch) -> torch.Tensor:
        if batch.graph is not None:
            return self._sampled_loss(batch)
        e = self._embedding()
        u = e[batch.users]
        pos = e[batch.pos + self.num_users]
        neg = e[batch.neg + self.num_users]  # [B, n, d]
        pos_rank = (u * pos).sum(-1)
        neg_rank = (u.unsqueeze(1) * neg).sum(-1)
        n = neg_rank.shape[1]
        node_id = torch.cat([batch.users, batch.pos + self.num_users, batch.neg.reshape(-1) + self.num_users])
        return self.net.recommendation_loss(pos_rank.repeat_interleave(n), neg_rank.reshape(-1), node_id=node_id,
                                            lambda_reg=self.config.reg)

    # -- sampled training (the scale engineer's hook; see kgrec.gnn.sampling) ---------------------
    def sampling_edge_types(self) -> list[tuple[str, str, str]]:
        """LightGCN propagates over the interactions only."""
        inter = tuple(self.inputs.interaction)
        return [inter, reverse_edge_type(inter)]

    def layer_states(self) -> list[dict[str, torch.Tensor]]:
        n_u = self.num_users
        return [{self.user_type: x[:n_u], self.item_type: x[n_u:]} for x in self._layers()]

    def _sampled_loss(self, batch: Batch) -> torch.Tensor:
        """The same BPR loss on a neighbour-sampled subgraph: the alpha-weighted layers of the batch's
        rows (:func:`~kgrec.gnn.models.propagation.sampled_layers`, the full graph's degrees), L2 on
        their layer-0 rows looked up through the embedding (sparse gradients when the trainer asks)."""
        g, u_t, i_t = batch.graph, self.user_type, self.item_type
        n_u = self.num_users
        n_id = g.n_id
        h0 = {u_t: self.net.embedding(n_id[u_t]), i_t: self.net.embedding(n_id[i_t] + n_u)}
        inter = tuple(self.inputs.interaction)
        rev = reverse_edge_type(inter)
        deg_u, deg_i = self.degree[:n_u], self.degree[n_u:]
        degree = {inter: (deg_u, deg_i), rev: (deg_i, deg_u)}
        states = sampled_layers(h0, g.edge_index, g.hop, g.scale, n_id, degree, layers=len(self.net.convs),
                                history=self.history, seeds=g.seeds)
        alpha = self.net.alpha.to(h0[u_t].device)
        final = {nt: sum(a * s[nt] for a, s in zip(alpha, states)) for nt in (u_t, i_t)}
        u = final[u_t][batch.users]
        pos_rank = (u * final[i_t][batch.pos]).sum(-1)
        neg_rank = (u.unsqueeze(1) * final[i_t][batch.neg]).sum(-1)
        n = neg_rank.shape[1]
        rows = torch.cat([n_id[u_t][batch.users], n_id[i_t][batch.pos] + n_u, n_id[i_t][batch.neg].reshape(-1) + n_u])
        from torch_geometric.nn.models.lightgcn import BPRLoss

        return BPRLoss(self.config.reg)(pos_rank.repeat_interleave(n), neg_rank.reshape(-1), self.net.embedding(rows))

    @torch.no_grad()
    def fold_in(self) -> FoldIn:
        layers = self._layers()
        k = len(layers) - 1
        items = torch.stack(layers[:k]).sum(0)[self.num_users:] * self.net.alpha[0].item()
        scale = _inv_sqrt(self.degree[self.num_users:])
        return FoldIn("propagate", to_numpy(items * scale.unsqueeze(1)))
