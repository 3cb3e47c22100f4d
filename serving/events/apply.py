"""Applying events: to the store (batched idempotent upserts) and to the serving state (fold-in).

:class:`EventApplier` takes a batch of parsed events in stream order and returns what became of
each entry: applied, dead (with the reason), or to retry later (an item the graph does not have
yet, which an item event on its way may bring). Events apply in order: interactions are gathered
into one batched write, and an ``item``, ``user`` or ``forget`` event first flushes the
interactions before it.

**Exactly-once effect.** Every write is an upsert keyed by what it describes, so applying an event
twice leaves the store as applying it once: an interaction is the edge ``(user)-[interaction]->
(item)`` (MERGE by its two ends) with the event's ``event_id`` and its value (``weight`` states the
value, e.g. a play count or a rating; it never adds); a new item or user is a node MERGEd by id; a
forget deletes. A consumer killed between applying and acknowledging has its entries delivered
again (to itself after a restart, or claimed by another consumer) and applies them again to the
same effect. The serving state is idempotent too (:meth:`Recommender.observe`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from kgrec.errors import InputError, KgrecError, StoreUnavailableError, UnknownItemError, UnknownUserError
from kgrec.kg.cypher import missing_nodes

from .schema import Event, ForgetEvent, InteractionEvent, ItemEvent, UserEvent
from .transport import Entry

if TYPE_CHECKING:
    from ..recommender import Recommender

logger = logging.getLogger(__name__)

EVENT_ID_PROPERTY = "event_id"
"""The property of an interaction edge that names the event that wrote it last."""


@dataclass
class Outcome:
    """What became of a batch: entry ids applied (or ignored), dead letters ``(entry, reason)``,
    entries to retry (``(entry, reason)``), users whose vectors changed, and the interactions
    applied (``(event, entry id)``, for experiment outcomes)."""

    applied: list[str] = field(default_factory=list)
    dead: list[tuple[Entry, str]] = field(default_factory=list)
    retry: list[tuple[Entry, str]] = field(default_factory=list)
    changed_users: list[str] = field(default_factory=list)
    interactions: list[InteractionEvent] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.applied += other.applied
        self.dead += other.dead
        self.retry += other.retry
        self.changed_users += other.changed_users
        self.interactions += other.interactions
        self.forgotten += other.forgotten


class EventApplier:
    """Applies events to a recommender's store and to the recommender itself.

    Args:
        recommender: the serving state (its ``store`` and ``graph_name`` are where writes go).
        forget: what a forget event does (default: :func:`kgrec.serving.privacy.forget_user` over the
            store, the run directory and the recommender).
    """

    def __init__(self, recommender: Recommender, *, forget=None):
        self.rec = recommender
        self.store = recommender.store
        self.graph = recommender.graph_name
        self.schema = recommender.schema
        self._forget = forget or self._forget_user
        self._props = self.schema.relation(tuple(self.schema.interaction)).properties

    # -- the batch ---------------------------------------------------------------------------------
    def apply(self, batch: Sequence[tuple[Entry, Event]]) -> Outcome:
        """Apply events in order; store errors (the store is down) propagate and nothing is acked."""
        out = Outcome()
        pending: list[tuple[Entry, InteractionEvent]] = []
        for entry, event in batch:
            if isinstance(event, InteractionEvent):
                pending.append((entry, event))
                continue
            out.extend(self._interactions(pending))
            pending = []
            try:
                if isinstance(event, ItemEvent):
                    self._item(event)
                elif isinstance(event, UserEvent):
                    self._user(event)
                elif isinstance(event, ForgetEvent):
                    self._forget(event.user)
                    out.forgotten.append(event.user)
                # exposures and outcomes are the experiments' records: nothing to apply
                out.applied.append(entry.id)
            except StoreUnavailableError:
                raise
            except KgrecError as e:
                out.dead.append((entry, f"{event.type} event {event.id}: {e}"))
        out.extend(self._interactions(pending))
        return out

    # -- interactions ----------------------------------------------------------------------------
    def _interactions(self, batch: list[tuple[Entry, InteractionEvent]]) -> Outcome:
        out = Outcome()
        if not batch:
            return out
        rows = self.rec.item_rows([e.item for _, e in batch])
        missing = sorted({e.item for (_, e), r in zip(batch, rows) if r < 0})
        absent = set(self._absent_in_store(missing)) if missing else set()
        positive: list[tuple[Entry, InteractionEvent]] = []
        for (entry, event), row in zip(batch, rows):
            if event.item in absent:
                out.retry.append((entry, f"interaction event {event.id}: unknown {self.schema.item_label} "
                                         f"{event.item!r} (not in graph {self.graph!r})"))
            elif event.kind == "negative":
                self._negative(event)
                out.applied.append(entry.id)
            else:
                positive.append((entry, event))
        if positive:
            try:
                self._write_interactions([e for _, e in positive])
            except StoreUnavailableError:
                raise
            except InputError as e:
                if len(positive) == 1:
                    out.dead.append((positive[0][0], f"interaction event {positive[0][1].id}: {e}"))
                    return out
                for one in positive:  # find the one the store refuses, apply the others
                    out.extend(self._interactions([one]))
                return out
            pairs = [(e.user, e.item) for _, e in positive]
            out.changed_users += self.rec.observe(pairs)
            out.applied += [entry.id for entry, _ in positive]
            out.interactions += [e for _, e in positive]
        return out

    def _absent_in_store(self, items: list[str]) -> list[str]:
        """Items the recommender does not know that the store does not have either."""
        if self.store is None:
            return items
        res = self.store.query(missing_nodes(self.schema.item_label), {"ids": items, "limit": len(items)},
                               graph=self.graph, max_rows=len(items))
        return [str(r[0]) for r in res.rows]

    def _negative(self, event: InteractionEvent) -> None:
        try:
            self.rec.feedback(event.user, event.item, "negative")
        except (UnknownUserError, UnknownItemError) as e:
            logger.debug("negative interaction %s ignored: %s", event.id, e)

    def _write_interactions(self, events: list[InteractionEvent]) -> None:
        """One upsert of the users and one of the interaction edges (the latest event per pair)."""
        if self.store is None:
            return
        latest: dict[tuple[str, str], InteractionEvent] = {}
        for e in events:
            key = (e.user, e.item)
            if key not in latest or e.ts >= latest[key].ts:
                latest[key] = e
        chosen = list(latest.values())
        users = sorted({e.user for e in chosen})
        self.store.upsert_nodes(self.schema.user_label, pd.DataFrame({"id": users}), graph=self.graph)
        edges: dict[str, Any] = {"src": [e.user for e in chosen], "dst": [e.item for e in chosen],
                                 EVENT_ID_PROPERTY: [e.id for e in chosen]}
        value = self._value_property("rating" if any(e.kind == "rating" for e in chosen) else "weight")
        if value is not None and any(e.weight is not None for e in chosen):
            kind = self._props[value]
            edges[value] = pd.array([None if e.weight is None else (int(e.weight) if kind == "integer" else e.weight)
                                     for e in chosen], dtype="Int64" if kind == "integer" else "Float64")
        if "timestamp" in self._props:
            edges["timestamp"] = pd.array([int(e.ts) for e in chosen], dtype="Int64")
        self.store.upsert_edges(tuple(self.schema.interaction), pd.DataFrame(edges), graph=self.graph)

    def _value_property(self, prefer: str) -> str | None:
        """The interaction's numeric property that an event's ``weight`` sets."""
        for name in (prefer, "weight", "rating", "count"):
            if self._props.get(name) in ("integer", "float"):
                return name
        return None

    # -- nodes -----------------------------------------------------------------------------------
    def _item(self, event: ItemEvent) -> None:
        from kgrec.gnn.foldin import NotSupportedError

        if self.rec.item_rows([event.item])[0] >= 0:
            return  # applied before (the add is one step: the store, then memory)
        try:
            self.rec.add_item(event.item, event.name or event.item, event.text, event.attributes)
        except NotSupportedError as e:  # the run's model cannot place it: the store still gets it
            logger.warning("item %r: %s; stored, recommendable after a retrain", event.item, e)
            self._store_node(self.schema.item_label, event.item, event.name, event.text, event.attributes)

    def _user(self, event: UserEvent) -> None:
        self._store_node(self.schema.user_label, event.user, event.name, None, event.attributes)

    def _store_node(self, label: str, node_id: str, name: str, text: str | None,
                    attributes: dict[str, list[str]]) -> None:
        """Upsert a node and its links to existing nodes (keyed by relation or target label)."""
        if self.store is None:
            return
        row: dict[str, Any] = {"id": [node_id], "name": [name or node_id]}
        if text:
            row["text"] = [text]
        links = self._links(label, attributes)
        self.store.upsert_nodes(label, pd.DataFrame(row), graph=self.graph)
        for et, targets in links.items():
            self.store.upsert_edges(et, pd.DataFrame({"src": [node_id] * len(targets), "dst": targets}),
                                    graph=self.graph)

    def _links(self, label: str, attributes: dict[str, list[str]]) -> dict[tuple[str, str, str], list[str]]:
        relations = [r.edge_type for r in self.schema.relations if r.edge_type[0] == label]
        allowed = sorted({et[1] for et in relations} | {et[2] for et in relations})
        out: dict[tuple[str, str, str], list[str]] = {}
        for key, values in attributes.items():
            matching = [et for et in relations if et[1] == key] or [et for et in relations if et[2] == key]
            if len(matching) != 1:
                raise InputError(f"attribute {key!r} is not one relation or label linked from {label}; "
                                 f"allowed: {', '.join(allowed) or 'none'}")
            et = matching[0]
            index = self.rec.index
            out[et] = [index.node_id(et[2], index.find(et[2], v)) for v in values]
        return out

    def _forget_user(self, user: str) -> None:
        from ..privacy import forget_user

        run_dir = self.rec.run.path
        forget_user(user, store=self.store, graph=self.graph, recommender=self.rec,
                    run_dirs=[run_dir] if run_dir is not None else [])


def user_needle(user: str):
    """A test on raw event JSON: does it name ``user`` (for scrubbing the stream after a forget)."""
    import json

    plain, escaped = json.dumps(user, ensure_ascii=False).encode(), json.dumps(user).encode()

    def needle(raw: bytes) -> bool:
        if plain not in raw and escaped not in raw:
            return False
        try:
            return json.loads(raw).get("user") == user
        except (ValueError, AttributeError):
            return False

    return needle


__all__ = ["EVENT_ID_PROPERTY", "EventApplier", "Outcome", "user_needle"]
