"""Neighbour-sampled mini-batches, and the rule that picks them over full-graph steps.

Full-graph training propagates the whole graph at every step: a step costs ``O(edges)`` and an
epoch ``O(pairs / batch × edges)``, which grows faster than the graph (``edges^1.36`` measured).
A neighbour-sampled step (:class:`NeighborBatches`) propagates only the ``layers``-hop
neighbourhoods of the batch's users, positive items and negative items, at most
``num_neighbors[h]`` neighbours per node, per edge type and per hop: its time and memory are
bounded by the batch, and an epoch costs ``O(pairs)``.

**The sampler.** The sampling of PyG's ``LinkNeighborLoader`` (seeds = the batch's users and items;
each hop draws up to ``num_neighbors[h]`` in-neighbours per frontier node; a node is expanded once,
when first reached), written as a handful of vectorised torch operations over a CSC index of the
training graph, with one pool of in-neighbours per label pair (the edge types joining the same two
labels, e.g. a KG's many relations between entities and items) where PyG draws per edge type, so
that a step's work does not grow with the number of relations. It was measured against
``LinkNeighborLoader`` over ``torch-sparse`` (pyg-lib, its fast engine, has no wheel for this torch):
on the 10 k-user synthetic graph a 4,096-pair batch of LightGCN took a median 0.80 s to sample there
and 0.13 s here, on the same batches (``benchmarks/sampler_bench.py``, benchmarks/notes/scale.md);
it needs no compiled extension, runs on whatever device the index is on, and draws from the
trainer's own generator (so a resumed run samples what it would have). A node with at most ``f`` neighbours in a pool keeps them all; one with more gets
``f`` draws with replacement, deduplicated — a uniformly random subset of its neighbours.

**What a sampled step computes.** Each layer is the full-graph formula restricted to the sampled
edges, with the whole training graph's degrees in the normalisation and each message multiplied by
``degree / sampled`` of its pool: an unbiased estimate of the full sum, exact where a node has no
more neighbours than the fan-out (see :mod:`kgrec.gnn.models.propagation`). Layer ``l`` of ``L``
uses only the edges drawn in hops ``1 … L - l + 1`` (the rows a later layer still needs). Embedding
tables get sparse gradients and a lazy Adam (:class:`~kgrec.gnn.lazy_adam.RowAdam`), so a step
touches only the batch's rows. Negatives come from the same :class:`NegativeSampler` as full-graph steps.

**Which one runs** (:func:`choose_sampler`, ``sampler="auto"``, the default):

1. ``full`` when the model cannot train on subgraphs (``supports_sampling`` is False; a warning
   if ``neighbor`` was asked for).
2. ``neighbor`` (:data:`AUTO_SUBGRAPHS`) when a full-graph step would not fit: its estimated peak
   (:func:`full_graph_bytes`: two sparse copies of every message edge, the node states of every
   layer with their gradients, the parameters with their gradient and two Adam moments) is more than
   :data:`MEMORY_SHARE` of the memory available (CUDA: free device memory; CPU: ``MemAvailable``).
3. ``neighbor`` when it is estimated to be faster: a full-graph epoch visits
   ``steps × layers × message edges``; a sampled epoch ``steps × (edges of one sampled subgraph)``,
   measured by drawing one batch of ``layers`` hops. A sampled edge costs about
   :data:`SAMPLED_EDGE_COST` times a full-graph edge visit (drawing it, building the subgraph's
   blocks, per-step overheads; measured here), so the sampled epoch must win by that factor.
4. ``full`` otherwise: on graphs the size of the bundled datasets a full-graph step is cheap and
   exact, so their benchmark numbers stay what they were.

Explicit ``sampler="full"``, ``"neighbor"`` or ``"history"`` is obeyed (rule 1 aside).

Why ``neighbor`` where ``auto`` samples, not ``history``: for the quality a given training time
buys. On the 100 k-user synthetic graph, side by side on the current code, a ``history`` epoch costs
0.88 of a ``neighbor`` one (125 s against 143 s), and ``neighbor`` is ahead at every time measured:
two epochs of it score above two of ``history`` in each of three seeds, and above four of
``history`` in the seed run that long (validation NDCG@20; benchmarks/notes/scale.md). Trained to
convergence on six real datasets the two are equal (``benchmarks/results/crossval/sampler-s0.md``:
the minimum over datasets of kgrec − LightGCN +0.0125 against +0.0130). What ``history`` buys is a
step that stays bounded as the graph grows (0.25 / 0.30 / 0.37 s at 10 k / 100 k / 1 M synthetic
users against 0.27 / 0.36 / 0.62 s): ask for it by name where an epoch's time must grow with the
edges and no faster (edges^1.09 from 10 k to 1 M users, against 1.28 for ``neighbor`` from 100 k).

**``history``** draws one hop only (the first fan-out) and reads the deeper layers' states of a
subgraph's non-seed rows from a table of every node's states (:class:`~kgrec.gnn.models.propagation.History`,
GNNAutoScale's historical embeddings), refreshed by one full-graph propagation without gradient at
each epoch's start (``O(edges)`` per epoch) and by every step for its seeds. A two-hop subgraph
grows with the graph until the catalogue stops being shared between batches (2.1× the edges from
100 k to 1 M synthetic users, benchmarks/notes/scale.md); a one-hop one is bounded by the seeds and
one fan-out from the smallest graph on. A step leaves out the gradient through its neighbours'
deeper states, so an epoch of it teaches less than an epoch of ``neighbor`` (above).

The choice, its reason and the estimates are logged and kept in the run
(``run.metrics.extra["sampler"]``, ``"sampler_reason"``).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from kgrec.errors import ConfigError

from .data import UserItems
from .options import SAMPLERS, resolve_sampler  # noqa: F401 (declared without torch, for TrainConfig)
from .models.base import Batch, ModelInputs

logger = logging.getLogger(__name__)

EdgeType = tuple[str, str, str]
SamplerName = Literal["full", "neighbor", "history"]
#: The samplers that train on subgraphs.
SUBGRAPH_SAMPLERS = ("neighbor", "history")
#: What ``auto`` trains on where it does not take the full graph (see the module docstring).
AUTO_SUBGRAPHS = "neighbor"


#: A full-graph step may use at most this share of the available memory.
MEMORY_SHARE = 0.5
#: How many full-graph edge visits one sampled edge costs (drawing it, building the subgraph's
#: blocks, per-step overheads). Measured here: on the 10 k-user synthetic graph LightGCN's sampled
#: and full-graph epochs take the same time where the full-graph epoch visits 17× more edges.
SAMPLED_EDGE_COST = 20.0


def sampling_available() -> bool:
    """Whether neighbour-sampled training can run: always (the sampler is plain torch)."""
    return True



@dataclass(frozen=True)
class SamplerChoice:
    """Which sampler runs, why, and the estimates behind it (bytes; edge visits per epoch)."""

    name: SamplerName
    reason: str
    full_step_bytes: int = 0
    available_bytes: int = 0
    full_epoch_edges: float = 0.0
    sampled_epoch_edges: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"sampler": self.name, "reason": self.reason, "full_step_bytes": int(self.full_step_bytes),
                "available_bytes": int(self.available_bytes), "full_epoch_edges": float(self.full_epoch_edges),
                "sampled_epoch_edges": float(self.sampled_epoch_edges)}


# -- estimates ------------------------------------------------------------------------------------
def available_bytes(device: torch.device) -> int:
    """Memory a training step may use: free CUDA memory, or the kernel's ``MemAvailable``."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30  # unknown: assume a modest machine


def message_edges(graph: Any, edge_types: list[EdgeType]) -> int:
    """Directed message edges of these edge types of the graph."""
    return int(sum(graph[et].edge_index.shape[1] for et in edge_types))


def full_graph_bytes(num_nodes: int, edges: int, *, dim: int, layers: int, parameters: int) -> int:
    """Estimated peak bytes of one full-graph training step.

    Two CSR copies of every message edge (``A`` and ``Aᵀ``: 8-byte column, 4-byte value), the
    ``[num_nodes, dim]`` float32 state of every layer kept for the backward pass and its gradient
    (two), the parameters with their gradient and two Adam moments (four).
    """
    return int(2 * 12 * edges + 2 * 4 * num_nodes * dim * (layers + 1) + 4 * 4 * parameters)


def choose_sampler(requested: str, *, model: Any, inputs: ModelInputs, config: Any, device: torch.device,
                   probe: NeighborBatches | None = None, available: int | None = None) -> SamplerChoice:
    """Apply the rule of the module docstring.

    Args:
        requested: ``auto``, ``full``, ``neighbor`` or ``history``.
        model, inputs, config: the model, its inputs and the effective config.
        device: where training runs.
        probe: the sampler to draw one batch with (built on demand otherwise).
        available: the bytes a step may use (default: None, :func:`available_bytes`).
    """
    requested = resolve_sampler(requested)
    if requested == "full":
        return SamplerChoice("full", "asked for")
    if not model.supports_sampling:
        if requested in SUBGRAPH_SAMPLERS:
            logger.warning("model %r trains on the full graph only; ignoring sampler=%r", model.name, requested)
        return SamplerChoice("full", f"model {model.name!r} trains on the full graph only")
    if requested in SUBGRAPH_SAMPLERS:
        return SamplerChoice(requested, "asked for")
    graph = inputs.graph
    types = model.sampling_edge_types()
    labels = {t for et in types for t in (et[0], et[2])}
    num_nodes = int(sum(int(graph[nt].num_nodes) for nt in labels))
    edges = message_edges(graph, types)
    params = sum(p.numel() for p in model.parameters())
    need = full_graph_bytes(num_nodes, edges, dim=config.dim, layers=max(config.layers, 1), parameters=params)
    have = available_bytes(device) if available is None else int(available)
    pairs = int(inputs.split.positives("train").shape[1])
    steps = max(1, math.ceil(pairs / config.batch_size))
    full_edges = float(steps) * max(config.layers, 1) * edges
    if need > MEMORY_SHARE * have:
        return SamplerChoice(AUTO_SUBGRAPHS, f"a full-graph step needs about {need / 2**30:.2f} GiB, more than "
                             f"{MEMORY_SHARE:.0%} of the {have / 2**30:.2f} GiB available", need, have, full_edges)
    probe = probe or NeighborBatches(inputs, edge_types=types, num_neighbors=config.num_neighbors,
                                     layers=config.layers, negatives=NegativeSampler(
                                         inputs.train, inputs.num_items, config.negatives,
                                         shared=model.shared_negatives))
    sampled_edges = float(steps) * probe.probe_edges(min(pairs, config.batch_size))
    if SAMPLED_EDGE_COST * sampled_edges < full_edges:
        reason = (f"a sampled epoch visits {sampled_edges:.3g} edges, a full-graph epoch {full_edges:.3g}: "
                  f"cheaper even at {SAMPLED_EDGE_COST:g}× the cost per edge")
        return SamplerChoice(AUTO_SUBGRAPHS, reason, need, have, full_edges, sampled_edges)
    reason = (f"the full graph fits (a step needs about {need / 2**30:.2f} of {have / 2**30:.2f} GiB) and a "
              f"full-graph epoch ({full_edges:.3g} edge visits) costs less than a sampled one "
              f"({sampled_edges:.3g} × {SAMPLED_EDGE_COST:g})")
    return SamplerChoice("full", reason, need, have, full_edges, sampled_edges)


# -- negatives ------------------------------------------------------------------------------------
class NegativeSampler:
    """Negatives: uniform items, redrawn (up to three times) where they hit one of the user's
    training items; or, for models with ``shared_negatives``, one uniform set per batch.

    Args:
        train: each user's training items.
        num_items: the catalogue size.
        amount: negatives per positive (or per batch when ``shared``).
        shared: one set for the whole batch (default: False).
    """

    def __init__(self, train: UserItems, num_items: int, amount: int, *, shared: bool = False):
        self.num_items = num_items
        self.amount = amount
        self.shared = shared
        users = np.repeat(np.arange(train.num_users), train.counts())
        self.codes = torch.from_numpy(np.sort(users * num_items + train.indices))

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``[len(users), amount]`` item rows (``[1, amount]`` when shared)."""
        if self.shared:  # one uniform set for the whole batch (a positive among them is rare and harmless)
            return torch.randint(0, self.num_items, (1, self.amount), generator=generator)
        neg = torch.randint(0, self.num_items, (len(users), self.amount), generator=generator)
        for _ in range(3):
            codes = users.unsqueeze(1) * self.num_items + neg
            pos = torch.searchsorted(self.codes, codes).clamp(max=len(self.codes) - 1)
            hit = self.codes[pos] == codes
            n = int(hit.sum())
            if n == 0:
                break
            neg[hit] = torch.randint(0, self.num_items, (n,), generator=generator)
        return neg


# -- the sampled subgraph -------------------------------------------------------------------------
def fanout(num_neighbors: list[int] | tuple[int, ...], layers: int) -> list[int]:
    """Neighbours per hop for ``layers`` hops: the list cut to length, or its last value repeated
    (-1: every neighbour)."""
    values = [int(n) for n in num_neighbors]
    if not values:
        raise ConfigError("num_neighbors is empty; give one fan-out per hop, e.g. [10, 5]")
    if any(n == 0 or n < -1 for n in values):
        raise ConfigError(f"num_neighbors {values}: each hop samples at least 1 neighbour (or -1 for all)")
    hops = max(int(layers), 1)
    return (values + [values[-1]] * hops)[:hops]


@dataclass(frozen=True, eq=False)
class Subgraph:
    """A sampled subgraph.

    ``n_id[type]``: the global row of each local row (seeds first; ``seeds[type]`` of them). Per edge type: ``edge_index``
    ``[2, E]`` local (source, target) rows of the sampled edges (each edge of the graph at most once),
    ``hop`` ``[E]`` the hop that drew it (1: into a seed), ``scale`` ``[E]`` what its message is
    multiplied by so that a node's sampled sum estimates its full sum (``in-degree / sampled``, 1
    where every neighbour was taken).
    """

    n_id: dict[str, torch.Tensor]
    edge_index: dict[EdgeType, torch.Tensor]
    hop: dict[EdgeType, torch.Tensor] = field(default_factory=dict)
    scale: dict[EdgeType, torch.Tensor] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Subgraph:
        return Subgraph(*({k: v.to(device) for k, v in part.items()}
                          for part in (self.n_id, self.edge_index, self.hop, self.scale)), seeds=self.seeds)

    @property
    def num_edges(self) -> int:
        return int(sum(ei.shape[1] for ei in self.edge_index.values()))


class NeighborBatches:
    """Neighbour-sampled subgraphs for batches of training pairs, with their negatives.

    In-neighbours are drawn per *label pair* (source label, target label): the edge types that join
    the same two labels (a KG's dozens of relations between entities and items, say) are one pool, of
    which a node gets up to ``f`` per hop; each drawn edge keeps its own edge type. One pool per label
    pair keeps a step's work independent of how many relations the KG has.

    Args:
        inputs: the model inputs (training graph, split).
        edge_types: the edge types to sample over (the model's ``sampling_edge_types()``).
        num_neighbors: fan-out per hop (see :func:`fanout`).
        layers: propagation layers (= hops).
        negatives: the :class:`NegativeSampler` to draw each batch's negatives with.
    """

    def __init__(self, inputs: ModelInputs, *, edge_types: list[EdgeType], num_neighbors, layers: int,
                 negatives: NegativeSampler):
        graph = inputs.graph
        self.inputs = inputs
        self.negatives = negatives
        self._num_neighbors = list(num_neighbors)
        self.fanout = fanout(num_neighbors, layers)
        self.pairs = torch.from_numpy(inputs.split.positives("train")).long()
        self.num_nodes = {nt: int(graph[nt].num_nodes) for nt in graph.node_types}
        members: dict[tuple[str, str], list[EdgeType]] = {}
        for et in edge_types:
            if graph[tuple(et)].edge_index.shape[1] > 0:
                members.setdefault((et[0], et[2]), []).append(tuple(et))
        # per label pair: in-neighbours by target (sources sorted by target), their edge type, pointers
        self.units: dict[tuple[str, str], list[EdgeType]] = members
        self._row: dict[tuple[str, str], torch.Tensor] = {}
        self._rel: dict[tuple[str, str], torch.Tensor] = {}
        self._ptr: dict[tuple[str, str], torch.Tensor] = {}
        for (s, t), ets in members.items():
            ei = torch.cat([graph[et].edge_index for et in ets], dim=1)
            rel = torch.cat([torch.full((graph[et].edge_index.shape[1],), j, dtype=torch.int16)
                             for j, et in enumerate(ets)])
            order = torch.argsort(ei[1], stable=True)
            self._row[(s, t)] = ei[0][order].to(torch.int32 if self.num_nodes[s] < 2**31 else torch.int64)
            self._rel[(s, t)] = rel[order]
            self._ptr[(s, t)] = torch.cat([torch.zeros(1, dtype=torch.long),
                                           torch.cumsum(torch.bincount(ei[1], minlength=self.num_nodes[t]), 0)])
        # global row → local row of the batch being built (-1: not in it); reset after each batch
        self._local = {nt: torch.full((n,), -1, dtype=torch.long) for nt, n in self.num_nodes.items()}

    def set_hops(self, hops: int) -> None:
        """Sample ``hops`` hops from now on (the fan-out list cut or extended as :func:`fanout` does)."""
        self.fanout = fanout(self._num_neighbors, hops)

    def batch(self, index: torch.Tensor, generator: torch.Generator | None = None) -> Batch:
        """The subgraph of the training pairs at positions ``index``, their negatives, drawn from
        ``generator``; the :class:`~kgrec.gnn.models.base.Batch` holds positions in the subgraph."""
        u_t, i_t = self.inputs.user_type, self.inputs.item_type
        users, pos = self.pairs[0, index], self.pairs[1, index]
        neg = self.negatives.sample(users, generator)
        seeds = {u_t: users, i_t: torch.cat([pos, neg.reshape(-1)])}
        sub, local = self._sample(seeds, generator)
        n_b = len(users)
        item_local = local[i_t]
        return Batch(local[u_t], item_local[:n_b], item_local[n_b:].reshape(neg.shape), graph=sub)

    def _sample(self, seeds: dict[str, torch.Tensor], generator: torch.Generator | None
                ) -> tuple[Subgraph, dict[str, torch.Tensor]]:
        n_id: dict[str, list[torch.Tensor]] = {}
        count: dict[str, int] = {}
        frontier: dict[str, torch.Tensor] = {}
        seed_local: dict[str, torch.Tensor] = {}
        for nt, rows in seeds.items():
            uniq, inverse = torch.unique(rows, return_inverse=True)
            self._local[nt][uniq] = torch.arange(len(uniq))
            n_id[nt], count[nt], frontier[nt], seed_local[nt] = [uniq], len(uniq), uniq, inverse
        seed_rows = dict(count)
        parts: dict[EdgeType, list[tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]]] = {}
        try:
            for hop, f in enumerate(self.fanout, start=1):
                found: dict[str, list[torch.Tensor]] = {}
                for (s, t), ets in self.units.items():
                    targets = frontier.get(t)
                    if targets is None or not len(targets):
                        continue
                    src, tgt, rel, scale = self._draw((s, t), targets, f, generator)
                    if not len(src):
                        continue
                    local_tgt = self._local[t][tgt]
                    for j, et in enumerate(ets):
                        mine = rel == j if len(ets) > 1 else slice(None)
                        parts.setdefault(et, []).append((src[mine], local_tgt[mine], hop, scale[mine]))
                    found.setdefault(s, []).append(src)
                frontier = {}
                for nt, found_rows in found.items():  # nodes reached for the first time: new rows, next frontier
                    cand = torch.unique(torch.cat(found_rows))
                    new = cand[self._local[nt][cand] < 0]
                    if nt not in n_id:
                        n_id[nt], count[nt] = [], 0
                    self._local[nt][new] = torch.arange(count[nt], count[nt] + len(new))
                    n_id[nt].append(new)
                    count[nt] += len(new)
                    frontier[nt] = new
            edge_index, hops, scales = {}, {}, {}
            for et, pieces in parts.items():
                src = self._local[et[0]][torch.cat([p[0] for p in pieces])]
                edge_index[et] = torch.stack([src, torch.cat([p[1] for p in pieces])])
                hops[et] = torch.cat([torch.full((len(p[0]),), p[2], dtype=torch.int8) for p in pieces])
                scales[et] = torch.cat([p[3] for p in pieces])
            ids = {nt: torch.cat(rows) for nt, rows in n_id.items()}
        finally:
            for nt, rows in n_id.items():
                for r in rows:
                    self._local[nt][r] = -1
        return Subgraph(ids, edge_index, hops, scales, seeds=seed_rows), seed_local

    def _draw(self, unit: tuple[str, str], targets: torch.Tensor, f: int, generator: torch.Generator | None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """In-neighbours of ``targets`` in one label pair: all of them where there are at most ``f``
        (or ``f = -1``), else ``f`` uniform draws with replacement, deduplicated. Global (source,
        target), the edge type's position in the pair, and the scale ``degree / sampled``."""
        ptr, row, rel = self._ptr[unit], self._row[unit], self._rel[unit]
        start = ptr[targets]
        deg = ptr[targets + 1] - start
        every = deg <= f if f > 0 else torch.ones_like(deg, dtype=torch.bool)
        # all neighbours of the small ones
        t_all, d_all, s_all = targets[every], deg[every], start[every]
        total = int(d_all.sum())
        tgt_a = torch.repeat_interleave(t_all, d_all, output_size=total)
        first = torch.cumsum(d_all, 0) - d_all
        pos_a = (torch.repeat_interleave(s_all - first, d_all, output_size=total) + torch.arange(total))
        if bool(every.all()):
            return row[pos_a].long(), tgt_a, rel[pos_a], torch.ones(total)
        # f draws for each of the others, duplicates dropped; each kept edge stands for degree / kept
        t_big, d_big, s_big = targets[~every], deg[~every], start[~every]
        width = int(d_big.max())
        draws = torch.minimum((torch.rand(len(t_big), f, generator=generator) * d_big.unsqueeze(1)).long(),
                              (d_big - 1).unsqueeze(1))
        codes = torch.unique((torch.arange(len(t_big)).unsqueeze(1) * width + draws).reshape(-1))
        which, off = codes // width, codes % width
        kept = torch.bincount(which, minlength=len(t_big))
        pos_b = s_big[which] + off
        scale_b = (d_big.to(torch.float32) / kept.clamp(min=1).to(torch.float32))[which]
        return (torch.cat([row[pos_a], row[pos_b]]).long(), torch.cat([tgt_a, t_big[which]]),
                torch.cat([rel[pos_a], rel[pos_b]]), torch.cat([torch.ones(total), scale_b]))

    def probe_edges(self, size: int) -> int:
        """Message edges of one sampled subgraph of ``size`` pairs (for :func:`choose_sampler`), drawn
        with a generator of its own so that training's draws are not disturbed."""
        gen = torch.Generator().manual_seed(0)
        index = torch.randperm(self.pairs.shape[1], generator=gen)[:max(size, 1)]
        return self.batch(index, gen).graph.num_edges
