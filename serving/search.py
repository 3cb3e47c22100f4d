"""The explanation search: bounded, vectorised path search from a user to some items.

The graph is the serving index's CSR adjacency (:class:`~kgrec.serving.index.GraphIndex`). A search
for one user runs breadth-first from the user over *every* relation in both directions, keeps the
``beam`` best partial paths per depth, and meets each recommended item from its own one-hop
neighbourhood, so the last hop is exact for every target: a path of at most ``max_hops`` hops is
``user → … → m → item`` with ``m`` a neighbour of the item.

**Path score** (what "how much the path supports the recommendation" means here): the trained
model scores ``user · item`` with final node vectors that every node type shares (message passing
moves them into one space). Each hop ``a → b`` of a path gets a *support* ``s = max(cos(v_a, v_b),
ε)`` — how strongly the trained model ties its two ends — and the path's score is the geometric
mean of its hop supports, ``exp(mean(log s))``, a number in ``(0, 1]``. A chain is as convincing as
its hops are; one weak hop (a hub tag that the model does not associate with the item) pulls it
down, and the geometric mean does not favour short or long paths by itself. A hop whose end has
no trained vector gets the neutral support :data:`~kgrec.serving.vectors.NEUTRAL_SUPPORT`.

**Scorings** (``scoring=``, looked up by :data:`SCORINGS`; the support-based part is the same):

- ``geometric`` — the geometric mean of the hop supports, as above.
- ``weakest`` — the smallest hop support: a chain is as strong as its weakest hop.
- ``anchored`` — the geometric mean of the hop supports *and* the support between the path's first
  node after the user (the *anchor*: the item the user interacted with, the friend, the tag) and
  the recommended item, ``exp((Σ log s + log a) / (hops + 1))``. The anchor is the node whose
  removal from the user's propagation the fidelity measure undoes
  (:mod:`kgrec.serving.fidelity`), so a path whose anchor the model ties to the item ranks higher.

:data:`DEFAULT_SCORING` is ``anchored``, chosen on fidelity measured on validation users
(``benchmarks/explain_scoring.py``, 200 users, top 10, 3 paths; ``benchmarks/notes/explanations.md``):
on lastfm its paths beat their random controls in 77.3 % of pairs (geometric 76.0 %, weakest
68.0 %; characterization 0.301 / 0.250 / 0.179), on movielens-small in 75.9 % (67.8 %, 65.3 %;
0.304 / 0.221 / 0.175), at a slightly lower entity popularity and type diversity (SEP, ETD).

The ``m`` explanations returned per item are chosen best-first with one rule for variety
(:func:`choose`): the best path of each relation pattern (``LISTENED_TO/HAS_TAG/HAS_TAG``,
``LISTENED_TO/LISTENED_TO/…``) comes before a second path of a pattern already shown.

Shapes: node keys are int64 ``label_code << 32 | row``; a layer of the search holds ``[n]`` arrays
of keys, parents, steps and log-support sums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kgrec.resolver import Registry

from .index import MASK as _MASK
from .index import SHIFT as _SHIFT
from .index import GraphIndex
from .paths import ExplanationPath, PathNode, PathRelation

SCORINGS: Registry[str] = Registry("path scoring")
"""The path scorings (see the module docs): ``geometric``, ``weakest``, ``anchored``."""
SCORINGS.register("geometric", "geometric", aliases=("geometric-mean", "support"))
SCORINGS.register("weakest", "weakest", aliases=("min", "weakest-hop"))
SCORINGS.register("anchored", "anchored", aliases=("anchor",))
DEFAULT_SCORING = "anchored"
"""The scoring the explainer uses unless told otherwise (see the module docs for the evidence)."""


@dataclass(frozen=True)
class FoundPath:
    """A path found by :func:`search_paths`, before it is turned into an :class:`Explanation`."""

    keys: tuple[int, ...]  # node keys, user first, item last
    steps: tuple[int, ...]  # GraphIndex step of each hop
    supports: tuple[float, ...]
    score: float


@dataclass
class _Layer:
    key: np.ndarray  # node of each entry
    parent: np.ndarray  # entry in the previous layer
    step: np.ndarray  # step used to arrive here
    support: np.ndarray  # support of that last hop
    logsum: np.ndarray  # sum of log supports so far


def _expand(index: GraphIndex, layers: list[_Layer], beam: int) -> _Layer:
    prev = layers[-1]
    parts = []
    codes = prev.key >> _SHIFT
    for code in np.unique(codes):
        sel = np.flatnonzero(codes == code)
        pos, key, step, logsup = index.gather(index.labels[int(code)], prev.key[sel] & _MASK)
        if len(key):
            parts.append((sel[pos], key, step, logsup))
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return _Layer(empty, empty, empty, np.empty(0), np.empty(0))
    parent, key, step, logsup = (np.concatenate(x) for x in zip(*parts))
    # simple paths only: a node may not repeat one of its ancestors
    ok = np.ones(len(key), dtype=bool)
    anc = parent
    for d in range(len(layers) - 1, -1, -1):
        ok &= layers[d].key[anc] != key
        if d:
            anc = layers[d].parent[anc]
    parent, key, step, logsup = parent[ok], key[ok], step[ok], logsup[ok]
    logsum = prev.logsum[parent] + logsup
    if len(key) > beam:
        top = np.argpartition(-logsum, beam - 1)[:beam]
        parent, key, step, logsup, logsum = parent[top], key[top], step[top], logsup[top], logsum[top]
    return _Layer(key, parent, step, np.exp(logsup), logsum)


def search_paths(index: GraphIndex, user_row: int, item_rows: Sequence[int], *,
                 max_hops: int = 3, beam: int = 2000, per_item: int = 16, per_relation: int = 2,
                 scoring: str = DEFAULT_SCORING) -> dict[int, list[FoundPath]]:
    """Best paths of at most ``max_hops`` hops from one user to each of some items.

    The user's side is expanded once, ``max_hops - 1`` deep, keeping the ``beam`` best partial
    paths per depth; each item is then met from its own one-hop neighbourhood.

    Args:
        index: the adjacency, weighed with the trained vectors (:meth:`GraphIndex.weigh`).
        user_row: the user's row (``schema.user_label``).
        item_rows: rows of the items (``schema.item_label``) to reach.
        max_hops: the longest path (default: 3).
        beam: partial paths kept per depth, best first (default: 2000).
        per_item: paths kept per item, best first (default: 16).
        per_relation: paths kept besides those per item and relation of the last hop (the item's
            listener, tag, genre, …), best first, so that other kinds of path survive many strong
            paths of one kind (default: 2).
        scoring: how a whole path is scored, a name of :data:`SCORINGS` (default:
            :data:`DEFAULT_SCORING`). The search's beam keeps partial paths by their sum of log
            supports whatever the scoring.

    Returns:
        item row → paths, best first (an item with no path within ``max_hops`` maps to ``[]``).
    """
    if max_hops < 1:
        raise ValueError(f"max_hops must be at least 1, got {max_hops}")
    scoring = SCORINGS.resolve(scoring)
    user_label, item_label = index.schema.user_label, index.schema.item_label
    start = np.array([index.key(user_label, user_row)], dtype=np.int64)
    layers = [_Layer(start, np.array([-1]), np.array([-1]), np.ones(1), np.zeros(1))]
    for _ in range(max_hops - 1):
        layers.append(_expand(index, layers, beam))
    # all entries of every depth, sorted by node key, for the meeting
    depth_of = np.concatenate([np.full(len(layer.key), d, dtype=np.int64) for d, layer in enumerate(layers)])
    all_keys = np.concatenate([layer.key for layer in layers])
    all_logsum = np.concatenate([layer.logsum for layer in layers])
    # each entry's path so far: nodes (padded with -1), steps and hop supports, one row per entry
    paths_of = [np.full((1, max_hops), -1, dtype=np.int64)]
    paths_of[0][:, 0] = start
    steps_of = [np.full((1, max_hops), -1, dtype=np.int64)]
    sups_of = [np.ones((1, max_hops))]
    for d in range(1, len(layers)):
        layer = layers[d]
        p, st, su = paths_of[d - 1][layer.parent], steps_of[d - 1][layer.parent], sups_of[d - 1][layer.parent]
        p[:, d], st[:, d], su[:, d] = layer.key, layer.step, layer.support
        paths_of.append(p)
        steps_of.append(st)
        sups_of.append(su)
    all_path, all_steps, all_sups = np.concatenate(paths_of), np.concatenate(steps_of), np.concatenate(sups_of)
    order = np.argsort(all_keys, kind="stable")
    sorted_keys = all_keys[order]

    # every item's one-hop neighbourhood at once, met with every depth's entries
    items = np.asarray([int(i) for i in item_rows], dtype=np.int64)
    out: dict[int, list[FoundPath]] = {int(i): [] for i in items}
    if not len(items):
        return out
    pos, mkeys, msteps, mlog = index.gather(item_label, items)
    lo = np.searchsorted(sorted_keys, mkeys, "left")
    counts = np.searchsorted(sorted_keys, mkeys, "right") - lo
    total = int(counts.sum())
    if not total:
        return out
    which = np.repeat(np.arange(len(mkeys)), counts)  # the neighbour (of some item) each match came through
    flat = order[np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total, dtype=np.int64)]
    item_of = pos[which]
    tkeys = (np.int64(index.code[item_label]) << _SHIFT) | items
    # the item itself may not appear earlier on its own path
    ok = ~(all_path[flat] == tkeys[item_of][:, None]).any(axis=1)
    flat, which, item_of = flat[ok], which[ok], item_of[ok]
    depth = depth_of[flat]
    # the support of a hop is symmetric: item -> m weighs the same as m -> item
    last_log = mlog[which]
    score = _score(index, scoring, all_path[flat], all_sups[flat], all_logsum[flat], last_log, depth,
                   tkeys[item_of])
    # per item: the per_item best, and the user's own edge to the item whenever there is one
    order_by = np.lexsort((-score, item_of))
    starts = np.searchsorted(item_of[order_by], np.arange(len(items)), "left")
    rank = np.arange(len(order_by)) - starts[item_of[order_by]]
    # and the best ``per_relation`` per (item, relation of the last hop), so that choose() can show a
    # shared tag or genre beside many strong friend-of-friend paths
    variety = np.zeros(len(score), dtype=bool)
    if per_relation:
        rel_code = np.unique(np.asarray(index.relation_of), return_inverse=True)[1].astype(np.int64)
        group = item_of.astype(np.int64) * (int(rel_code.max()) + 1) + rel_code[msteps[which]]
        order_g = np.lexsort((-score, group))
        g = group[order_g]
        first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        grank = np.arange(len(g)) - np.repeat(first, np.diff(np.r_[first, len(g)]))
        variety[order_g[grank < per_relation]] = True
    chosen = order_by[(rank < per_item) | (depth[order_by] == 0) | variety[order_by]]
    for j in chosen.tolist():
        f, d, t = int(flat[j]), int(depth[j]), int(item_of[j])
        out[int(items[t])].append(FoundPath(
            tuple(all_path[f, :d + 1].tolist()) + (int(tkeys[t]),),
            tuple(all_steps[f, 1:d + 1].tolist()) + (int(index.reverse[msteps[which[j]]]),),
            tuple(all_sups[f, 1:d + 1].tolist()) + (float(np.exp(last_log[j])),),
            float(score[j])))
    return out


def _score(index: GraphIndex, scoring: str, path: np.ndarray, sups: np.ndarray, logsum: np.ndarray,
           last_log: np.ndarray, depth: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Whole-path scores of the meeting's candidates (``[n]``): ``path``/``sups`` are ``[n, max_hops]``
    node keys and hop supports before the last hop (padded with ``-1`` / ``1``), ``logsum`` their
    log-support sums, ``last_log`` the log support of the hop into the item, ``depth`` the hops
    before it, ``targets`` the item keys."""
    if scoring == "weakest":  # padded supports are 1, so the row minimum is over the real hops
        return np.minimum(sups.min(axis=1), np.exp(last_log))
    if scoring == "anchored":  # the node after the user (the user itself on a one-hop path)
        anchor = path[np.arange(len(path)), np.minimum(depth, 1)]
        log_anchor = np.log(index.supports(anchor, targets))
        return np.exp((logsum + last_log + log_anchor) / (depth + 2))
    return np.exp((logsum + last_log) / (depth + 1))


def choose(paths: Sequence[FoundPath], index: GraphIndex, m: int) -> list[FoundPath]:
    """The ``m`` paths to show, ordered by score: the user's own edge to the item when there is one,
    then the best path of each relation pattern before a second one of a pattern already chosen, and
    no two paths through the same nodes, in any order (two relations between the same nodes — a
    friendship stored both ways, DBpedia's associated band and associated musical artist — show
    once, and so do "a friend of your friend B" and "B, a friend of your friend A" when A and B are
    friends of the user and of each other)."""
    seen: set[frozenset] = set()
    unique: list[FoundPath] = []
    for p in sorted(paths, key=lambda p: (len(p.steps) > 1, -p.score)):
        nodes = frozenset(p.keys)
        if nodes not in seen:
            seen.add(nodes)
            unique.append(p)
    chosen: list[FoundPath] = []
    patterns: set[tuple] = set()
    for p in unique:
        pat = tuple(index.relation_of[s] for s in p.steps)
        if pat not in patterns:
            patterns.add(pat)
            chosen.append(p)
        if len(chosen) == m:
            break
    for p in sorted(unique, key=lambda p: -p.score):
        if len(chosen) >= m:
            break
        if p not in chosen:
            chosen.append(p)
    chosen.sort(key=lambda p: -p.score)
    return chosen[:m]


def to_path(found: FoundPath, index: GraphIndex) -> ExplanationPath:
    """The nodes and relations of a found path. A hop along a relation the schema declares
    symmetric is printed forward (``a -[R]-> b``) whenever the graph stores it that way too, so a
    friendship reads the same way in every path."""
    symmetric = {r.edge_type for r in index.schema.relations if r.symmetric}
    nodes, rels = [], []
    for key in found.keys:
        label, row = index.unkey(key)
        nodes.append(PathNode(label, index.node_id(label, row), index.name(label, row)))
    for i, s in enumerate(found.steps):
        step = index.steps[s]
        direction = step.direction
        if direction == "in" and step.edge_type in symmetric:
            out = index.step_index(step.edge_type, "out")
            keys, steps = index.neighbourhood(*index.unkey(found.keys[i]))
            if np.any((keys == found.keys[i + 1]) & (steps == out)):
                direction = "out"
        rels.append(PathRelation(step.edge_type[1], direction))
    return ExplanationPath(tuple(nodes), tuple(rels))


__all__ = ["DEFAULT_SCORING", "SCORINGS", "FoundPath", "choose", "search_paths", "to_path"]
