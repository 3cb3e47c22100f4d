"""LightGCN-style propagation over a heterogeneous graph, one normalised block per edge type (or group).

Not a model: the shared engine of the propagation models (``kgrec``, and the fold-in recipe of
``lightgcn``). For an edge type ``(s, r, t)`` the block ``Â_r`` is ``[num_nodes(t), num_nodes(s)]``
with entries ``1 / sqrt(deg(t_node) · deg(s_node))``; one layer computes, for every node type ``t``,

    h_t ← Σ_{r into t}  w_r · Â_r h_s

``norm="relation"`` takes the degrees within the relation (each relation is normalised on its own,
so a dense KG relation cannot drown the interactions); ``norm="global"`` takes each node's degree
over all edge types (LightGCN on the whole graph flattened to one node set).

Full-graph blocks are CSR matrices with their transposes kept for the backward pass (PyTorch
would otherwise transpose on every step). Sampled subgraphs (:func:`sampled_layers`) use the same
formula on CSR blocks of the subgraph, taking the degrees of the whole training graph, each
message multiplied by the sampler's ``degree / sampled``: a node with ``d`` neighbours in a pool of
which ``k`` were sampled uniformly gets ``(d / k) Σ_sampled``, an unbiased estimate of the full sum
(exact when ``k = d``), so that vectors trained on subgraphs mean the same as the full-graph
vectors computed for evaluation and serving. Layer ``l`` of ``L`` only updates the
nodes within ``L - l`` hops of the seeds (the rows whose final vectors the loss reads), with the
edges drawn in hops ``1 … L - l + 1``: the other rows' states would never reach a seed.

**Historical states** (:class:`History`, ``sampler="history"``): a subgraph of one hop, whose
layers after the first read the non-seed rows' states from a table of every node's layer states
(GNNAutoScale's historical embeddings, Fey et al., ICML 2021). A step then touches the seeds and their
sampled neighbours only, whatever the graph's size; the table is refreshed by one full-graph
propagation (no gradient) at each epoch's start and, for the seeds, by every step.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Literal

import torch

EdgeType = tuple[str, str, str]
Norm = Literal["relation", "global"]


class _SpMM(torch.autograd.Function):
    """``A @ x`` whose backward uses a precomputed ``Aᵀ``."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, at: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.at = at
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return None, None, torch.sparse.mm(ctx.at, grad.contiguous())


def spmm(a: torch.Tensor, at: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if x.dtype != a.dtype:
        x = x.to(a.dtype)
    if not x.requires_grad:
        return torch.sparse.mm(a, x)
    return _SpMM.apply(a, at, x)


def degrees(num_nodes: Mapping[str, int], edge_index: Mapping[EdgeType, torch.Tensor], norm: Norm
            ) -> dict[EdgeType, tuple[torch.Tensor, torch.Tensor]]:
    """Per edge type, the (source, target) degree vectors used to normalise it."""
    out: dict[EdgeType, tuple[torch.Tensor, torch.Tensor]] = {}
    if norm == "global":
        total = {nt: torch.zeros(n) for nt, n in num_nodes.items()}
        for (s, _, t), ei in edge_index.items():
            total[t] += torch.bincount(ei[1], minlength=num_nodes[t]).float()
        for et in edge_index:
            out[et] = (total[et[0]], total[et[2]])
        return out
    for et, ei in edge_index.items():
        s, _, t = et
        out[et] = (torch.bincount(ei[0], minlength=num_nodes[s]).float(),
                   torch.bincount(ei[1], minlength=num_nodes[t]).float())
    return out


def _inv_sqrt(d: torch.Tensor) -> torch.Tensor:
    out = d.clamp(min=1e-12).pow(-0.5)
    return torch.where(d > 0, out, torch.zeros_like(out))


def sampled_layers(h0: Mapping[str, torch.Tensor], edge_index: Mapping[EdgeType, torch.Tensor],
                   hop: Mapping[EdgeType, torch.Tensor], scale: Mapping[EdgeType, torch.Tensor],
                   n_id: Mapping[str, torch.Tensor], degree: Mapping[EdgeType, tuple[torch.Tensor, torch.Tensor]],
                   *, layers: int,
                   weights: Mapping[Hashable, torch.Tensor] | None = None,
                   group_of: Mapping[EdgeType, Hashable] | None = None,
                   perturb: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
                   history: History | None = None, seeds: Mapping[str, int] | None = None
                   ) -> list[dict[str, torch.Tensor]]:
    """``layers`` propagation layers on a sampled subgraph; the states ``[h0, h1, …]``.

    Args:
        h0: node type → layer-0 states of the subgraph's rows ``[len(n_id[type]), d]``.
        edge_index: edge type → ``[2, E]`` local (source row, target row) of the sampled edges.
        hop: edge type → ``[E]`` the hop that drew each edge (1: into a seed); layer ``l`` uses the
            edges of hops ``1 … layers - l + 1``, the ones whose targets a later layer still reads.
        scale: edge type → ``[E]`` each sampled edge's factor (the sampler's ``degree / sampled``, 1
            where a node kept every neighbour): the sampled sum is then an unbiased estimate of the
            full one.
        n_id: node type → the global row of each subgraph row.
        degree: edge type → (source, target) degree vectors of the whole graph (normalisation).
        layers: how many layers.
        weights: group → a scalar weight (default: None, 1).
        group_of: edge type → its group; the edge types of a group join the same two node types and
            are propagated as one block (each still normalised and rescaled on its own)
            (default: None, every edge type its own group).
        perturb: applied to each layer's output before the next layer reads it (default: None;
            kgrec's training noise).
        history: where the next layer reads the non-seed rows' states from (a one-hop subgraph;
            default: None, every state computed on the subgraph).
        seeds: node type → how many of its first rows are seeds (with ``history``).

    Only the seeds' final states are complete; read only them.
    """
    num_nodes = {nt: len(ids) for nt, ids in n_id.items()}
    members: dict[Hashable, list[EdgeType]] = {}
    for et, ei in edge_index.items():
        et = tuple(et)
        if et in degree and ei.numel():
            members.setdefault(group_of[et] if group_of is not None else et, []).append(et)
    # per group: its edges, their hops and their normalised, rescaled values (constants)
    parts: dict[Hashable, tuple[str, str, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for key, ets in members.items():
        s, t = ets[0][0], ets[0][2]
        edges, hops, values = [], [], []
        for et in ets:
            ei = edge_index[et]
            d_s, d_t = degree[et]
            values.append(_inv_sqrt(d_s)[n_id[s][ei[0]]] * _inv_sqrt(d_t)[n_id[t][ei[1]]] * scale[et].to(d_t.dtype))
            edges.append(ei)
            hops.append(hop[et])
        parts[key] = (s, t, torch.cat(edges, dim=1), torch.cat(hops), torch.cat(values))
    blocks: dict[tuple[Hashable, int], tuple[torch.Tensor, torch.Tensor]] = {}
    states = [dict(h0)]
    h = dict(h0)
    for layer in range(1, layers + 1):
        reach = layers - layer + 1  # the hops whose edges this layer still needs
        out: dict[str, torch.Tensor] = {}
        for key, (s, t, ei, hp, val) in parts.items():
            if s not in h or t not in h:
                continue
            block_key = (key, min(reach, int(hp.max())))
            if block_key not in blocks:
                keep = hp <= reach
                blocks[block_key] = _local_block(ei[:, keep], val[keep], num_nodes[t], num_nodes[s])
            m = spmm(*blocks[block_key], h[s])
            if weights is not None and key in weights:
                m = m * weights[key]
            out[t] = m if t not in out else out[t] + m
        for nt, x in h.items():
            if nt not in out:
                out[nt] = torch.zeros_like(x)
        h = out if perturb is None else perturb(out)
        states.append(h)
        if history is not None and layer < layers:
            h = history.fill(layer, h, n_id, seeds or {})
    return states


class History:
    """Every node's states of layers ``1 … L-1``, for one-hop sampled steps (see the module docstring).

    A one-hop subgraph computes layer ``l`` exactly only at its seeds (its other rows receive no
    edges); :meth:`fill` stores the seeds' fresh states (detached) and gives the next layer the
    others' stored ones, without gradient. What a step loses against a full ``L``-hop subgraph is
    the gradient through the neighbours' deeper states; what it gains is a cost bounded by the
    seeds and the fan-out of one hop at every graph size.
    """

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def refresh(self, states: list[Mapping[str, torch.Tensor]]) -> None:
        """Take layers ``1 … L-1`` of a full-graph propagation ``[h0, h1, …, hL]`` (detached)."""
        self.states = [{nt: x.detach().clone() for nt, x in s.items()} for s in states[1:-1]]

    def fill(self, layer: int, h: Mapping[str, torch.Tensor], n_id: Mapping[str, torch.Tensor],
             seeds: Mapping[str, int]) -> dict[str, torch.Tensor]:
        """Layer ``layer``'s subgraph states: the seeds' rows as computed (and stored), the others'
        from the table."""
        if not self.states:
            raise RuntimeError("History.fill before refresh: the trainer refreshes it at each epoch's start")
        table = self.states[layer - 1]
        out: dict[str, torch.Tensor] = {}
        for nt, x in h.items():
            if nt not in table:
                out[nt] = x
                continue
            n = int(seeds.get(nt, 0))
            rows = n_id[nt]
            fresh = x[:n]
            if n:
                table[nt][rows[:n]] = fresh.detach().to(table[nt].dtype)
            out[nt] = torch.cat([fresh, table[nt][rows[n:]].to(x.dtype)])
        return out


def _local_block(ei: torch.Tensor, values: torch.Tensor, n_target: int, n_source: int
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``A [n_target, n_source]`` and ``Aᵀ`` as CSR from (source, target) edges: one sort each, no
    coalescing (an edge type never repeats an edge; a pair joined by two relations of a group keeps
    two entries, which the product sums)."""
    import warnings

    def csr(rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int) -> torch.Tensor:
        order = torch.argsort(rows, stable=True)
        crow = torch.zeros(n_rows + 1, dtype=torch.long, device=rows.device)
        crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n_rows), 0)
        return torch.sparse_csr_tensor(crow, cols[order], values[order], (n_rows, n_cols), check_invariants=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return csr(ei[1], ei[0], n_target, n_source), csr(ei[0], ei[1], n_source, n_target)


class BlockGraph(torch.nn.Module):
    """The normalised blocks of a heterogeneous graph (buffers move with ``.to(device)``).

    Edge types that map to the same *group* share one block (the sum of their normalised
    matrices, each relation still normalised by its own degrees) and one weight: one sparse product
    per group instead of one per relation keeps a KG with dozens of small relations cheap. The
    default group of an edge type is the edge type itself.

    Args:
        num_nodes: node type → count.
        edge_index: edge type → ``[2, E]`` (source row, target row); reverse types included by the caller.
        norm: ``relation`` or ``global`` (default: ``relation``).
        group: edge type → group key; edge types of one group must join the same source and
            target types (default: None, every edge type on its own).
    """

    def __init__(self, num_nodes: Mapping[str, int], edge_index: Mapping[EdgeType, torch.Tensor],
                 *, norm: Norm = "relation", group=None):
        super().__init__()
        import warnings

        self.num_nodes = dict(num_nodes)
        self.norm = norm
        self.edge_types: list[EdgeType] = [tuple(et) for et, ei in edge_index.items() if ei.shape[1] > 0]
        self.degree = degrees(num_nodes, {et: edge_index[et] for et in self.edge_types}, norm)
        self.group_of: dict[EdgeType, tuple] = {et: tuple(group(et)) if group else et for et in self.edge_types}
        self.groups: list[tuple] = list(dict.fromkeys(self.group_of.values()))
        self.ends: dict[tuple, tuple[str, str]] = {}
        parts: dict[tuple, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        for et in self.edge_types:
            s, _, t = et
            key = self.group_of[et]
            if self.ends.setdefault(key, (s, t)) != (s, t):
                raise ValueError(f"group {key} mixes {self.ends[key]} with {(s, t)}")
            ei = edge_index[et]
            d_s, d_t = self.degree[et]
            val = _inv_sqrt(d_s)[ei[0]] * _inv_sqrt(d_t)[ei[1]]
            parts.setdefault(key, []).append((torch.stack([ei[1], ei[0]]), val))
        self._blocks: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            for key, items in parts.items():
                s, t = self.ends[key]
                index = torch.cat([i for i, _ in items], dim=1)
                values = torch.cat([v for _, v in items])
                a = torch.sparse_coo_tensor(index, values, (num_nodes[t], num_nodes[s])).coalesce()
                self._blocks[key] = (a.to_sparse_csr(), a.t().coalesce().to_sparse_csr())

    def _apply(self, fn, recurse=True):  # keep the sparse blocks with the module on .to(device)
        super()._apply(fn, recurse)
        self._blocks = {k: (fn(a), fn(at)) for k, (a, at) in self._blocks.items()}
        self.degree = {et: (fn(ds), fn(dt)) for et, (ds, dt) in self.degree.items()}
        return self

    def layer(self, h: Mapping[str, torch.Tensor], weights: Mapping[tuple, torch.Tensor] | None = None
              ) -> dict[str, torch.Tensor]:
        """One propagation layer (``weights``: group → scalar). Types that receive nothing get zeros."""
        out: dict[str, torch.Tensor] = {}
        for key in self.groups:
            s, t = self.ends[key]
            if s not in h:
                continue
            a, at = self._blocks[key]
            m = spmm(a, at, h[s])
            if weights is not None and key in weights:
                m = m * weights[key]
            out[t] = m if t not in out else out[t] + m
        for nt, x in h.items():
            if nt not in out:
                out[nt] = torch.zeros_like(x)
        return out

    def propagate_sampled(self, h0: Mapping[str, torch.Tensor], graph, *, layers: int,
                          weights: Mapping[tuple, torch.Tensor] | None = None,
                          perturb: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
                          history: History | None = None) -> list[dict[str, torch.Tensor]]:
        """``layers`` layers on a sampled subgraph (``graph``: ``n_id``, ``seeds``, and ``edge_index``,
        ``hop`` and ``scale`` per edge type, see :class:`kgrec.gnn.sampling.Subgraph`), normalised
        with the whole graph's degrees (:func:`sampled_layers`); ``weights``: group → scalar;
        ``perturb``: applied to each layer's output; ``history``: the deeper layers' states of a
        one-hop subgraph's non-seed rows."""
        return sampled_layers(h0, graph.edge_index, graph.hop, graph.scale, graph.n_id, self.degree,
                              layers=layers, weights=weights, group_of=self.group_of, perturb=perturb,
                              history=history, seeds=graph.seeds)

    def source_scale(self, et: EdgeType) -> torch.Tensor:
        """``1 / sqrt(deg)`` of the source nodes of an edge type (the per-node factor of a message)."""
        return _inv_sqrt(self.degree[et][0])
