"""``kgrec``: text-featured, relation-weighted LightGCN over the whole knowledge graph.

Layer 0 of every node is its learnable id embedding plus, for labels with text, a per-label linear
projection of its text vector (so an item without interactions still starts from its text). Then
``layers`` rounds of parameter-free, normalised propagation over *every* edge type and its reverse
(user–item interactions of the training split, friends, tags, genres, KG facts), each edge type
scaled by a learnable positive weight; the final vector of a node is the mean of its layer states
(LightGCN's layer combination). Scores are dot products of user and item vectors (unit length with
``score="cosine"``), plus an optional learned per-item offset (``item_bias``, carried as one more
vector column: ``[u, 1] · [i, τ·b_i]``, so scores stay dot products), trained with BPR or a sampled
softmax over negatives (``loss``), L2 on the batch's layer-0 vectors.

References: LightGCN (He et al., SIGIR 2020) for the propagation and layer combination; KGAT /
KGIN for propagating over KG relations with relation-specific weights; sampled-softmax losses for
recommendation (e.g. Wu et al., "On the effectiveness of sampled softmax loss", 2022).

Shapes:
    ``embeddings()[label]``: ``[num_nodes(label), dim]``.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..foldin import ColdStart, FoldIn
from ..registry import register_model
from .base import Batch, ModelInputs, RecModel, l2_penalty, ranking_loss, to_numpy
from .propagation import BlockGraph

logger = logging.getLogger(__name__)


def _softplus_inverse(y: float) -> float:
    return math.log(math.expm1(y))


@register_model
class KGRec(RecModel):
    """The kgrec model (see the module docstring).

    Text enters in two ways. Items (the label that must work cold): a trainable linear projection of
    their text vector (after a fixed PCA to ``text_dim`` components, for speed) plus a learnable id
    embedding. Other labels with text (tags, genres, named KG entities): a learnable embedding that
    starts from their PCA-reduced text vector. Users have no text feature (their documents are
    written from their whole history, test items included).

    Args:
        inputs: the training graph and split.
        config: uses ``dim``, ``layers``, ``loss``, ``negatives``, ``temperature``, ``reg``,
            ``dropout``, ``text``, ``text_dim``.
    """

    name = "kgrec"
    uses_text = True
    supports_sampling = True
    shared_negatives = True
    # Measured on lastfm (benchmarks/notes/gnn.md): cosine + sampled softmax at temperature 0.1 over
    # 4096 shared negatives with a learned item bias, two layers.
    defaults = {"lr": 5e-3, "loss": "softmax", "negatives": 4096, "temperature": 0.1, "item_bias": True,
                "reg": 1e-4, "batch_size": 4096, "layers": 2}

    def __init__(self, inputs: ModelInputs, config):
        super().__init__(inputs, config)
        # the softmax loss shares one set of negatives per batch; BPR draws one per positive
        self.shared_negatives = config.loss == "softmax"
        self._cosine = config.loss == "softmax" and config.score == "cosine"
        g = inputs.graph
        self.node_types = list(g.node_types)
        num_nodes = {nt: int(g[nt].num_nodes) for nt in self.node_types}
        edge_index = {tuple(et): g[et].edge_index for et in g.edge_types}
        group = (lambda et: (et[0], et[2])) if config.relation_weights == "label-pair" else None
        self.blocks = BlockGraph(num_nodes, edge_index, norm="relation", group=group)
        self.edge_types = self.blocks.edge_types
        self.groups = self.blocks.groups
        d = config.dim
        self.emb = torch.nn.ModuleDict()
        for nt in self.node_types:
            self.emb[nt] = torch.nn.Embedding(num_nodes[nt], d)
            torch.nn.init.normal_(self.emb[nt].weight, std=0.1)
        self.proj: torch.nn.Linear | None = None
        self.text_map: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for nt in self.node_types:
            x = inputs.text(nt) if config.text and nt != self.user_type else None
            if x is None:
                continue
            mean, comp = _pca(x.float(), config.text_dim or x.shape[1])
            reduced = (x.float() - mean) @ comp
            self.register_buffer(f"pca_mean_{nt}", mean, persistent=True)
            self.register_buffer(f"pca_comp_{nt}", comp, persistent=True)
            if nt == self.item_type:
                self.register_buffer("item_text", reduced, persistent=False)
                self.proj = torch.nn.Linear(reduced.shape[1], d)
                torch.nn.init.normal_(self.emb[nt].weight, std=0.01)
            else:  # start the attribute's embedding from its text
                init = reduced[:, :d] if reduced.shape[1] >= d else torch.nn.functional.pad(reduced, (0, d - reduced.shape[1]))
                self.emb[nt].weight.data.copy_(init * (0.1 / init.std().clamp(min=1e-6)))
        self.item_bias = torch.nn.Parameter(torch.zeros(self.num_items)) if config.item_bias else None
        self.rel_weight = torch.nn.ParameterDict({
            self._key(g): torch.nn.Parameter(torch.tensor(_softplus_inverse(1.0))) for g in self.groups})
        self.dropout = config.dropout

    @staticmethod
    def _key(group) -> str:
        return "__".join(group)

    def weights(self) -> dict:
        """Group (an edge type, or a (source, target) label pair) → its positive weight."""
        return {g: F.softplus(self.rel_weight[self._key(g)]) for g in self.groups}

    def edge_weight(self, et) -> torch.Tensor:
        return F.softplus(self.rel_weight[self._key(self.blocks.group_of[et])])

    def layer0(self, types=None, index: dict | None = None) -> dict[str, torch.Tensor]:
        """Layer-0 states: id embedding (+ projected text for items), all rows or ``index[type]`` rows."""
        out = {}
        for nt in types or self.node_types:
            rows = None if index is None else index[nt]
            h = self.emb[nt].weight if rows is None else self.emb[nt](rows)
            if nt == self.item_type and self.proj is not None:
                x = self.item_text if rows is None else self.item_text[rows]
                if self.training and self.dropout > 0:
                    x = F.dropout(x, self.dropout)
                h = h + self.proj(x)
            out[nt] = h
        return out

    def propagate(self, h0: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        w = self.weights()
        states = [h0]
        h = h0
        for _ in range(self.config.layers):
            h = self.blocks.layer(h, w)
            states.append(h)
        return states

    def _combine(self, states, types) -> dict[str, torch.Tensor]:
        return {nt: torch.stack([s[nt] for s in states]).mean(0) for nt in types}

    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        out = self._combine(self.propagate(self.layer0()), self.node_types)
        if self._cosine:  # cosine scores: vectors of unit length
            out = {nt: F.normalize(v, dim=-1) for nt, v in out.items()}
        if self.item_bias is not None:  # score = u·i + τ·b_i, as one dot product: one more column
            tau = self.config.temperature
            out = {nt: torch.cat([v, (torch.ones if nt == self.user_type else torch.zeros)(len(v), 1, device=v.device)],
                                 dim=1) for nt, v in out.items()}
            out[self.item_type][:, -1] = tau * self.item_bias
        return out

    def loss(self, batch: Batch) -> torch.Tensor:
        u_t, i_t = self.user_type, self.item_type
        if batch.graph is not None:
            h0, states = self._sampled_states(batch)
        else:
            h0 = self.layer0()
            states = self.propagate(h0)
        final = self._combine(states, (u_t, i_t))
        users, pos = final[u_t][batch.users], final[i_t][batch.pos]
        neg = final[i_t][batch.neg]
        if self._cosine:
            users, pos, neg = F.normalize(users, dim=-1), F.normalize(pos, dim=-1), F.normalize(neg, dim=-1)
        pos_s = (users * pos).sum(-1)
        if batch.neg.shape[0] == 1 and len(batch.users) > 1:  # negatives shared by the whole batch
            neg_s = users @ neg[0].T
        else:
            neg_s = (users.unsqueeze(1) * neg).sum(-1)
        if self.item_bias is not None:
            tau = self.config.temperature
            pos_i, neg_i = batch.pos, batch.neg
            if batch.graph is not None:  # subgraph rows → item rows
                pos_i, neg_i = batch.graph.n_id[i_t][pos_i], batch.graph.n_id[i_t][neg_i]
            pos_s = pos_s + tau * self.item_bias[pos_i]
            neg_s = neg_s + tau * self.item_bias[neg_i]
        loss = ranking_loss(self.config, pos_s, neg_s)
        return loss + self.config.reg * l2_penalty(h0[u_t][batch.users], h0[i_t][batch.pos])

    def _sampled_states(self, batch: Batch) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
        """Sampled training (the scale engineer's hook): layer 0 of the subgraph's rows, then the
        layers on the subgraph (:meth:`BlockGraph.propagate_sampled`)."""
        n_id = batch.graph.n_id
        h0 = self.layer0(list(n_id), n_id)
        return h0, self.blocks.propagate_sampled(h0, batch.graph, layers=self.config.layers, weights=self.weights())

    # -- recipes ----------------------------------------------------------------------------------
    @torch.no_grad()
    def _basis(self) -> dict[str, torch.Tensor]:
        """Per node, the sum of its layer states 0..K-1 (the part of a neighbour's final vector that
        reaches a new node through one edge), before degree scaling; the mean's ``1/(K+1)`` included."""
        was = self.training
        self.eval()
        states = self.propagate(self.layer0())
        self.train(was)
        k = self.config.layers
        return {nt: torch.stack([s[nt] for s in states[:k]]).sum(0) / (k + 1) for nt in self.node_types}

    @torch.no_grad()
    def fold_in(self) -> FoldIn:
        basis = self._basis()
        et = (self.item_type, "rev_" + self.inputs.interaction[1], self.user_type)
        append = 1.0 if self.item_bias is not None else None  # the user side of the bias column
        if et not in self.edge_types:
            return FoldIn("propagate", np.zeros((self.num_items, self.config.dim), np.float32),
                          normalize=self._cosine, append=append)
        w = self.edge_weight(et)
        rows = basis[self.item_type] * (w * self.blocks.source_scale(et)).unsqueeze(1)
        return FoldIn("propagate", to_numpy(rows), normalize=self._cosine, append=append)

    @torch.no_grad()
    def cold_start(self) -> ColdStart | None:
        if self.proj is None:
            return None
        basis = self._basis()
        k = self.config.layers
        per_label: dict[str, torch.Tensor] = {}
        weights: dict[str, float] = {}
        counts: dict[str, int] = {}
        for et in self.edge_types:
            s, _, t = et
            if t != self.item_type or s == self.user_type:
                continue
            scaled = basis[s] * self.blocks.source_scale(et).unsqueeze(1)
            # several relations from one label: their mean (a new item names neighbours by label)
            per_label[s] = scaled if s not in per_label else per_label[s] + scaled
            weights[s] = float(self.edge_weight(et)) + weights.get(s, 0.0)
            counts[s] = counts.get(s, 0) + 1
        basis_np = {s: to_numpy(v / counts[s]) for s, v in per_label.items()}
        weights = {s: w / counts[s] for s, w in weights.items()}
        # text → PCA → projection, folded into one affine map
        mean = getattr(self, f"pca_mean_{self.item_type}")
        comp = getattr(self, f"pca_comp_{self.item_type}")
        w_eff = self.proj.weight @ comp.T                    # [d, text_dim]
        b_eff = self.proj.bias - w_eff @ mean
        # a new item's score offset: the mean learned one (nothing is known of its popularity yet)
        append = float(self.config.temperature * self.item_bias.mean()) if self.item_bias is not None else None
        return ColdStart(to_numpy(w_eff), to_numpy(b_eff), 1.0 / (k + 1), basis_np, weights,
                         normalize=self._cosine, per_label=True, append=append)

    @torch.no_grad()
    def relation_weights(self) -> dict[str, float]:
        """The learned weights: ``"(src)-[REL]->(dst)"`` (per relation) or ``"(src)->(dst)"`` (per
        label pair) → value."""
        out = {}
        for g, v in self.weights().items():
            out[f"({g[0]})-[{g[1]}]->({g[2]})" if len(g) == 3 else f"({g[0]})->({g[1]})"] = float(v)
        return out


def _pca(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[D]`` and the top-``k`` principal directions ``[D, k]`` of the rows of ``x``
    (deterministic: signs fixed so each direction's largest coordinate is positive)."""
    mean = x.mean(0)
    k = min(k, x.shape[1], max(x.shape[0] - 1, 1))
    if k >= x.shape[1]:
        return mean, torch.eye(x.shape[1])
    xc = (x - mean).double()
    cov = xc.T @ xc / max(len(x) - 1, 1)
    vals, vecs = torch.linalg.eigh(cov)
    comp = vecs[:, torch.argsort(vals, descending=True)[:k]]
    sign = torch.sign(comp[comp.abs().argmax(0), torch.arange(k)])
    return mean, (comp * sign).float()
