"""Text preferences: what a user said they want more or less of, in memory and in the graph.

A sentence of feedback (:mod:`.feedback`) becomes weighted preferences for attribute nodes, stored
as edges from the user::

    (:User)-[:PREFERS {weight, source: 'text', at, phrase}]->(attribute)
    (:User)-[:AVOIDS  {weight, source: 'text', at, phrase}]->(attribute)

``weight`` is the cosine of the phrase with the attribute's name (1 for an exact name), ``at`` the
time in UTC (ISO 8601), ``phrase`` what the user wrote. The two relations extend the graph's
schema through the store's own upsert (the first write declares them); their sentence phrases are
kgrec's own (:data:`PREFERS_PHRASES`, :data:`AVOIDS_PHRASES`), as ``INTERESTED_IN`` is the text
layer's. A user has at most one of the two edges to an attribute: a later sentence about the same
attribute replaces the earlier one, "forget ..." removes it, and so does ``DELETE``.

**Effect on a list** (:class:`PreferenceEffect`), summed per item over the user's preferences as
``Σ sign · weight`` (``+`` for ``PREFERS``, ``−`` for ``AVOIDS``):

- an item whose sum is negative (an avoided attribute) loses ``strength · |sum|`` after the
  collaborative list is standardised (z-scores), before a query is fused: ``strength`` = 2 moves
  it down by two standard deviations of the user's list per fully matched attribute;
- items whose sum is positive (a preferred attribute) are not moved by a score: they get
  **reserved places** in the final list (:func:`reserve_places`). Every place ``p`` at which
  ``⌊p · share⌋`` grows (``share`` = 0.25: the 4th, 8th, 12th, …) goes to the best preferred item
  not already above it, in the list's own order; every other place keeps the list as it was. So a
  preference raises its attribute by ``share`` of any stretch of the list and pushes the user's
  other items down by at most that many places, instead of lifting every linked item by a fixed
  score, which for an attribute with many items filled the whole list with it (lastfm: the share
  of a "more" tag 0.076 → 0.732 and NDCG@20 on the user's other test items −66.7 %,
  ``benchmarks/notes/intent.md``). ``share`` is the config's ``preference_share`` times the
  strongest preferred weight (1 for an exactly named attribute).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from kgrec.kg.schema import RelationType, Schema, check_label

if TYPE_CHECKING:
    from kgrec.kg.stores import Store

    from ..index import GraphIndex

logger = logging.getLogger(__name__)

PREFERS = "PREFERS"
AVOIDS = "AVOIDS"
RELATIONS = (PREFERS, AVOIDS)
PREFERS_PHRASES = ("prefer", "prefers", "are preferred by", "is preferred by")
AVOIDS_PHRASES = ("avoid", "avoids", "are avoided by", "is avoided by")
PROPERTIES: dict[str, Literal["float", "string"]] = {"weight": "float", "source": "string", "at": "string",
                                                     "phrase": "string"}
SOURCE = "text"

_READ = ("MATCH (u:{user} {{id: $user}})-[r:{rel}]->(a) RETURN labels(a)[0] AS label, a.id AS id, "
         "coalesce(a.name, a.id) AS name, r.weight AS weight, r.source AS source, r.at AS at, r.phrase AS phrase "
         "ORDER BY r.weight DESC, id")
_READ_ALL = ("MATCH (u:{user})-[r:{rel}]->(a) RETURN u.id AS user, labels(a)[0] AS label, a.id AS id, "
             "coalesce(a.name, a.id) AS name, r.weight AS weight, r.source AS source, r.at AS at, r.phrase AS phrase")


@dataclass(frozen=True)
class Preference:
    """One stored preference of a user for (or against) an attribute node.

    Args:
        label, id, name: the attribute node.
        relation: ``PREFERS`` or ``AVOIDS``.
        weight: how strongly, in ``[0, 1]`` (the phrase's cosine with the attribute's name).
        at: when it was said (UTC, ISO 8601).
        phrase: the words it came from.
        source: where it came from (``text``).
    """

    label: str
    id: str
    name: str
    relation: Literal["PREFERS", "AVOIDS"]
    weight: float
    at: str = ""
    phrase: str = ""
    source: str = SOURCE

    @property
    def sign(self) -> float:
        return 1.0 if self.relation == PREFERS else -1.0

    def to_dict(self) -> dict:
        return {"label": self.label, "id": self.id, "name": self.name, "relation": self.relation,
                "weight": self.weight, "at": self.at, "phrase": self.phrase, "source": self.source}


def now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def preference_relations(user_label: str, labels: Iterable[str]) -> tuple[RelationType, ...]:
    """``PREFERS`` and ``AVOIDS`` from the user label to each attribute label, with their phrases."""
    out = []
    for label in labels:
        out.append(RelationType(user_label, PREFERS, label, dict(PROPERTIES), "a text preference of the user",
                                PREFERS_PHRASES))
        out.append(RelationType(user_label, AVOIDS, label, dict(PROPERTIES), "a text dislike of the user",
                                AVOIDS_PHRASES))
    return tuple(out)


def with_preferences(schema: Schema, labels: Iterable[str]) -> Schema:
    """``schema`` with the preference relations to ``labels`` (for sentences and path queries)."""
    extra = (schema.relation(schema.interaction), *preference_relations(schema.user_label, labels))
    return schema.merge(Schema(schema.nodes, extra, schema.user_label, schema.item_label, schema.interaction))


class Preferences:
    """Every user's text preferences in memory: user id → {(label, id): :class:`Preference`}.

    Args:
        index: the serving index (attribute nodes are found in it to reach their items).
        strength: how far an avoided attribute moves an item down, in standard deviations of the
            user's list (default: 2).
        share: the share of the list's places a preferred attribute gets (times its weight; at
            most 0.5) (default: 0.3).
    """

    def __init__(self, index: GraphIndex, *, strength: float = 2.0, share: float = 0.3):
        if not 0.0 <= share <= 0.5:
            raise ValueError(f"share must be in [0, 0.5], got {share}")
        self.index = index
        self.strength = strength
        self.share = share
        self._by_user: dict[str, dict[tuple[str, str], Preference]] = {}
        item = index.schema.item_label
        self._to_items = {label: [s for s in index.steps_from[label] if index.steps[s].target == item]
                          for label in index.labels}

    def of(self, user: str) -> list[Preference]:
        """A user's preferences, strongest first."""
        prefs = self._by_user.get(user, {})
        return sorted(prefs.values(), key=lambda p: (-p.weight, p.relation, p.label, p.id))

    def has(self, user: str) -> bool:
        return bool(self._by_user.get(user))

    def users(self) -> list[str]:
        return [u for u, p in self._by_user.items() if p]

    def replace(self, user: str, prefs: Iterable[Preference]) -> None:
        """Set a user's whole preference set."""
        new = {(p.label, p.id): p for p in prefs}
        if new:
            self._by_user[user] = new
        else:
            self._by_user.pop(user, None)

    def changed(self, user: str, changes: Sequence[Preference], removed: Iterable[tuple[str, str]] = ()
                ) -> list[Preference]:
        """The user's preference set after ``changes`` (each replacing any earlier one for its node)
        and ``removed`` nodes; nothing is changed here (see :meth:`replace`)."""
        new = dict(self._by_user.get(user, {}))
        for key in removed:
            new.pop(key, None)
        for p in changes:
            new[(p.label, p.id)] = p
        return sorted(new.values(), key=lambda p: (-p.weight, p.relation, p.label, p.id))

    def forget(self, user: str) -> None:
        self._by_user.pop(user, None)

    def linked_items(self, label: str, node_id: str) -> np.ndarray:
        """Item rows linked to an attribute node (empty when the index does not have it)."""
        row = self.index.row(label, node_id) if label in self.index.code else None
        if row is None:
            return np.empty(0, dtype=np.int64)
        return self.index.neighbours(label, row, self._to_items.get(label, []))

    def effect(self, user: str, size: int) -> PreferenceEffect | None:
        """What the user's preferences do to a list of ``size`` item rows (None when the user has
        none): ``Σ sign · weight`` per item row linked to them, the strength of an avoid and the
        share of places a preference gets (``share`` × the strongest preferred weight)."""
        prefs = self._by_user.get(user)
        if not prefs:
            return None
        weights = np.zeros(size, dtype=np.float64)
        for p in prefs.values():
            rows = self.linked_items(p.label, p.id)
            weights[rows[rows < size]] += p.sign * p.weight
        preferred = [p.weight for p in prefs.values() if p.relation == PREFERS]
        return PreferenceEffect(weights, self.strength, self.share * max(preferred, default=0.0))


def _head(scores: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` rows of the best scores, best first (one partial sort, then a stable sort of ``n``)."""
    if len(rows) > n:
        rows = np.sort(rows[np.argpartition(-scores[rows], n - 1)[:n]])
    return rows[np.argsort(-scores[rows], kind="stable")]


@dataclass(frozen=True)
class PreferenceEffect:
    """One user's preferences applied to a list (see the module docs).

    Args:
        weights: ``Σ sign · weight`` of the user's preferences per item row.
        strength: how far an avoided item moves down, in standard deviations of the list.
        share: the share of places that go to preferred items.

    Shapes:
        weights: ``[num_item_rows]`` float64.
    """

    weights: np.ndarray
    strength: float
    share: float

    def avoid(self, scores: np.ndarray) -> np.ndarray:
        """Standardised ``scores`` with each avoided item moved down by ``strength · |Σ|`` (``-inf`` stays)."""
        down = np.minimum(self.weights, 0.0) * self.strength
        return np.where(np.isfinite(scores), scores + down, -np.inf)

    def reserve(self, scores: np.ndarray, *, depth: int) -> np.ndarray:
        """``scores`` with places reserved for the preferred items in the first ``depth`` places
        (:func:`reserve_places`)."""
        return reserve_places(scores, self.weights > 0, share=self.share, depth=depth)


def reserve_places(scores: np.ndarray, preferred: np.ndarray, *, share: float, depth: int) -> np.ndarray:
    """``scores`` changed so that the list they rank holds, in each of its first ``depth`` places
    ``p`` at which ``⌊p · share⌋`` grows, the best ``preferred`` item not already above it.

    The list is the merge of two lists in their own order: the preferred items and the others. An
    item takes the next place when its score beats the other list's next item, as before; at a
    reserved place the next preferred item takes it whatever its score, and is given a score
    between its new neighbours (the midpoint of the item before it and the next other item), so
    ranking the returned scores gives the merged list. Nothing else changes: the first ``L``
    places hold at least ``⌊L · share⌋`` preferred items (as many as there are), and the other
    items keep their order, each moved down by at most ``⌊L · share⌋`` places.

    Args:
        scores: the list's scores, ``-inf`` for what may not be recommended.
        preferred: which item rows are preferred.
        share: the share of places reserved, in ``[0, 0.5]`` (0: none; 0.5: every other place).
        depth: how many places of the list are merged (the rest keep their scores).

    Shapes:
        scores, preferred and the output: ``[num_item_rows]``.
    """
    out = np.array(scores, dtype=np.float64)
    finite = np.isfinite(out)
    mine = np.flatnonzero(finite & preferred)
    if share <= 0 or not len(mine) or depth < 1:
        return out
    others = np.flatnonzero(finite & ~preferred)
    mine, others = _head(out, mine, depth), _head(out, others, depth)
    i = j = 0
    before = np.inf  # the score of the item in the place above
    for place in range(1, depth + 1):
        if i >= len(mine):
            break
        reserved = int(place * share + 1e-9) > int((place - 1) * share + 1e-9)
        nxt = out[others[j]] if j < len(others) else -np.inf
        if reserved or out[mine[i]] > nxt:
            if out[mine[i]] <= nxt:  # lifted into a reserved place
                out[mine[i]] = nxt + 1.0 if before == np.inf else (before + nxt) / 2
            before = out[mine[i]]
            i += 1
        else:
            before = nxt
            j += 1
    return out


# -- the store --------------------------------------------------------------------------------
def _stored_types(store: Store, graph: str | None, user_label: str) -> list[tuple[str, str, str]]:
    return [et for et in store.schema(graph=graph).edge_types if et[0] == user_label and et[1] in RELATIONS]


def write_preferences(store: Store, user: str, prefs: Sequence[Preference], *, graph: str | None = None,
                      user_label: str | None = None) -> int:
    """Make the store hold exactly ``prefs`` as the user's text preferences: the user's earlier
    ``PREFERS``/``AVOIDS`` edges are deleted, then these are upserted (the user node is created if
    it is new). Returns the edges written."""
    user_label = check_label(user_label or store.schema(graph=graph).user_label)
    store.upsert_nodes(user_label, pd.DataFrame({"id": [user]}), graph=graph)
    for et in _stored_types(store, graph, user_label):
        store.delete_edges(et, src=[user], graph=graph)
    written = 0
    groups: dict[tuple[str, str], list[Preference]] = {}
    for p in prefs:
        groups.setdefault((p.relation, p.label), []).append(p)
    for (relation, label), part in sorted(groups.items()):
        rows = pd.DataFrame({"src": [user] * len(part), "dst": [p.id for p in part],
                             "weight": [float(p.weight) for p in part], "source": [p.source for p in part],
                             "at": [p.at for p in part], "phrase": [p.phrase for p in part]})
        written += store.upsert_edges((user_label, relation, check_label(label)), rows, graph=graph)
    return written


def _rows_to_preferences(rows: Iterable[Mapping]) -> list[Preference]:
    return [Preference(str(r["label"]), str(r["id"]), str(r["name"]), r["relation"],
                       float(r["weight"]) if r["weight"] is not None else 0.0, str(r["at"] or ""),
                       str(r["phrase"] or ""), str(r["source"] or SOURCE)) for r in rows]


def read_preferences(store: Store, user: str, *, graph: str | None = None, user_label: str | None = None
                     ) -> list[Preference]:
    """A user's stored text preferences, strongest first (empty when none were written)."""
    user_label = check_label(user_label or store.schema(graph=graph).user_label)
    out: list[dict] = []
    for relation in sorted({et[1] for et in _stored_types(store, graph, user_label)}):
        result = store.query(_READ.format(user=user_label, rel=relation), {"user": str(user)}, graph=graph)
        out += [{**row, "relation": relation} for row in result.to_dicts()]
    return sorted(_rows_to_preferences(out), key=lambda p: (-p.weight, p.relation, p.label, p.id))


def read_all_preferences(store: Store, *, graph: str | None = None, user_label: str | None = None,
                         max_rows: int = 1_000_000) -> dict[str, list[Preference]]:
    """Every user's stored text preferences (one query per relation)."""
    user_label = check_label(user_label or store.schema(graph=graph).user_label)
    out: dict[str, list[dict]] = {}
    for relation in sorted({et[1] for et in _stored_types(store, graph, user_label)}):
        result = store.query(_READ_ALL.format(user=user_label, rel=relation), {}, graph=graph, max_rows=max_rows)
        for row in result.to_dicts():
            out.setdefault(str(row.pop("user")), []).append({**row, "relation": relation})
    return {user: _rows_to_preferences(rows) for user, rows in out.items()}


__all__ = ["AVOIDS", "AVOIDS_PHRASES", "PREFERS", "PREFERS_PHRASES", "Preference", "PreferenceEffect", "Preferences",
           "now", "preference_relations", "read_all_preferences", "read_preferences", "reserve_places",
           "with_preferences", "write_preferences"]
