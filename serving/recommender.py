"""`Recommender`: the serving facade — top-k, similar items, explanations, live feedback, new items.

It holds three parts with public interfaces and coordinates them (plus :attr:`Recommender.intent`,
built on first use); it owns no algorithm itself:

- the **index** (:class:`~kgrec.serving.index.GraphIndex`): ids, names and adjacency, rows in the
  run's order, so a row of the index is a row of the run's vectors;
- the **scorer** (:class:`~kgrec.serving.scorer.Scorer`): vectors, top-k, MMR, exclusions;
- the **explainer** (:class:`~kgrec.serving.explain.Explainer`): path search, sentences, queries.

Ids are strings at this edge only, cleaned by the one id rule (:func:`kgrec.kg.ids.clean_id`).

**Locks.** Everything a request reads is in memory, guarded by one lock that is never held while
waiting on the store. Changes that write the store (feedback, new items, forgetting) are
serialised by a second lock, which reads never take: such a change first checks its input in
memory, then writes the store (nothing is held that a read waits for), then updates memory. A
failed store write changes nothing in memory.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from kgrec.errors import InputError, UnknownItemError, UnknownUserError
from kgrec.kg.ids import clean_id

from .explain import Explainer
from .folding import UserFolds
from .index import GraphIndex
from .items import attribute_links, item_document
from .loading import sparql_of
from .paths import Explanation
from .results import FEEDBACK_KINDS, AddedItem, FeedbackKind, FeedbackResult, ItemRef, Recommendation, SimilarItem
from .scorer import Scorer, intra_list_diversity, mmr

if TYPE_CHECKING:
    from kgrec.gnn import Run
    from kgrec.kg import KnowledgeGraph
    from kgrec.kg.stores import Store
    from kgrec.text import TextEncoder

    from .intent import Intent, IntentConfig, TextFeedbackResult

logger = logging.getLogger(__name__)


def clean(value: object, what: str) -> str:
    """An id cleaned by the one id rule; :class:`InputError` when nothing is left."""
    text = clean_id(value)
    if not text:
        raise InputError(f"{what} id {str(value)!r} is empty (after removing spaces and invisible characters)")
    return text


class Recommender:
    """Recommendations with explanations from a trained run over a knowledge graph.

    Args:
        run: a trained :class:`kgrec.gnn.Run`.
        kg: the graph the run was trained on, or a newer version of it (nodes the run does not know
            are never recommended and have no vector); may be None when ``index`` is given.
        store: where feedback and new items are written (default: None = in memory only).
        graph_name: the graph's name in the store (default: the graph's, else the run's).
        encoder: the text encoder for new items (default: None = the run's model, on first use).
        max_hops: the longest explanation path (default: 3).
        beam: partial paths kept per depth of the explanation search (default: 2000).
        index: a ready serving index, as :meth:`load` passes the run's (default: None = built from ``kg``).
        intent: settings of queries, sessions and text feedback (default: None = ``IntentConfig()``).
        scoring: how explanation paths are scored, one of :data:`kgrec.serving.search.SCORINGS` (default: None).

    The constructor takes ready objects and does no I/O; :meth:`load` reads a run directory.
    """

    def __init__(self, run: Run, kg: KnowledgeGraph | None = None, *, store: Store | None = None,
                 graph_name: str | None = None, encoder: TextEncoder | None = None, max_hops: int = 3,
                 beam: int = 2000, index: GraphIndex | None = None, intent: IntentConfig | None = None,
                 scoring: str | None = None):
        if index is None:
            if kg is None:
                raise InputError("a Recommender needs the graph (kg=...) or a serving index (index=...)")
            index = GraphIndex.from_graph(kg, order={label: m.ids for label, m in run.id_maps.items()})
        self.run = run
        self.kg = kg
        self.index = index
        self.schema = index.schema
        self.store = store
        self.graph_name = graph_name or (kg.name if kg is not None else index.source.get("graph") or run.graph)
        self.max_hops = max_hops
        self.beam = beam
        self._encoder = encoder
        self._intent_config, self._intent = intent, None
        self._lock = threading.RLock()  # memory: every read and every in-memory change
        self._writes = threading.Lock()  # the order of changes that write the store; reads never take it
        self.user_label = self.schema.user_label
        self.item_label = self.schema.item_label
        self.interaction = tuple(self.schema.interaction)
        self._interaction_step = index.step_index(self.interaction, "out")
        self._folds = UserFolds()  # the items users added since training, and their fold-ins
        self.scorer = Scorer(self._rows(run.user_vectors, self.user_label), self._rows(run.item_vectors, self.item_label),
                             known_users=self._in_run(self.user_label), recommendable=self._in_run(self.item_label),
                             similarity_dims=run.item_vectors.shape[1] - (run.cold.pad if run.cold else 0))
        sparql, base_iri = sparql_of(store)
        self.explainer = Explainer(index, run.node_vectors, max_hops=max_hops, beam=beam, sparql=sparql,
                                   base_iri=base_iri, **({"scoring": scoring} if scoring else {}))
        logger.info("recommender ready: %d users, %d items (%d recommendable), %d edge steps", self.scorer.num_users,
                    index.num_nodes(self.item_label), self.scorer.num_items, len(index.steps))

    def _rows(self, vectors: np.ndarray, label: str) -> np.ndarray:
        """The run's vectors of a label with zero rows appended for the index's other nodes."""
        v = np.asarray(vectors, dtype=np.float32)
        extra = self.index.num_nodes(label) - len(v)
        return np.vstack([v, np.zeros((extra, v.shape[1]), dtype=np.float32)]) if extra > 0 else v.copy()

    def _in_run(self, label: str) -> np.ndarray:
        """Rows the run has a vector for and the graph has a node for."""
        ok = self.index.present(label)
        ok[len(self.run.id_maps[label]):] = False
        return ok

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, run_dir: str | Path, *, store: Store | None = None, graph: KnowledgeGraph | str | None = None,
             **options: Any) -> Recommender:
        """Load a run directory and the graph it is served over.

        The serving index is kept in the run directory (``graph_index.*``, in its manifest) and
        reused while the graph is unchanged: with a store, when its counts per label and relation
        are those the index was built from (one round trip); without one, when it was built from
        the dataset. Otherwise the graph is read once (from ``store``, else loaded with
        :func:`kgrec.kg.sources.load_dataset`) and the index is saved for the next load.

        Args:
            run_dir: the run directory (:meth:`kgrec.gnn.Run.save`).
            store: an open store for feedback writes and the graph (default: None).
            graph: the graph itself, or its name in ``store`` (default: the run's graph).
            **options: passed to the constructor (``max_hops``, ``beam``, ``encoder``, ``intent``, ``scoring``).
        """
        from kgrec.gnn.run import Run

        from .loading import serving_index

        run = Run.load(run_dir)
        if graph is not None and not isinstance(graph, str):
            return cls(run, graph, store=store, graph_name=graph.name, **options)
        index, kg = serving_index(run, Path(run_dir), store=store, graph=graph)
        return cls(run, kg, store=store, graph_name=index.source.get("graph"), index=index, **options)

    # -- look-ups ------------------------------------------------------------------------------
    def _user_row(self, user: str) -> int:
        row = self.index.row(self.user_label, user)
        if row is None or not self.scorer.known(row):
            raise UnknownUserError(f"unknown user {user!r}: not in the graph or the run "
                                   f"({self.scorer.num_users} users known); send feedback to add a new user")
        return row

    def _item_row(self, item: str, *, recommendable: bool = False) -> int:
        row = self.index.row(self.item_label, item)
        if row is None or (recommendable and not self.scorer.recommendable(row)):
            raise UnknownItemError(f"unknown {self.item_label} {item!r}: not in the graph"
                                   + (" or without a trained vector" if row is not None else "")
                                   + f" ({self.scorer.num_items} items known)")
        return row

    def item_ref(self, row: int) -> ItemRef:
        """The item at an index row (rows as :meth:`scores` and :meth:`top` use them)."""
        return ItemRef(self.index.node_id(self.item_label, row), self.index.name(self.item_label, row))

    def item(self, item: str) -> ItemRef:
        """An item by id (:class:`UnknownItemError` if the graph has none)."""
        with self._lock:
            return self.item_ref(self._item_row(clean(item, self.item_label)))

    def seen(self, user: str) -> list[ItemRef]:
        """The items a user has interacted with (graph + feedback)."""
        user = clean(user, "user")
        with self._lock:
            row = self.index.row(self.user_label, user)
            if row is None:
                raise UnknownUserError(f"unknown user {user!r}")
            return [self.item_ref(r) for r in self._seen_rows(row)]

    def _seen_rows(self, user_row: int) -> np.ndarray:
        return self.index.neighbours(self.user_label, user_row, self._interaction_step)

    def item_rows(self, items: Sequence[str]) -> np.ndarray:
        """Index rows of some item ids (-1 for an id the graph does not have)."""
        with self._lock:
            return np.array([-1 if (r := self.index.row(self.item_label, clean_id(i))) is None else r for i in items],
                            dtype=np.int64)

    def run_item_rows(self, run_items: np.ndarray) -> np.ndarray:
        """Index rows of the run's item positions: the same numbers (the index is in the run's order);
        -1 where the graph does not have the item."""
        rows = np.asarray(run_items, dtype=np.int64)
        present = self.index.present(self.item_label)
        return np.where(present[rows], rows, -1)

    def item_unit_vectors(self, rows: np.ndarray) -> np.ndarray:
        """Unit-norm item vectors of some item rows (for intra-list diversity)."""
        return self.scorer.item_unit(rows)

    @property
    def num_users(self) -> int:
        return self.scorer.num_users

    @property
    def num_items(self) -> int:
        return self.scorer.num_items

    def users(self) -> list[str]:
        """Ids of the users that can get recommendations."""
        with self._lock:
            return [self.index.node_id(self.user_label, r) for r in self.scorer.known_rows()]

    def items(self) -> list[str]:
        """Ids of the items that can be recommended."""
        with self._lock:
            return [self.index.node_id(self.item_label, r) for r in self.scorer.recommendable_rows()]

    # -- ranking -------------------------------------------------------------------------------
    def user_vector(self, user: str) -> np.ndarray:
        """The vector the user is scored with (after any feedback)."""
        user = clean(user, "user")
        with self._lock:
            return self.scorer.user_vector(self._user_row(user))

    def scores(self, user: str, *, exclude_seen: bool = True) -> np.ndarray:
        """The model's score of every item row for a user (``-inf`` for excluded or unknown items).

        Shapes:
            output: ``[index.num_nodes(item_label)]``, float32, aligned with the index's item rows.
        """
        user = clean(user, "user")
        with self._lock:
            row = self._user_row(user)
            return self.scorer.scores(row, exclude=self._seen_rows(row) if exclude_seen else None)

    def top(self, scores: np.ndarray, k: int, *, diversity: float = 0.0) -> np.ndarray:
        """The rows of the ``k`` best finite scores, best first (see :meth:`Scorer.top`)."""
        return self.scorer.top(scores, k, diversity=diversity)

    def _filter_mask(self, filters: Mapping[str, str | Sequence[str]]) -> np.ndarray:
        """Items linked to at least one of the given nodes, for every key (label or relation)."""
        size = self.index.num_nodes(self.item_label)
        mask = np.ones(size, dtype=bool)
        steps_from_item = [self.index.steps[s] for s in self.index.steps_from[self.item_label]]
        allowed = sorted({s.target for s in steps_from_item} | {s.edge_type[1] for s in steps_from_item})
        for key, values in filters.items():
            matching = [s for s in steps_from_item if key in (s.target, s.edge_type[1])]
            if not matching:
                raise InputError(f"filter {key!r} is not a label or relation linked to {self.item_label}; "
                                 f"allowed: {', '.join(allowed)}")
            values = [values] if isinstance(values, str) else list(values)
            keep = np.zeros(size, dtype=bool)
            for label in sorted({s.target for s in matching}):
                back = [self.index.step_index(s.edge_type, "in" if s.direction == "out" else "out")
                        for s in matching if s.target == label]
                rows = []
                for value in values:
                    try:
                        rows.append(self.index.find(label, clean_id(value)))
                    except InputError:
                        if len({s.target for s in matching}) == 1:
                            raise
                keep |= self.index.linked(label, rows, back, size)
            mask &= keep
        return mask

    @property
    def intent(self) -> Intent:
        """The part that follows queries, sessions and text feedback (:mod:`kgrec.serving.intent`)."""
        if self._intent is None:
            from .intent import Intent
            from .intent.core import graph_reader

            with self._lock:  # the constructor does no I/O
                if self._intent is None:
                    self._intent = Intent(self.index, self.run, encoder=lambda: self.encoder, store=self.store,
                                          graph=graph_reader(self.run, kg=self.kg, store=self.store,
                                                             graph_name=self.graph_name),
                                          graph_name=self.graph_name, config=self._intent_config)
        return self._intent

    def recommend(self, user: str | None = None, k: int = 10, *, query: str | None = None,
                  session: Sequence[str] | None = None, fusion: str | None = None, fusion_weight: float | None = None,
                  explain: bool = True, exclude_seen: bool = True, filters: Mapping[str, str | Sequence[str]] | None
                  = None, diversity: float = 0.0, max_paths: int = 3) -> list[Recommendation]:
        """The top ``k`` items for a user, a query, a session, or any of them together.

        Args:
            user: the user's id (default: None = an anonymous visitor: give a query or a session).
            k: how many items (default: 10).
            query: free text ("dark synth"), matched to attributes and items by their text vectors
                and fused with the collaborative score (default: None).
            session: item ids of the current visit, folded into the user's vector (or an anonymous
                one) and left out of the list; not stored (default: None).
            fusion: ``weighted``, ``rerank`` or ``union`` (default: the intent config's).
            fusion_weight: the collaborative share of ``weighted`` in ``[0, 1]`` (default: the config's).
            explain: search explanation paths for each item (default: True).
            exclude_seen: leave out items the user already interacted with (default: True).
            filters: keep items linked to at least one of the given nodes for every key, a label or
                a relation from the item (``{"Tag": ["rock", "metal"]}``, ``{"HAS_GENRE": "Drama"}``);
                nodes by id or exact name (default: None).
            diversity: MMR re-ranking weight in ``[0, 1]``: 0 = by score alone (default: 0).
            max_paths: explanations per item (default: 3).

        With a query, a session or stored text preferences, the list comes from
        :meth:`kgrec.serving.intent.Intent.recommend` (its ``score`` is the fused value).

        Raises:
            UnknownUserError: the user is neither in the graph nor added by feedback (and no query
                or session is given).
            UnknownItemError: a session item the graph does not have.
        """
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        if not 0.0 <= diversity <= 1.0:
            raise InputError(f"diversity must be in [0, 1], got {diversity}")
        user = None if user is None else clean(user, "user")
        if query is not None or session is not None or user is None or self.intent.has_preferences(user):
            req = self.intent.prepare(user=user, query=query, session=session, k=k, fusion=fusion,
                                      weight=fusion_weight, exclude_seen=exclude_seen, diversity=diversity,
                                      max_paths=max_paths, explain=explain)
            with self._lock:
                return self.intent.recommend(req, scorer=self.scorer, item_ref=self.item_ref, explainer=self.explainer,
                                             filter_mask=self._filter_mask(filters) if filters else None)
        with self._lock:
            row = self._user_row(user)
            s = self.scorer.scores(row, exclude=self._seen_rows(row) if exclude_seen else None)
            if filters:
                s[~self._filter_mask(filters)] = -np.inf
            top = self.scorer.top(s, k, diversity=diversity)
            found = self.explainer.explain(row, top, max_paths=max_paths) if explain else {}
            return [Recommendation(self.item_ref(item), float(s[item]), rank, tuple(found.get(item, ())))
                    for rank, item in enumerate(top.tolist(), start=1)]

    def similar_items(self, item: str, k: int = 10) -> list[SimilarItem]:
        """The ``k`` items whose trained vectors are closest (cosine) to ``item``'s."""
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        item = clean(item, self.item_label)
        with self._lock:
            sims = self.scorer.similarities(self._item_row(item, recommendable=True))
            return [SimilarItem(self.item_ref(r), float(sims[r])) for r in self.scorer.top(sims, k).tolist()]

    def explain(self, user: str, item: str, *, max_paths: int = 3) -> list[Explanation]:
        """The best paths (at most ``max_hops`` hops) from a user to any item, best first."""
        user, item = clean(user, "user"), clean(item, self.item_label)
        with self._lock:
            urow, irow = self._user_row(user), self._item_row(item)
            return self.explainer.explain(urow, [irow], max_paths=max_paths)[irow]

    # -- feedback ------------------------------------------------------------------------------
    @overload
    def feedback(self, user: str, item: str, kind: FeedbackKind = ..., weight: float | None = ...) -> FeedbackResult:
        ...

    @overload
    def feedback(self, user: str, *, text: str) -> TextFeedbackResult:
        ...

    def feedback(self, user: str, item: str | None = None, kind: FeedbackKind = "positive",
                 weight: float | None = None, *, text: str | None = None) -> FeedbackResult | TextFeedbackResult:
        """Record that ``user`` interacted with ``item`` and update the user's vector at once; or,
        with ``text``, a sentence of feedback ("less metal, more 80s synth").

        ``text``: its phrases are matched to attributes and stored as weighted ``PREFERS`` /
        ``AVOIDS`` edges of the user (a later sentence replaces them; "forget metal" removes them;
        :meth:`kgrec.serving.intent.Intent.plan_feedback`); returns a ``TextFeedbackResult``.

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
        if text is not None:
            user = clean(user, "user")
            return self._preferences_change(user, lambda: self.intent.plan_feedback(user, text))
        if item is None:
            raise InputError("feedback needs an item (or text=...)")
        if kind not in FEEDBACK_KINDS:
            raise InputError(f"feedback kind {kind!r} is not one of {', '.join(FEEDBACK_KINDS)}")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                                   or not math.isfinite(weight) or weight < 0):
            raise InputError(f"weight must be a finite non-negative number, got {weight!r}")
        user, item = clean(user, "user"), clean(item, self.item_label)
        with self._writes:
            with self._lock:
                irow = self._item_row(item)
                urow = self.index.row(self.user_label, user)
                new_user = urow is None or not self.scorer.known(urow)
                if kind == "negative":
                    if new_user:
                        raise UnknownUserError(f"unknown user {user!r}: negative feedback needs a known user")
                    self.scorer.dislike(urow, irow)
                    return FeedbackResult(user, self.item_ref(irow), kind, False, len(self._seen_rows(urow)), False)
                item_id = self.index.node_id(self.item_label, irow)
            stored = False
            if self.store is not None:  # no lock a read waits for is held here
                self.store.add_interaction(user, item_id, properties=self._interaction_properties(weight),
                                           graph=self.graph_name)
                stored = True
            with self._lock:
                urow = self.index.add_node(self.user_label, user)
                self.index.add_edge(self.interaction, urow, irow)
                self._folds.add(urow, [irow])
                self.scorer.undislike(urow, irow)
                vector = self._folded([urow])[0]
                self.scorer.set_user(urow, vector)
                self.explainer.set_vector(self.user_label, urow, vector)
                n = len(self._seen_rows(urow))
            logger.debug("feedback %s -> %s (%s user, %d interactions)", user, item, "new" if new_user else "known", n)
            return FeedbackResult(user, self.item_ref(irow), kind, new_user, n, stored)

    def observe(self, interactions: Sequence[tuple[str, str]], *, chunk: int = 256) -> list[str]:
        """Take in positive interactions that the store already holds (the live event consumer of
        :mod:`kgrec.serving.events` writes them in batches): the in-memory half of :meth:`feedback`,
        with one fold-in per user. Idempotent: an interaction seen before changes nothing. Pairs
        whose item the graph does not have are skipped. Returns the ids of the users whose
        vectors changed. The memory lock is taken per ``chunk`` users, so reads go on meanwhile."""
        by_user: dict[str, set[str]] = {}
        for user, item in interactions:
            by_user.setdefault(clean_id(user), set()).add(clean_id(item))
        changed: list[str] = []
        users = [u for u in by_user if u]
        with self._writes:
            for start in range(0, len(users), chunk):
                with self._lock:
                    names, urows = [], []
                    for user in users[start:start + chunk]:
                        rows = [r for i in by_user[user] if (r := self.index.row(self.item_label, i)) is not None]
                        if not rows:
                            continue
                        urow = self.index.add_node(self.user_label, user)
                        self.index.add_edges(self.interaction, urow, rows)
                        for irow in rows:
                            self.scorer.undislike(urow, irow)
                        if not self._folds.add(urow, rows) and self.scorer.known(urow):
                            continue  # seen before: nothing changes
                        names.append(user)
                        urows.append(urow)
                    if urows:  # the chunk's fold-ins in one batch
                        vectors = self._folded(urows)
                        self.scorer.set_users(urows, vectors)
                        for urow, vector in zip(urows, vectors):
                            self.explainer.set_vector(self.user_label, urow, vector)
                        changed += names
        return changed

    def clear_preferences(self, user: str, attributes: Sequence[str] | None = None) -> TextFeedbackResult:
        """Undo text feedback: the user's ``PREFERS`` / ``AVOIDS`` edges go (all, or those to the
        ``attributes`` given as ``Label:id``), in the store and in memory."""
        user = clean(user, "user")
        return self._preferences_change(user, lambda: self.intent.plan_clear(user, attributes))

    def _preferences_change(self, user: str, plan: Any) -> TextFeedbackResult:
        with self._writes:  # one change at a time: each plans on the preferences the last one left
            change = plan()
            if self.store is not None:  # no lock a read waits for is held here
                from .intent.preferences import write_preferences

                write_preferences(self.store, user, change.preferences, graph=self.graph_name,
                                  user_label=self.user_label)
            with self._lock:
                return self.intent.commit(change, stored=self.store is not None)

    def _interaction_properties(self, weight: float | None) -> dict[str, Any]:
        props = self.schema.relation(self.interaction).properties
        name = next((n for n in ("weight", "rating", "count") if n in props), None)
        if weight is None or name is None:
            return {}
        return {name: int(weight) if props[name] == "integer" else float(weight)}

    def _folded(self, user_rows: Sequence[int]) -> np.ndarray:
        """New vectors for users by fold-in through the trained model (:class:`UserFolds`)."""
        present, num_users = self.index.present(self.user_label), len(self.run.id_maps[self.user_label])
        return self._folds.vectors(self.run, user_rows, num_items=len(self.run.id_maps[self.item_label]),
                                   knows=lambda r: r < num_users and bool(present[r]), seen=self._seen_rows)

    # -- cold-start items ----------------------------------------------------------------------
    @property
    def encoder(self) -> TextEncoder:
        """The text encoder of new items: the one given, else the run's text model (loaded once)."""
        if self._encoder is None:
            from kgrec.text import TextEncoder
            from kgrec.text.encoder import DEFAULT_MODEL_ID

            model = self.run.text_model
            # the packaged default is named by its hub id in the run; TextEncoder(None) loads it offline
            self._encoder = TextEncoder(None if model in (None, DEFAULT_MODEL_ID) else model)
        return self._encoder

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
        import pandas as pd

        id = clean(id, self.item_label)
        with self._writes:
            with self._lock:
                if self.index.row(self.item_label, id) is not None:
                    raise InputError(f"{self.item_label} {id!r} already exists")
                links = attribute_links(self.index, attributes or {})
                document = item_document(self.index, self.graph_name, id, name, text, links)
                neighbours = {label: np.asarray([r for r in rows if r < len(self.run.id_maps[label])], dtype=np.int64)
                              for (_, _, label), rows in links.items() if label in self.run.id_maps}
                targets = {et: [self.index.node_id(et[2], r) for r in rows] for et, rows in links.items()}
            vector = np.asarray(self.run.item_from_text(self.encoder.encode([document])[0], neighbours),
                                dtype=np.float32).reshape(-1)
            stored = False
            if self.store is not None:  # no lock a read waits for is held here
                self.store.upsert_nodes(self.item_label, pd.DataFrame({"id": [id], "name": [name], "text": [text]}),
                                        graph=self.graph_name)
                for et, ids in targets.items():
                    self.store.upsert_edges(et, pd.DataFrame({"src": [id] * len(ids), "dst": ids}),
                                            graph=self.graph_name)
                stored = True
            with self._lock:
                row = self.index.add_node(self.item_label, id, name)
                for et, rows in links.items():
                    for r in rows:
                        self.index.add_edge(et, row, r)
                self.scorer.add_item(row, vector)
                self.explainer.set_vector(self.item_label, row, vector)
            return AddedItem(ItemRef(id, name), {et[1]: len(rows) for et, rows in links.items()}, stored)

    # -- forgetting ----------------------------------------------------------------------------
    def forget(self, user: str) -> bool:
        """Remove a user from this recommender: vector, id, history, feedback, every edge of the
        index, the run in memory (:meth:`kgrec.gnn.Run.without_user`) and the graph in memory.
        Returns whether it knew the user. (:func:`kgrec.serving.privacy.forget_user` also clears the
        store, run directories and caches.)"""
        from .privacy import graph_without, tombstone

        user = clean(user, "user")
        with self._writes, self._lock:
            row = self.index.row(self.user_label, user)
            run, knew_run = self.run.without_user(user)
            if row is None and not knew_run:
                return False
            if row is not None:
                self.index.forget(self.user_label, row, tombstone())
                self.scorer.forget(row)
                self.explainer.forget(self.user_label, row)
                self._folds.forget(row)
            if self._intent is not None:
                self._intent.forget(user)
            self.run = run
            if self.kg is not None:
                self.kg = graph_without(self.kg, user)
            logger.info("forgot user %r in the running recommender", user)
            return True


__all__ = ["AddedItem", "FeedbackResult", "ItemRef", "Recommendation", "Recommender", "SimilarItem", "clean",
           "intra_list_diversity", "mmr"]
