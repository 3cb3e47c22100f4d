"""Path quality: how good an explanation path is *as an explanation*, measured as the
path-reasoning literature does, and a check that each sentence says its path and nothing else.

The three properties are those of Balloccu et al. ("Post Processing Recommender Systems with
Knowledge Graphs for Recency, Popularity, and Diversity of Explanations", SIGIR 2022), the ones
the replication study of PGPR, CAFE and UCPR on ML1M and LFM1M (arXiv 2301.05944) reports:

- **LIR**, linking interaction recency: how recent the user's interaction that starts the path is
  among the user's interactions of that relation. The user's edges of the relation are sorted by
  time, their timestamps smoothed by an exponentially weighted moving average (span = their
  number) and scaled to ``[0, 1]``: 1 is the most recent. It needs a ``timestamp`` property on the
  path's first relation (the name the generic and RecBole loaders and MovieLens use); where the
  relation has none, the path has no LIR (None) and the report says how many paths had one. The
  replication study's code falls back to the file order when times are missing; that order means
  nothing here, so it is not used.
- **SEP**, shared entity popularity: how popular the path's node before the item is (the entity
  the item shares with the user's side), as its degree in the graph among the nodes of its label,
  smoothed and scaled the same way: 1 is the most connected.
- **ETD**, explanation type diversity of a list: the number of distinct *path types* (the relation
  of the hop into the item) among the list's explanations, divided by ``min(list length, number
  of relation types that reach an item)``. A list explained only by "someone else also listened"
  has one type.

The smoothing follows the study's code (pandas ``ewm(span=n).mean()`` over the sorted values, then
min–max scaling) with one change: equal values get one value (the one at the last position of
their run), where the study's order among ties gave them different ones.

:func:`sentence_problems` checks a sentence against its path: each node after the user is named
(as :class:`~kgrec.serving.sentences.Grammar` names nodes; the user is "you", or implied by "who
also ..."), and every other word is a word of the path's own relations' phrases (declared by the
schema, or derived from the relation's name), of a label, or of the sentence frames' fixed words
(:data:`FRAME_WORDS`): a name of a node that is not on the path fails the check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .sentences import Grammar

if TYPE_CHECKING:
    from kgrec.kg import KnowledgeGraph

    from .index import GraphIndex
    from .paths import ExplanationPath

TIMESTAMP = "timestamp"
"""The relation property LIR reads."""

FRAME_WORDS = frozenset("because you your already which who also a an of friend shares with and too the user"
                        .split())
"""The words the sentence frames of :mod:`kgrec.serving.sentences` add around nodes and phrases."""


def smoothed_rank(values: np.ndarray) -> np.ndarray:
    """Each value's place among all of them, in ``[0, 1]``: the values sorted, smoothed by an
    exponentially weighted moving average (span = their number), min–max scaled; equal values get
    one value; a single distinct value gets 1.

    Shapes:
        values: ``[n]``; output: ``[n]`` float64, in the input's order.
    """
    import pandas as pd

    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return np.empty(0)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    ema = pd.Series(ordered).ewm(span=n).mean().to_numpy()
    ema = ema[np.searchsorted(ordered, ordered, side="right") - 1]  # ties: the value at their run's end
    lo, hi = ema.min(), ema.max()
    scaled = np.ones(n) if hi <= lo else (ema - lo) / (hi - lo)
    out = np.empty(n)
    out[order] = scaled
    return out


def path_type(path: ExplanationPath) -> str:
    """The path's type: the relation of its hop into the item."""
    return path.relations[-1].type


class PathQuality:
    """LIR, SEP and ETD of explanation paths over one graph (see the module docs).

    Args:
        index: the serving index (degrees for SEP, the relations that reach an item for ETD).
        kg: the graph, for the ``timestamp`` property of the user's edges (LIR) (default: None:
            no path has a LIR).
    """

    def __init__(self, index: GraphIndex, kg: KnowledgeGraph | None = None):
        self.index = index
        self.schema = index.schema
        self.user_label, self.item_label = self.schema.user_label, self.schema.item_label
        self._sep: dict[str, np.ndarray] = {}
        self._lir: dict[tuple[str, str], dict[str, float]] = {}
        self._times: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # relation -> (users, others, times)
        self.types = sorted({s.edge_type[1] for s in index.steps if s.target == self.item_label})
        if kg is not None:
            for r in self.schema.relations:
                if TIMESTAMP not in r.properties or self.user_label not in (r.source, r.target):
                    continue
                df = kg.edges.get(r.edge_type)
                if df is None or TIMESTAMP not in df.columns or not len(df):
                    continue
                ok = df[TIMESTAMP].notna().to_numpy()
                src = df["src"].astype(str).to_numpy()[ok]
                dst = df["dst"].astype(str).to_numpy()[ok]
                times = df[TIMESTAMP].to_numpy(dtype=np.float64)[ok]
                users, others = (src, dst) if r.source == self.user_label else (dst, src)
                if r.source == r.target:  # between users: each edge is on both users' timelines
                    users, others = np.concatenate([src, dst]), np.concatenate([dst, src])
                    times = np.concatenate([times, times])
                order = np.argsort(users, kind="stable")
                self._times[r.name] = (users[order], others[order], times[order])

    @property
    def has_times(self) -> bool:
        """Whether any relation of the user has timestamps (else no path has a LIR)."""
        return bool(self._times)

    def lir(self, path: ExplanationPath) -> float | None:
        """The path's linking interaction recency (None without a timestamp on its first hop)."""
        relation = path.relations[0].type
        table = self._times.get(relation)
        if table is None or path.hops < 1:
            return None
        user = path.nodes[0].id
        key = (relation, user)
        if key not in self._lir:
            users, others, times = table
            lo, hi = np.searchsorted(users, user, "left"), np.searchsorted(users, user, "right")
            values = smoothed_rank(times[lo:hi])
            mine: dict[str, float] = {}
            for other, value in zip(others[lo:hi].tolist(), values.tolist()):
                mine[other] = max(value, mine.get(other, 0.0))  # the latest of repeated edges
            self._lir[key] = mine
        return self._lir[key].get(path.nodes[1].id)

    def sep(self, path: ExplanationPath) -> float | None:
        """The path's shared entity popularity: of its node before the item (None for one hop)."""
        if path.hops < 2:
            return None
        node = path.nodes[-2]
        row = self.index.row(node.label, node.id)
        if row is None:
            return None
        values = self._sep.get(node.label)
        if values is None:
            values = self._sep[node.label] = self._popularity(node.label)
        return float(values[row]) if row < len(values) else None

    def _popularity(self, label: str) -> np.ndarray:
        n = self.index.num_nodes(label)
        position = self.index.gather(label, np.arange(n, dtype=np.int64))[0]
        degree = np.bincount(position, minlength=n).astype(np.float64)
        present = self.index.present(label)
        out = np.full(n, np.nan)
        out[present] = smoothed_rank(degree[present])
        return out

    def etd(self, paths: Sequence[ExplanationPath]) -> float | None:
        """A list's explanation type diversity (None for a list without paths)."""
        if not paths:
            return None
        return len({path_type(p) for p in paths}) / min(len(paths), max(len(self.types), 1))


def sentence_problems(path: ExplanationPath, sentence: str, grammar: Grammar) -> list[str]:
    """What is wrong with a path's sentence (empty when it names exactly the path's nodes and
    says the rest with the path's relations' phrases and the frames' words; see the module docs)."""
    problems = []
    text = sentence
    by_name: dict[str, list] = {}
    for node in path.nodes[1:]:
        by_name.setdefault(grammar.node(node), []).append(node)
    for name in sorted(by_name, key=len, reverse=True):  # "Soul" after "Lunatic Soul"
        nodes = by_name[name]
        pattern = (r"(?<!\w)" if name[:1].isalnum() else "") + re.escape(name) + (r"(?!\w)" if name[-1:].isalnum() else "")
        text, found = re.subn(pattern, " ", text)
        if found < len(nodes):  # two nodes of one name are named twice; one node may be named again
            problems.append(f"does not name {' and '.join(f'{n.label} {n.id!r}' for n in nodes)} (as {name!r})")
    words = re.findall(r"\w+", text.lower())
    allowed = set(FRAME_WORDS)
    for edge_type in path.edge_types:
        for direction in ("out", "in"):
            for you in (True, False):
                allowed.update(re.findall(r"\w+", grammar.phrase(edge_type, direction, you=you).lower()))
    for label in {n.label for n in path.nodes}:
        allowed.update(w.lower() for w in re.findall(r"[A-Z][a-z]*|[a-z]+", label))
    unknown = [w for w in words if w not in allowed]
    if unknown:
        problems.append(f"words from neither the path's nodes nor its relations' phrases: {', '.join(unknown)}")
    return problems


__all__ = ["FRAME_WORDS", "TIMESTAMP", "PathQuality", "path_type", "sentence_problems", "smoothed_rank"]
