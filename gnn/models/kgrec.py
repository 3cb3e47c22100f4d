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

The closed-form block (``closed_form``, see :mod:`~kgrec.gnn.models.cfblend`): a side-information
EASE over the training interactions with the items' text and KG neighbours as extra rows (each
group kept only if validation improves), blended with the GNN's score by a weight chosen on
validation (0, the GNN alone, is one of the choices). The block is chosen at the first validation;
every validation then scores the best blend of that epoch's GNN with it, and the epoch kept (and
early stopping) follows that score (``best_epoch_by="blend"``): the GNN the blend needs is an
earlier, less fitted one than the GNN best alone (validation across nine datasets,
benchmarks/notes/accuracy.md). The blend is one dot product of concatenated vectors: users
``[a·u_gnn, b·a_u]``, items ``[i_gnn, c_i]``. With ``closed_form="residual"`` the block is fitted
first and the GNN trains on what it misses. Optional, screened and left off by default:
``feature_gates`` (KG groups and text start closed, so training starts from the interactions-only
backbone), ``mask_seen_negatives`` (a user's own training items among the shared negatives are
left out of the loss), and XSimGCL's layer noise and cross-layer contrastive loss (``cl_noise``,
``cl_weight``).

References: LightGCN (He et al., SIGIR 2020) for the propagation and layer combination; KGAT /
KGIN for propagating over KG relations with relation-specific weights; sampled-softmax losses for
recommendation (e.g. Wu et al., "On the effectiveness of sampled softmax loss", 2022); EASE (Steck,
WWW 2019) and its side-information form (Jeunen et al., RecSys 2020) for the closed-form block.

Shapes:
    ``embeddings()[label]``: ``[num_nodes(label), dim]`` (``dim + 1`` with the item bias); users and
    items have the closed-form block's coordinates after it (``ItemItemFactors.dim``) when it is on.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..foldin import ColdStart, FoldIn
from ..options import KGRecOptions
from ..registry import register_model
from .base import Batch, ModelInputs, RecModel, info_nce, l2_penalty, ranking_loss, to_numpy
from .cfblend import MAX_CACHE, Validator, choose_blend, exact_size, select
from .closedform import ItemItemFactors, interaction_matrix
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
            ``text`` and this model's :class:`Options` (``config.model_options``).
    """

    Options = KGRecOptions

    name = "kgrec"
    uses_text = True
    supports_sampling = True
    shared_negatives = True
    # Measured on lastfm (benchmarks/notes/gnn.md): cosine + sampled softmax at temperature 0.1 over
    # 4096 shared negatives with a learned item bias, two layers.
    defaults = {"lr": 5e-3, "loss": "softmax", "negatives": 4096, "temperature": 0.1, "reg": 1e-4,
                "batch_size": 4096, "layers": 2}

    @classmethod
    def user_weights(cls, user_label: str) -> tuple[str, ...]:
        return (f"emb.{user_label}.weight",)

    def __init__(self, inputs: ModelInputs, config):
        super().__init__(inputs, config)
        # the softmax loss shares one set of negatives per batch; BPR draws one per positive
        self.shared_negatives = config.loss == "softmax"
        options = config.model_options
        self._cosine = config.loss == "softmax" and options.score == "cosine"
        g = inputs.graph
        self.node_types = list(g.node_types)
        num_nodes = {nt: int(g[nt].num_nodes) for nt in self.node_types}
        edge_index = {tuple(et): g[et].edge_index for et in g.edge_types}
        group = (lambda et: (et[0], et[2])) if options.relation_weights == "label-pair" else None
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
            mean, comp = _pca(x.float(), options.text_dim or x.shape[1])
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
        self.item_bias = torch.nn.Parameter(torch.zeros(self.num_items)) if options.item_bias else None
        self.rel_weight = torch.nn.ParameterDict({
            self._key(g): torch.nn.Parameter(torch.tensor(_softplus_inverse(1.0))) for g in self.groups})
        # feature gates (options.feature_gates): every group but the interactions', and the item text,
        # enter through a learned scalar that starts at 0, so the model starts as its interactions-only
        # backbone and lets KG and text in only as far as training finds them useful
        inter = {(self.user_type, self.item_type), (self.item_type, self.user_type)}
        self.gate = torch.nn.ParameterDict()
        if options.feature_gates:
            for g in self.groups:
                if tuple(self.blocks.ends[g]) not in inter:
                    self.gate[self._key(g)] = torch.nn.Parameter(torch.zeros(()))
            if self.proj is not None:
                self.gate["text"] = torch.nn.Parameter(torch.zeros(()))
                torch.nn.init.normal_(self.emb[self.item_type].weight, std=0.1)
        self.dropout = options.dropout
        # the closed-form block and its blend (set by after_fit; see cfblend.py)
        self.closed_form: ItemItemFactors | None = None
        self.blend: dict | None = None
        self.residual: dict | None = None
        if options.closed_form == "residual":
            self._fit_residual_block()
        self._prefit: tuple | None = None  # (validator, block, record, scores) chosen while training (best_epoch_by="blend")
        self._warned_size = False
        self._seen: torch.Tensor | None = None
        if options.mask_seen_negatives:
            self._build_seen_lookup()

    @staticmethod
    def _key(group) -> str:
        return "__".join(group)

    def weights(self) -> dict:
        """Group (an edge type, or a (source, target) label pair) → its weight (positive; times its
        gate when the group is gated)."""
        return {g: self._weight(g) for g in self.groups}

    def _weight(self, group) -> torch.Tensor:
        key = self._key(group)
        w = F.softplus(self.rel_weight[key])
        return w * self.gate[key] if key in self.gate else w

    def edge_weight(self, et) -> torch.Tensor:
        return self._weight(self.blocks.group_of[et])

    def _text_gate(self) -> torch.Tensor | float:
        return self.gate["text"] if "text" in self.gate else 1.0

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
                h = h + self._text_gate() * self.proj(x)
            out[nt] = h
        return out

    def propagate(self, h0: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        w = self.weights()
        perturb = self._perturber()
        states = [h0]
        h = h0
        for _ in range(self.config.layers):
            h = self.blocks.layer(h, w)
            if perturb is not None:
                h = perturb(h)
            states.append(h)
        return states

    def _perturber(self):
        """While training with ``cl_noise`` ε: XSimGCL's noise for each layer's output,
        ``h + sign(h) ⊙ ε‖h‖ · normalize(U(0, 1))`` (relative to each row's norm; scores are cosines);
        else None."""
        eps = self.config.model_options.cl_noise
        if not self.training or eps <= 0:
            return None

        def perturb(h: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            out = {}
            for nt, x in h.items():
                size = eps * x.detach().norm(dim=-1, keepdim=True)
                out[nt] = x + torch.sign(x) * F.normalize(torch.rand_like(x), dim=-1) * size
            return out
        return perturb

    def _combine(self, states, types) -> dict[str, torch.Tensor]:
        return {nt: torch.stack([s[nt] for s in states]).mean(0) for nt in types}

    def compute_embeddings(self) -> dict[str, torch.Tensor]:
        out = self.gnn_embeddings()
        scales = self._block_scales()
        if scales is not None and not self.training:
            # score = a·s_gnn + b·s_cf as one dot product: the weights on the user side
            c = self.closed_form
            u_t, i_t = self.user_type, self.item_type
            dev = out[u_t].device
            out[u_t] = torch.cat([out[u_t] * scales[0], c.users.to(dev) * scales[1]], dim=1)
            out[i_t] = torch.cat([out[i_t], c.items.to(dev)], dim=1)
        return out

    def _block_scales(self) -> tuple[float, torch.Tensor | float] | None:
        """The weights of the GNN and closed-form scores: the blend chosen after training, or while
        training a residual GNN, ``(1, τ·β/σ_cf)``."""
        if self.closed_form is None:
            return None
        if self.blend is not None:
            w = self.blend["weight"]
            return (1 - w) / self.blend["spread_gnn"], w / self.blend["spread_closed_form"]
        if self.residual is not None:
            return 1.0, self.config.temperature * self.cf_beta.detach() / self.residual["spread"]
        return None

    @torch.no_grad()
    def _fit_residual_block(self) -> None:
        """``closed_form="residual"``: the closed-form block chosen on validation before training, and
        its scores of every (user, item) pair, standardised, kept as the offsets the GNN trains on."""
        validator = Validator.build(self.inputs.split, seed=self.config.seed)
        factors, record = select(self.inputs, self.config, validator)
        spread = validator.spread(validator.matrix(factors.users, factors.items))
        self.closed_form = factors
        self.residual = {"record": record, "spread": spread}
        self.cf_beta = torch.nn.Parameter(torch.tensor(1.0))
        if self.num_users * self.num_items <= MAX_CACHE:
            pairs = torch.from_numpy(self.inputs.split.positives("train")).long()
            x = torch.zeros(self.num_users, self.num_items)
            x[pairs[0], pairs[1]] = 1.0
            self.register_buffer("cf_offsets", factors.scores(x) / spread, persistent=False)
        else:
            self.cf_offsets = None

    def _build_seen_lookup(self) -> None:
        """``mask_seen_negatives``: which (user, item) pairs are training pairs — a dense bitmap where
        it is small, else the sorted pair codes (``user · n_items + item``)."""
        pairs = torch.from_numpy(self.inputs.split.positives("train")).long()
        if self.num_users * self.num_items <= MAX_CACHE:
            seen = torch.zeros(self.num_users, self.num_items, dtype=torch.bool)
            seen[pairs[0], pairs[1]] = True
            self.register_buffer("seen_pairs", seen, persistent=False)
        else:
            self.register_buffer("seen_codes", torch.sort(pairs[0] * self.num_items + pairs[1]).values,
                                 persistent=False)

    def _seen_mask(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """True where ``users[b]`` (``[B]``) has the training item ``items[b, j]`` (``[B, n]`` or ``[n]``
        shared by the batch)."""
        if items.dim() == 1:
            items = items.unsqueeze(0).expand(len(users), -1)
        if hasattr(self, "seen_pairs"):
            return self.seen_pairs[users.unsqueeze(1), items]
        codes = users.unsqueeze(1) * self.num_items + items
        pos = torch.searchsorted(self.seen_codes, codes).clamp(max=len(self.seen_codes) - 1)
        return self.seen_codes[pos] == codes

    def _offsets(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, shared: bool):
        """The residual block's standardised scores of a batch's positives ``[B]`` and negatives."""
        if self.cf_offsets is not None:
            rows = self.cf_offsets[users]
            pos_o = rows.gather(1, pos.unsqueeze(1)).squeeze(1)
            neg_o = rows[:, neg[0]] if shared else rows.gather(1, neg)
            return pos_o, neg_o
        c = self.closed_form
        dev = users.device
        u = c.users.to(dev)[users]
        items = c.items.to(dev)
        pos_o = (u * items[pos]).sum(-1) - c.seen_offset.to(dev)[pos]
        neg_o = u @ items[neg[0]].T if shared else (u.unsqueeze(1) * items[neg]).sum(-1)
        return pos_o / self.residual["spread"], neg_o / self.residual["spread"]

    def gnn_embeddings(self) -> dict[str, torch.Tensor]:
        """The GNN block's final vectors (every label), without the closed-form block."""
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
        # the layer mean of the batch's rows only (a sampled subgraph's other rows are never scored)
        users, pos, neg = (torch.stack([s[nt][rows] for s in states]).mean(0)
                           for nt, rows in ((u_t, batch.users), (i_t, batch.pos), (i_t, batch.neg)))
        if self._cosine:
            users, pos, neg = F.normalize(users, dim=-1), F.normalize(pos, dim=-1), F.normalize(neg, dim=-1)
        pos_s = (users * pos).sum(-1)
        if batch.neg.shape[0] == 1 and len(batch.users) > 1:  # negatives shared by the whole batch
            neg_s = users @ neg[0].T
        else:
            neg_s = (users.unsqueeze(1) * neg).sum(-1)
        if self.item_bias is not None or self.residual is not None or self.config.model_options.mask_seen_negatives:
            tau = self.config.temperature
            pos_i, neg_i, user_i = batch.pos, batch.neg, batch.users
            if batch.graph is not None:  # subgraph rows → item (and user) rows
                pos_i, neg_i = batch.graph.n_id[i_t][pos_i], batch.graph.n_id[i_t][neg_i]
                user_i = batch.graph.n_id[u_t][user_i]
            shared = batch.neg.shape[0] == 1 and len(batch.users) > 1
            if self.item_bias is not None:
                pos_s = pos_s + tau * self.item_bias[pos_i]
                neg_s = neg_s + tau * self.item_bias[neg_i]
            if self.residual is not None:  # the closed-form block's scores as offsets: learn what it misses
                pos_o, neg_o = self._offsets(user_i, pos_i, neg_i, shared)
                pos_s = pos_s + tau * self.cf_beta * pos_o
                neg_s = neg_s + tau * self.cf_beta * neg_o
            if self.config.model_options.mask_seen_negatives:  # a sampled "negative" the user has is no negative
                hit = self._seen_mask(user_i, neg_i[0] if shared else neg_i)
                neg_s = neg_s.masked_fill(hit, -1e4)  # softmax: no weight; BPR: a zero term
        loss = ranking_loss(self.config, pos_s, neg_s)
        cl_weight = self.config.model_options.cl_weight
        if cl_weight > 0 and len(states) > 1:  # XSimGCL's cross-layer InfoNCE on the batch's distinct rows
            tau = self.config.temperature
            for nt, rows in ((u_t, torch.unique(batch.users)), (i_t, torch.unique(batch.pos))):
                final = torch.stack([s[nt][rows] for s in states]).mean(0)
                loss = loss + cl_weight * info_nce(final, states[1][nt][rows], tau)
        return loss + self.config.reg * l2_penalty(h0[u_t][batch.users], h0[i_t][batch.pos])

    # -- after training: the closed-form block, chosen on validation ------------------------------------
    @torch.no_grad()
    def monitor(self, valid: dict[str, float], metric: str) -> float:
        """With ``best_epoch_by="blend"`` (and ``closed_form="auto"``): the validation score of the best blend
        of this epoch's GNN with the closed-form block, so the epoch kept is the one the blend needs,
        which is often not the GNN's best alone (benchmarks/notes/accuracy.md). The block is chosen on
        validation once, at the first call, and reused by :meth:`after_fit`."""
        options = self.config.model_options
        if options.closed_form != "auto" or options.best_epoch_by != "blend":
            return valid[metric]
        if self._prefit is None and not exact_size(self.num_users, self.num_items):
            # past the exact forms the block's search costs minutes to an hour and a second set of
            # factorisations beside the training state: it stays after training, as measured at 1 M
            if not self._warned_size:
                logger.info("kgrec: %d users × %d items is past the closed-form block's exact forms; the epoch "
                            "is kept by the GNN's own %s and the block is chosen after training",
                            self.num_users, self.num_items, metric)
                self._warned_size = True
            return valid[metric]
        if self._prefit is None:
            validator = Validator.build(self.inputs.split, seed=self.config.seed)
            factors, record = select(self.inputs, self.config, validator)
            # kept while training: the block's validation scores and its items' side; its users' vectors
            # (one row per user) are rebuilt from the basis in after_fit
            cf_matrix = validator.matrix(factors.users, factors.items)
            self._prefit = (validator, dataclasses.replace(factors, users=torch.empty(0)), record, cf_matrix)
        validator, factors, _, cf_matrix = self._prefit
        gnn = {k: v.float().cpu() for k, v in self.gnn_embeddings().items()}
        blend = choose_blend((gnn[self.user_type], gnn[self.item_type]), factors, validator, cf_matrix=cf_matrix,
                             log=False)
        return blend["valid"][f"{blend['weight']:.4g}"]

    @torch.no_grad()
    def after_fit(self) -> dict:
        """Fit the side-information EASE block (unless the GNN was trained on it) and the blend
        weight on validation (``cfblend``)."""
        self.blend = None
        if self.config.model_options.closed_form == "off":
            self.closed_form = None
            return {}
        was = self.training
        self.eval()
        validator = Validator.build(self.inputs.split, seed=self.config.seed)
        trained = spread = None
        if self.residual is not None:
            factors, record = self.closed_form, dict(self.residual["record"])
            trained, spread = float(self.config.temperature * self.cf_beta.detach()), self.residual["spread"]
            record["trained_weight"] = trained
        elif self._prefit is not None:  # chosen at the first validation (best_epoch_by="blend")
            validator, factors, record, _ = self._prefit
            self._prefit, record = None, dict(record)
            pairs = torch.from_numpy(self.inputs.split.positives("train")).long()
            x = interaction_matrix(pairs, self.num_users, self.num_items)
            factors = dataclasses.replace(factors, users=torch.sparse.mm(x, factors.basis))  # a_u = Σ_j x_uj basis[j]
        else:
            factors, record = select(self.inputs, self.config, validator)
        gnn = {k: v.float().cpu() for k, v in self.gnn_embeddings().items()}
        blend = choose_blend((gnn[self.user_type], gnn[self.item_type]), factors, validator, trained=trained,
                             spread_cf=spread)
        record["blend"] = blend
        self.train(was)
        self.closed_form = None
        if blend["weight"] > 0:
            self.closed_form, self.blend = factors, blend
        record.pop("steps", None) if blend["weight"] == 0 else None
        self.invalidate()
        return {"closed_form": record}

    def _sampled_states(self, batch: Batch) -> tuple[dict[str, torch.Tensor], list[dict[str, torch.Tensor]]]:
        """Sampled training (the scale engineer's hook): layer 0 of the subgraph's rows, then the
        layers on the subgraph (:meth:`BlockGraph.propagate_sampled`)."""
        n_id = batch.graph.n_id
        h0 = self.layer0(list(n_id), n_id)
        return h0, self.blocks.propagate_sampled(h0, batch.graph, layers=self.config.layers, weights=self.weights(),
                                                 perturb=self._perturber(), history=self.history)

    def layer_states(self) -> list[dict[str, torch.Tensor]]:
        return self.propagate(self.layer0())

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
            return self._with_closed_form(FoldIn("propagate", np.zeros((self.num_items, self.config.dim), np.float32),
                                                 normalize=self._cosine, append=append))
        w = self.edge_weight(et)
        rows = basis[self.item_type] * (w * self.blocks.source_scale(et)).unsqueeze(1)
        return self._with_closed_form(FoldIn("propagate", to_numpy(rows), normalize=self._cosine, append=append))

    def _with_closed_form(self, fold: FoldIn) -> FoldIn:
        """The GNN block's fold-in, scaled, followed by the closed-form block's (a sum over the items)."""
        scales = self._block_scales()
        if scales is None:
            return fold
        tail = FoldIn("sum", to_numpy(self.closed_form.basis * float(scales[1])))
        return dataclasses.replace(fold, scale=float(scales[0]), tail=tail)

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
        gate = self._text_gate()
        w_eff = gate * (self.proj.weight @ comp.T)           # [d, text_dim]
        b_eff = gate * self.proj.bias - w_eff @ mean
        # a new item's score offset: the mean learned one (nothing is known of its popularity yet)
        append = float(self.config.temperature * self.item_bias.mean()) if self.item_bias is not None else None
        # a new item has no column in the closed-form block yet: zeros there (the GNN block scores it)
        pad = self.closed_form.dim if self._block_scales() is not None else 0
        return ColdStart(to_numpy(w_eff), to_numpy(b_eff), 1.0 / (k + 1), basis_np, weights,
                         normalize=self._cosine, per_label=True, append=append, pad=pad)

    @torch.no_grad()
    def relation_weights(self) -> dict[str, float]:
        """The learned weights: ``"(src)-[REL]->(dst)"`` (per relation) or ``"(src)->(dst)"`` (per
        label pair) → value."""
        out = {}
        for g, v in self.weights().items():
            out[f"({g[0]})-[{g[1]}]->({g[2]})" if len(g) == 3 else f"({g[0]})->({g[1]})"] = float(v)
        if "text" in self.gate:
            out["text"] = float(self.gate["text"])
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
