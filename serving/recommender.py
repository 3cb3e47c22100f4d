"""`Recommender`: top-k, similar items, explanations, live feedback and cold-start items.

Everything a request needs is in memory: the run's vectors (aligned with the graph's rows), the
graph's adjacency (:class:`~kgrec.serving.explain.GraphIndex`) and the id look-ups. The store is
only written to (feedback, new items); a request never waits on it.

Top-k is one matrix–vector product over the item vectors and ``np.argpartition``; explanations
are searched for the k items only.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from kgrec.errors import InputError, UnknownItemError, UnknownUserError
from kgrec.kg import KnowledgeGraph

from .cypher import path_cypher, path_sparql
from .explain import (Explanation, GraphIndex, UnitVectors, choose, search_paths, sentence,
                      to_path)

logger = logging.getLogger(__name__)

FeedbackKind = Literal["positive", "negative"]
FEEDBACK_KINDS: tuple[str, ...] = ("positive", "negative")


# -- typed results -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ItemRef:
    """An item as the outside world knows it: its id and its name."""

    id: str
    name: str


@dataclass(frozen=True)
class Recommendation:
    """One recommended item.

    Args:
        item: the item.
        score: the model's score ``user · item`` (for a diversified list, still the model's score).
        rank: 1-based position in the list.
        explanations: the best paths from the user to the item, best first (empty when
            ``explain=False`` or when no path of at most ``max_hops`` hops exists).
    """

    item: ItemRef
    score: float
    rank: int
    explanations: tuple[Explanation, ...] = ()


@dataclass(frozen=True)
class SimilarItem:
    """An item like another one: cosine similarity of their trained vectors."""

    item: ItemRef
    score: float


@dataclass(frozen=True)
class FeedbackResult:
    """What :meth:`Recommender.feedback` did.

    Args:
        user: the user id.
        item: the item.
        kind: ``positive`` or ``negative``.
        new_user: whether the user was unknown before this call.
        interactions: the user's positive interactions now (graph + feedback).
        stored: whether the interaction was written to the store (positive feedback with a store).
    """

    user: str
    item: ItemRef
    kind: FeedbackKind
    new_user: bool
    interactions: int
    stored: bool


@dataclass(frozen=True)
class AddedItem:
    """What :meth:`Recommender.add_item` did: the item and the links it got, per edge type."""

    item: ItemRef
    links: dict[str, int]
    stored: bool


# -- the run, as serving needs it --------------------------------------------------------------
def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


class Recommender:
    """Recommendations with explanations from a trained run over a knowledge graph.

    Args:
        run: a trained :class:`kgrec.gnn.Run`.
        kg: the graph the run was trained on (or a newer version of it: nodes the run does not
            know are never recommended and have no vector).
        store: where feedback and new items are written (default: None = in memory only).
        graph_name: the graph's name in the store (default: ``kg.name``).
        encoder: the text encoder for new items (default: None = the run's text model, loaded on
            the first :meth:`add_item`).
        max_hops: the longest explanation path (default: 3).
        beam: partial paths kept per depth of the explanation search (default: 2000).

    The constructor takes ready objects and does no I/O; :meth:`load` reads a run directory.
    """

    def __init__(self, run: Any, kg: KnowledgeGraph, *, store: Any = None, graph_name: str | None = None,
                 encoder: Any = None, max_hops: int = 3, beam: int = 2000):
        self.run = run
        self.kg = kg
        self.schema = kg.schema
        self.store = store
        self.graph_name = graph_name or kg.name
        self.max_hops = max_hops
        self.beam = beam
        self._encoder = encoder
        self._lock = threading.RLock()
        self.user_label = self.schema.user_label
        self.item_label = self.schema.item_label
        self.interaction = tuple(self.schema.interaction)
        self.index = GraphIndex(kg)
        self._interaction_step = self.index.step_index(self.interaction, "out")
        # run index of every graph row (-1: the run does not know the node)
        self._run_row: dict[str, np.ndarray] = {}
        for label in self.index.labels:
            id_map = run.id_maps.get(label) if hasattr(run.id_maps, "get") else None
            ids = kg.nodes[label]["id"].astype(str).tolist()
            if id_map is None:
                self._run_row[label] = np.full(len(ids), -1, dtype=np.int64)
            else:
                self._run_row[label] = id_map.indices(ids, missing="-1")
        vectors = {}
        for label, rows in self._run_row.items():
            source = run.node_vectors.get(label) if hasattr(run.node_vectors, "get") else None
            if source is None:
                continue
            source = _to_numpy(source)
            v = np.zeros((len(rows), source.shape[1]), dtype=np.float32)
            ok = rows >= 0
            v[ok] = source[rows[ok]]
            vectors[label] = v
        self.unit = UnitVectors(self.index, vectors)
        self.index.weigh(self.unit)
        # scoring vectors (the run's user/item vectors, aligned with the graph's rows)
        items = _to_numpy(run.item_vectors)
        users = _to_numpy(run.user_vectors)
        irow, urow = self._run_row[self.item_label], self._run_row[self.user_label]
        self._items = np.zeros((len(irow), items.shape[1]), dtype=np.float32)
        self._items[irow >= 0] = items[irow[irow >= 0]]
        self._recommendable = irow >= 0
        self._users = np.zeros((len(urow), users.shape[1]), dtype=np.float32)
        self._users[urow >= 0] = users[urow[urow >= 0]]
        self._has_user = urow >= 0
        self._item_unit = self._normalise(self._items)
        self._device = _device()
        self._sync_items()
        self._disliked: dict[int, set[int]] = {}
        self._added: dict[int, set[int]] = {}  # user row -> item rows added by feedback
        self._name_rows: dict[str, dict[str, int]] = {}
        logger.info("recommender ready: %d users, %d items (%d recommendable), %d edge steps",
                    int(self._has_user.sum()), len(irow), int(self._recommendable.sum()), len(self.index.steps))

    def _sync_items(self) -> None:
        """The item matrices as torch tensors on the serving device (one matrix–vector product each)."""
        import torch

        self._items_t = torch.from_numpy(self._items).to(self._device)
        self._item_unit_t = torch.from_numpy(self._item_unit).to(self._device)

    def _matvec(self, matrix: Any, vector: np.ndarray) -> np.ndarray:
        import torch

        v = torch.from_numpy(np.ascontiguousarray(vector, dtype=np.float32)).to(self._device)
        return torch.mv(matrix, v).cpu().numpy()

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, run_dir: str | Path, *, store: Any = None, graph: KnowledgeGraph | str | None = None,
             **options: Any) -> Recommender:
        """Load a run directory and the graph it was trained on.

        Args:
            run_dir: the run directory (:meth:`kgrec.gnn.Run.save`).
            store: an open store for reads of the graph and writes of feedback (default: None).
            graph: the graph itself, or its name in ``store`` (default: the run's dataset: read from
                ``store`` when given and it holds that graph, else loaded with
                :func:`kgrec.kg.sources.load_dataset`).
            **options: passed to the constructor (``max_hops``, ``beam``, ``encoder``).
        """
        from kgrec.gnn import Run

        run = Run.load(run_dir)
        if isinstance(graph, KnowledgeGraph):
            kg = graph
        else:
            name = graph or _run_graph_name(run)
            if store is not None and (graph is not None or name in store.graphs()):
                kg = store.read(graph=name)
            else:
                if name is None:
                    raise InputError(f"{run_dir}: the run does not name its dataset; pass graph=...")
                from kgrec.kg.sources import load_dataset

                kg = load_dataset(name)
        return cls(run, kg, store=store, graph_name=kg.name, **options)

    # -- look-ups ------------------------------------------------------------------------------
    @staticmethod
    def _normalise(m: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(m, axis=1, keepdims=True)
        return np.divide(m, norm, out=np.zeros_like(m), where=norm > 0)

    def _user_row(self, user: str) -> int:
        row = self.index.row(self.user_label, str(user))
        if row is None or row >= len(self._has_user) or not self._has_user[row]:
            raise UnknownUserError(f"unknown user {str(user)!r}: not in the graph or the run "
                                   f"({int(self._has_user.sum())} users known); send feedback to add a new user")
        return row

    def _item_row(self, item: str, *, recommendable: bool = False) -> int:
        row = self.index.row(self.item_label, str(item))
        if row is None or (recommendable and not self._recommendable[row]):
            known = int(self._recommendable.sum())
            raise UnknownItemError(f"unknown {self.item_label} {str(item)!r}: not in the graph"
                                   + (" or without a trained vector" if row is not None else "")
                                   + f" ({known} items known)")
        return row

    def item_ref(self, row: int) -> ItemRef:
        return ItemRef(self.index.node_id(self.item_label, row), self.index.name(self.item_label, row))

    def _node_row(self, label: str, value: str) -> int:
        """A node by id, else by exact name (case-insensitive)."""
        row = self.index.row(label, str(value))
        if row is not None:
            return row
        names = self._name_rows.get(label)
        if names is None or len(names) < self.index.num_nodes(label):
            names = {}
            for r in range(self.index.num_nodes(label) - 1, -1, -1):
                names[self.index.name(label, r).casefold()] = r
            self._name_rows[label] = names
        row = names.get(str(value).casefold())
        if row is None:
            raise InputError(f"no {label} with id or name {str(value)!r}")
        return row

    def seen(self, user: str) -> list[ItemRef]:
        """The items a user has interacted with (graph + feedback)."""
        with self._lock:
            row = self.index.row(self.user_label, str(user))
            if row is None:
                raise UnknownUserError(f"unknown user {str(user)!r}")
            return [self.item_ref(r) for r in self._seen_rows(row)]

    def _seen_rows(self, user_row: int) -> np.ndarray:
        keys, steps = self.index.neighbourhood(self.user_label, user_row)
        rows = keys[steps == self._interaction_step] & np.int64((1 << 32) - 1)
        return np.unique(rows)

    def run_item_rows(self, run_items: np.ndarray) -> np.ndarray:
        """Graph item rows of the run's item indices (-1 where the graph lacks the item)."""
        run_ids = self.run.id_maps[self.item_label].external_ids(np.asarray(run_items, dtype=np.int64))
        return np.array([-1 if (r := self.index.row(self.item_label, i)) is None else r for i in run_ids],
                        dtype=np.int64)

    def item_unit_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Unit-norm item vectors of some item rows (for intra-list diversity)."""
        return self._item_unit[np.asarray(rows, dtype=np.int64)]

    @property
    def num_users(self) -> int:
        return int(self._has_user.sum())

    @property
    def num_items(self) -> int:
        return int(self._recommendable.sum())

    def users(self) -> list[str]:
        """Ids of the users that can get recommendations."""
        return [self.index.node_id(self.user_label, r) for r in np.flatnonzero(self._has_user)]

    def items(self) -> list[str]:
        """Ids of the items that can be recommended."""
        return [self.index.node_id(self.item_label, r) for r in np.flatnonzero(self._recommendable)]

    # -- ranking -------------------------------------------------------------------------------
    def user_vector(self, user: str) -> np.ndarray:
        """The vector the user is scored with (after any feedback)."""
        with self._lock:
            return self._users[self._user_row(user)].copy()

    def scores(self, user: str, *, exclude_seen: bool = True) -> np.ndarray:
        """The model's score of every item row for a user (``-inf`` for excluded or unknown items).

        Shapes:
            output: ``[index.num_nodes(item_label)]``, float32, aligned with the graph's item rows.
        """
        with self._lock:
            row = self._user_row(user)
            return self._scores(row, exclude_seen=exclude_seen)

    def _scores(self, user_row: int, *, exclude_seen: bool) -> np.ndarray:
        s = self._matvec(self._items_t, self._users[user_row])
        s[~self._recommendable] = -np.inf
        if exclude_seen:
            s[self._seen_rows(user_row)] = -np.inf
        disliked = self._disliked.get(user_row)
        if disliked:
            s[list(disliked)] = -np.inf
        return s

    def _filter_mask(self, filters: Mapping[str, str | Sequence[str]]) -> np.ndarray:
        """Items linked to at least one of the given nodes, for every key (label or relation)."""
        mask = np.ones(len(self._recommendable), dtype=bool)
        steps_from_item = [self.index.steps[s] for s in self.index.steps_from[self.item_label]]
        allowed_keys = sorted({s.target for s in steps_from_item} | {s.edge_type[1] for s in steps_from_item})
        for key, values in filters.items():
            matching = [s for s in steps_from_item if key in (s.target, s.edge_type[1])]
            if not matching:
                raise InputError(f"filter {key!r} is not a label or relation linked to {self.item_label}; "
                                 f"allowed: {', '.join(allowed_keys)}")
            values = [values] if isinstance(values, str) else list(values)
            keep = np.zeros_like(mask)
            for label in sorted({s.target for s in matching}):
                wanted = {self.index.step_index(s.edge_type, "in" if s.direction == "out" else "out")
                          for s in matching if s.target == label}
                for value in values:
                    try:
                        node = self._node_row(label, value)
                    except InputError:
                        if len({s.target for s in matching}) == 1:
                            raise
                        continue
                    keys, steps = self.index.neighbourhood(label, node)
                    hit = np.isin(steps, list(wanted))
                    keep[keys[hit] & np.int64((1 << 32) - 1)] = True
            mask &= keep
        return mask

    def top(self, scores: np.ndarray, k: int, *, diversity: float = 0.0) -> np.ndarray:
        """The rows of the ``k`` best finite scores, best first; with ``diversity > 0``, MMR over the
        ``max(5k, 100)`` best (item vectors' cosine as similarity).

        Shapes:
            scores: ``[num_item_rows]`` (as from :meth:`scores`); output: ``[<= k]`` item rows.
        """
        return self._top(scores, k, diversity)

    def _top(self, scores: np.ndarray, k: int, diversity: float) -> np.ndarray:
        finite = np.flatnonzero(np.isfinite(scores))
        if not len(finite):
            return finite
        if diversity <= 0:
            k = min(k, len(finite))
            part = finite[np.argpartition(-scores[finite], k - 1)[:k]]
            return part[np.argsort(-scores[part], kind="stable")]
        pool_size = min(len(finite), max(5 * k, 100))
        pool = finite[np.argpartition(-scores[finite], pool_size - 1)[:pool_size]]
        pool = pool[np.argsort(-scores[pool], kind="stable")]
        return mmr(scores[pool], self._item_unit[pool], k, diversity=diversity, ids=pool)

    def recommend(self, user: str, k: int = 10, *, explain: bool = True, exclude_seen: bool = True,
                  filters: Mapping[str, str | Sequence[str]] | None = None, diversity: float = 0.0,
                  max_paths: int = 3) -> list[Recommendation]:
        """The top ``k`` items for a user.

        Args:
            user: the user's id.
            k: how many items (default: 10).
            explain: search explanation paths for each item (default: True).
            exclude_seen: leave out items the user already interacted with (default: True).
            filters: keep items linked to at least one of the given nodes for every key, a label or
                a relation from the item (``{"Tag": ["rock", "metal"]}``, ``{"HAS_GENRE": "Drama"}``);
                nodes by id or exact name (default: None).
            diversity: MMR re-ranking weight in ``[0, 1]``: 0 = by score alone (default: 0).
            max_paths: explanations per item (default: 3).

        Raises:
            UnknownUserError: the user is neither in the graph nor added by feedback.
        """
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        if not 0.0 <= diversity <= 1.0:
            raise InputError(f"diversity must be in [0, 1], got {diversity}")
        with self._lock:
            row = self._user_row(user)
            s = self._scores(row, exclude_seen=exclude_seen)
            if filters:
                s[~self._filter_mask(filters)] = -np.inf
            top = self._top(s, k, diversity)
            found = self._search(row, top) if explain else {}
            out = []
            for rank, item in enumerate(top.tolist(), start=1):
                exps = self._explanations(found.get(item, []), max_paths) if explain else ()
                out.append(Recommendation(self.item_ref(item), float(s[item]), rank, tuple(exps)))
            return out

    def similar_items(self, item: str, k: int = 10) -> list[SimilarItem]:
        """The ``k`` items whose trained vectors are closest (cosine) to ``item``'s."""
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        with self._lock:
            row = self._item_row(item, recommendable=True)
            sims = self._matvec(self._item_unit_t, self._item_unit[row])
            sims[~self._recommendable] = -np.inf
            sims[row] = -np.inf
            top = self._top(sims, k, 0.0)
            return [SimilarItem(self.item_ref(r), float(sims[r])) for r in top.tolist()]

    # -- explanations --------------------------------------------------------------------------
    def _search(self, user_row: int, item_rows: np.ndarray) -> dict[int, list]:
        return search_paths(self.index, user_row, item_rows, max_hops=self.max_hops, beam=self.beam)

    def _explanations(self, found: list, max_paths: int) -> list[Explanation]:
        sparql = bool(getattr(getattr(self.store, "capabilities", None), "sparql", False))
        out = []
        for f in choose(found, self.index, max_paths):
            path = to_path(f, self.index)
            query = path_cypher(path, self.schema)
            out.append(Explanation(path=path, score=f.score, sentence=sentence(path, self.schema),
                                   cypher=query.text, parameters=query.parameters, hop_supports=f.supports,
                                   sparql=path_sparql(path, self.schema, base_iri=_base_iri(self.store)).text
                                   if sparql else None))
        return out

    def explain(self, user: str, item: str, *, max_paths: int = 3) -> list[Explanation]:
        """The best paths (at most ``max_hops`` hops) from a user to any item, best first."""
        with self._lock:
            urow = self._user_row(user)
            irow = self._item_row(item)
            return self._explanations(self._search(urow, np.array([irow])).get(irow, []), max_paths)

    # -- feedback ------------------------------------------------------------------------------
    def feedback(self, user: str, item: str, kind: FeedbackKind = "positive", weight: float | None = None
                 ) -> FeedbackResult:
        """Record that ``user`` interacted with ``item`` and update the user's vector at once.

        ``positive`` writes the interaction edge to the store (with ``weight`` as the interaction's
        numeric property when the schema has one), adds it to the graph in memory, and re-computes
        the user's vector by fold-in through the trained model (no retraining): a known user keeps
        the trained vector plus the fold-in change the new interactions make; a new user gets the
        fold-in of their interactions. ``negative`` removes the item from the user's
        recommendations in this process (the schema has no relation to store a dislike in).

        Raises:
            UnknownItemError: the item is not in the graph.
            StoreUnavailableError: the store cannot be reached (nothing changes then).
        """
        if kind not in FEEDBACK_KINDS:
            raise InputError(f"feedback kind {kind!r} is not one of {', '.join(FEEDBACK_KINDS)}")
        if weight is not None and (not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0):
            raise InputError(f"weight must be a finite non-negative number, got {weight!r}")
        user = str(user)
        with self._lock:
            irow = self._item_row(item)
            urow = self.index.row(self.user_label, user)
            new_user = urow is None or not self._has_user[urow]
            if kind == "negative":
                if new_user:
                    raise UnknownUserError(f"unknown user {user!r}: negative feedback needs a known user")
                self._disliked.setdefault(urow, set()).add(irow)
                return FeedbackResult(user, self.item_ref(irow), kind, False, len(self._seen_rows(urow)), False)
            stored = False
            if self.store is not None:
                props = self._interaction_properties(weight)
                self.store.add_interaction(user, self.index.node_id(self.item_label, irow), properties=props,
                                           graph=self.graph_name)
                stored = True
            if urow is None:
                urow = self.index.add_node(self.user_label, user)
            self._grow_users(urow + 1)
            self.index.add_edge(self.interaction, urow, irow)
            self._added.setdefault(urow, set()).add(irow)
            self._disliked.get(urow, set()).discard(irow)
            self._refresh_user(urow)
            n = len(self._seen_rows(urow))
            logger.debug("feedback %s -> %s (%s user, %d interactions)", user, item, "new" if new_user else "known", n)
            return FeedbackResult(user, self.item_ref(irow), kind, new_user, n, stored)

    def _interaction_properties(self, weight: float | None) -> dict[str, Any]:
        if weight is None:
            return {}
        props = self.schema.relation(self.interaction).properties
        for name in ("weight", "rating", "count"):
            if name in props:
                return {name: int(weight) if props[name] == "integer" else float(weight)}
        return {}

    def _grow_users(self, n: int) -> None:
        if n > len(self._users):
            grow = n - len(self._users)
            self._users = np.vstack([self._users, np.zeros((grow, self._users.shape[1]), dtype=np.float32)])
            self._has_user = np.concatenate([self._has_user, np.zeros(grow, dtype=bool)])
            self._run_row[self.user_label] = np.concatenate([self._run_row[self.user_label],
                                                             np.full(grow, -1, dtype=np.int64)])

    def _refresh_user(self, urow: int) -> None:
        """A new vector for the user by fold-in through the trained model.

        A user the run knows keeps the trained vector plus what the feedback items change in the
        fold-in: ``trained + fold_in(train ∪ feedback) − fold_in(train)``. Anyone else (a new user,
        or one the graph has but the run does not) gets ``fold_in(every interaction)``.
        """
        run_items = self._run_row[self.item_label]

        def to_run(rows) -> np.ndarray:
            rows = np.asarray(sorted(rows), dtype=np.int64)
            rows = rows[rows < len(run_items)]
            out = run_items[rows]
            return out[out >= 0]

        run_user = self._run_row[self.user_label][urow]
        if run_user >= 0:
            trained = np.asarray(self.run.train_items(int(run_user)), dtype=np.int64)
            extra = to_run(self._added.get(urow, ()))
            both = np.union1d(trained, extra)
            delta = _to_numpy(self.run.fold_in(both)).reshape(-1) - _to_numpy(self.run.fold_in(trained)).reshape(-1)
            vector = _to_numpy(self.run.user_vectors[int(run_user)]).reshape(-1) + delta
        else:
            vector = _to_numpy(self.run.fold_in(to_run(self._seen_rows(urow).tolist()))).reshape(-1)
        self._users[urow] = vector
        self._has_user[urow] = True
        self.unit.set(self.user_label, urow, vector)

    # -- cold-start items ----------------------------------------------------------------------
    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from kgrec.text import TextEncoder
            from kgrec.text.encoder import DEFAULT_MODEL_ID

            model = _run_text_model(self.run)
            # the packaged default is named by its hub id in the run; TextEncoder(None) loads it offline
            self._encoder = TextEncoder(None if model in (None, DEFAULT_MODEL_ID) else model)
        return self._encoder

    def _attribute_links(self, attributes: Mapping[str, Sequence[str]]) -> dict[tuple, list[int]]:
        """``{key: values}`` → ``{edge type from the item: [target rows]}``."""
        steps_from_item = [self.index.steps[s] for s in self.index.steps_from[self.item_label]
                           if self.index.steps[s].direction == "out"]
        allowed = sorted({s.target for s in steps_from_item} | {s.edge_type[1] for s in steps_from_item})
        links: dict[tuple, list[int]] = {}
        for key, values in attributes.items():
            matching = [s for s in steps_from_item if key == s.edge_type[1]] or \
                       [s for s in steps_from_item if key == s.target]
            if not matching:
                raise InputError(f"attribute {key!r} is not a relation or label linked from {self.item_label}; "
                                 f"allowed: {', '.join(allowed) or 'none'}")
            if len(matching) > 1:
                raise InputError(f"attribute {key!r} names several relations "
                                 f"({', '.join(s.edge_type[1] for s in matching)}); use the relation name")
            et = matching[0].edge_type
            values = [values] if isinstance(values, str) else list(values)
            links.setdefault(et, []).extend(self._node_row(et[2], v) for v in values)
        return links

    def add_item(self, id: str, name: str, text: str = "", attributes: Mapping[str, Sequence[str]] | None = None
                 ) -> AddedItem:
        """Add an item from its text and KG links alone, recommendable and similar at once.

        Args:
            id: the new item's id (must not exist yet).
            name: its name.
            text: a description (default: "").
            attributes: links to existing nodes, keyed by relation (``HAS_TAG``) or by the label it
                reaches (``Tag``); nodes by id or exact name (default: none).

        The text document is built the way the text layer builds items' documents, encoded with
        the run's text model, and turned into an item vector by the run's cold-start recipe
        (:meth:`kgrec.gnn.Run.item_from_text`) from the text vector and the linked nodes.
        """
        id = str(id)
        if not id.strip():
            raise InputError("an item id may not be empty")
        with self._lock:
            if self.index.row(self.item_label, id) is not None:
                raise InputError(f"{self.item_label} {id!r} already exists")
            links = self._attribute_links(attributes or {})
            text_vector = self.encoder.encode([self._document(id, name, text, links)])[0]
            neighbours: dict[str, list[int]] = {}
            for (_, _, label), rows in links.items():
                run_rows = self._run_row[label][np.asarray(rows, dtype=np.int64)]
                neighbours.setdefault(label, []).extend(int(r) for r in run_rows if r >= 0)
            vector = _to_numpy(self.run.item_from_text(text_vector, {k: np.asarray(v, dtype=np.int64)
                                                                     for k, v in neighbours.items()})).reshape(-1)
            stored = False
            if self.store is not None:
                self.store.upsert_nodes(self.item_label, pd.DataFrame({"id": [id], "name": [name], "text": [text]}),
                                        graph=self.graph_name)
                for et, rows in links.items():
                    ids = [self.index.node_id(et[2], r) for r in rows]
                    self.store.upsert_edges(et, pd.DataFrame({"src": [id] * len(ids), "dst": ids}),
                                            graph=self.graph_name)
                stored = True
            row = self.index.add_node(self.item_label, id, name)
            for et, rows in links.items():
                for r in rows:
                    self.index.add_edge(et, row, r)
            self._items = np.vstack([self._items, vector[None, :]])
            self._item_unit = np.vstack([self._item_unit, self._normalise(vector[None, :])])
            self._recommendable = np.concatenate([self._recommendable, [True]])
            self._sync_items()
            self._run_row[self.item_label] = np.concatenate([self._run_row[self.item_label], [-1]])
            self.unit.set(self.item_label, row, vector)
            return AddedItem(ItemRef(id, name), {et[1]: len(rows) for et, rows in links.items()}, stored)

    def _document(self, id: str, name: str, text: str, links: Mapping[tuple, list[int]]) -> str:
        """The new item's text document, built by the text layer from a one-item graph."""
        from kgrec.text.documents import item_documents

        nodes = {self.item_label: pd.DataFrame({"id": [id], "name": [name], "text": [text or None]})}
        edges = {}
        for et, rows in links.items():
            label = et[2]
            ids = [self.index.node_id(label, r) for r in rows]
            names = [self.index.name(label, r) for r in rows]
            prev = nodes.get(label)
            df = pd.DataFrame({"id": ids, "name": names})
            nodes[label] = df if prev is None else pd.concat([prev, df]).drop_duplicates("id")
            edges[et] = pd.DataFrame({"src": [id] * len(ids), "dst": ids})
        # declared properties the new rows do not have stay missing (the builder reads the columns)
        for label, df in nodes.items():
            for prop in self.schema.node(label).properties:
                df[prop] = None
        for et, df in edges.items():
            for prop in self.schema.relation(et).properties:
                df[prop] = None
        tiny = KnowledgeGraph(self.schema, nodes, edges, name=self.graph_name)
        return item_documents(tiny)[0]


# -- diversity ---------------------------------------------------------------------------------
def mmr(scores: np.ndarray, unit: np.ndarray, k: int, *, diversity: float, ids: np.ndarray | None = None
        ) -> np.ndarray:
    """Maximal marginal relevance: pick ``k`` of the candidates, each maximising
    ``(1 - λ)·relevance − λ·(max cosine to the items already picked)``, ``λ = diversity``.

    Relevance is the score min–max scaled to ``[0, 1]`` over the candidates, so λ trades on the
    same scale as the cosine. Returns ``ids`` (default: positions) of the picked candidates in order.

    Shapes:
        scores: ``[n]``; unit: ``[n, d]`` unit-norm rows; output: ``[min(k, n)]``.
    """
    n = len(scores)
    ids = np.arange(n) if ids is None else np.asarray(ids)
    if n == 0:
        return ids[:0]
    lo, hi = float(scores.min()), float(scores.max())
    rel = (scores - lo) / (hi - lo) if hi > lo else np.ones(n)
    picked: list[int] = []
    max_sim = np.full(n, -np.inf)
    available = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        value = (1 - diversity) * rel - diversity * max_sim if picked else rel.copy()
        value = np.where(available, value, -np.inf)
        j = int(np.argmax(value))
        picked.append(j)
        available[j] = False
        max_sim = np.maximum(max_sim, unit @ unit[j])
    return ids[np.asarray(picked)]


def intra_list_diversity(unit: np.ndarray) -> float:
    """``1 − mean pairwise cosine`` of a list's unit vectors (0 for fewer than two items)."""
    n = len(unit)
    if n < 2:
        return 0.0
    sims = unit @ unit.T
    return float(1.0 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


# -- adapters over the run's metadata ----------------------------------------------------------
def _run_graph_name(run: Any) -> str | None:
    for attr in ("graph_name", "dataset", "graph"):
        value = getattr(run, attr, None)
        if isinstance(value, str) and value:
            return value
    info = getattr(run, "info", None) or getattr(run, "metadata", None) or {}
    if isinstance(info, Mapping):
        for key in ("graph", "dataset", "graph_name"):
            if isinstance(info.get(key), str):
                return info[key]
    return None


def _run_text_model(run: Any) -> str | None:
    for attr in ("text_model", "encoder_model"):
        value = getattr(run, attr, None)
        if isinstance(value, str) and value:
            return value
    info = getattr(run, "info", None) or getattr(run, "metadata", None) or {}
    if isinstance(info, Mapping):
        for key in ("text_model", "encoder", "text_model_id"):
            if isinstance(info.get(key), str):
                return info[key]
    return None


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _base_iri(store: Any) -> str | None:
    vocab = getattr(store, "vocabulary", None) or getattr(store, "vocab", None)
    return getattr(vocab, "base_iri", None) or getattr(store, "base_iri", None)


__all__ = ["AddedItem", "FeedbackResult", "ItemRef", "Recommendation", "Recommender", "SimilarItem",
           "intra_list_diversity", "mmr"]
