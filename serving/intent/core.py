"""`Intent`: the part of a :class:`~kgrec.serving.Recommender` that follows what the user says now.

It puts the intent modules together, one job each:

====================  ===========================================================================
:mod:`.vectors`       item and attribute text vectors, saved with the run, memory-mapped
:mod:`.matching`      a query → its vector (cached by text) → matched attributes → intent scores
:mod:`.session`       the visit's items folded into a user vector, not stored
:mod:`.fusion`        collaborative + intent scores → one list (``weighted``, ``rerank``, ``union``)
:mod:`.feedback`      a sentence → phrases with a polarity
:mod:`.preferences`   PREFERS / AVOIDS edges in memory and in the store, and their effect
:mod:`.explain`       the paths and sentences of queries, preferences and sessions
====================  ===========================================================================

**A list with intent** (:meth:`Intent.recommend`), for a known user, an anonymous session, or both:

1. the collaborative scores: the user's vector (with the session folded in), else the session's
   fold-in, else popularity (``log(1 + interactions)``) for a visitor who only typed a query;
   seen items (a known user's), session items, filtered and unrecommendable items are ``-inf``;
2. standardised (z-scores); items of attributes the user said to avoid moved down
   (:meth:`~.preferences.PreferenceEffect.avoid`);
3. with a query, fused with the intent scores by the fusion mode (:mod:`.fusion`);
4. places reserved for items of attributes the user said to prefer, ``preference_share`` of the
   list (:meth:`~.preferences.PreferenceEffect.reserve`);
5. the top ``k`` (MMR when ``diversity > 0``); each item explained by the query's matched
   attributes, the user's preferences, the session's items and the collaborative paths, in that
   order, ``max_paths`` in all.

A list's ``score`` is the fused value of step 3 (z-score units; a reserved place's item gets the
midpoint of its neighbours'), not a dot product.

Locks: :meth:`prepare` (validation, the one encoder call) runs before the recommender takes its
lock; :meth:`recommend` runs under it and only reads memory. Building the intent vectors (once;
seconds with a warm text cache, minutes without) and reading the stored preferences (once) take
this part's own lock, never the recommender's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kgrec.errors import ConfigError, InputError, KgrecError, StoreError, UnknownUserError

from ..results import ItemRef, Recommendation
from .config import IntentConfig
from .explain import IntentExplainer
from .feedback import Clause, normalise_text, parse_feedback, split_list
from .fusion import FUSIONS, standardise
from .matching import AttributeMatch, Matcher, QueryEncoder
from .preferences import AVOIDS, PREFERS, Preference, Preferences, now, read_all_preferences, with_preferences
from .session import session_ids, session_rows, session_vector
from .vectors import IntentVectors, attribute_labels

if TYPE_CHECKING:
    from kgrec.gnn import Run
    from kgrec.kg import KnowledgeGraph
    from kgrec.kg.stores import Store
    from kgrec.text import TextEncoder, VectorCache

    from ..explain import Explainer
    from ..index import GraphIndex
    from ..scorer import Scorer

logger = logging.getLogger(__name__)

RETRY_S = 30.0
"""How long a failed read of the stored preferences (store down) waits before it is tried again."""


@dataclass(frozen=True)
class IntentRequest:
    """A checked request for a list with intent (:meth:`Intent.prepare`)."""

    user: str | None
    query: str | None
    vector: np.ndarray | None
    matches: tuple[AttributeMatch, ...]
    session: tuple[str, ...]
    k: int
    fusion: str
    weight: float
    depth: int
    exclude_seen: bool = True
    diversity: float = 0.0
    max_paths: int = 3
    explain: bool = True


@dataclass(frozen=True)
class ClauseResult:
    """What one clause of a sentence of feedback did: its phrase, polarity and matched attributes."""

    phrase: str
    polarity: str
    cue: str
    matches: tuple[AttributeMatch, ...]


@dataclass(frozen=True)
class TextFeedbackResult:
    """What :meth:`Recommender.feedback(user, text=...) <kgrec.serving.Recommender.feedback>` did.

    Args:
        user: the user id.
        text: the sentence, normalised.
        clauses: each clause with the attributes it matched (none: it changed nothing).
        preferences: the user's text preferences now, strongest first.
        stored: whether they were written to the store.
    """

    user: str
    text: str
    clauses: tuple[ClauseResult, ...]
    preferences: tuple[Preference, ...]
    stored: bool


@dataclass(frozen=True)
class FeedbackPlan:
    """A sentence of feedback read and matched, not applied yet (:meth:`Intent.plan_feedback`)."""

    user: str
    text: str
    clauses: tuple[ClauseResult, ...]
    preferences: tuple[Preference, ...] = field(default=())


class Intent:
    """Queries, sessions, fusion and text feedback over one run and its serving index.

    Args:
        index: the serving index.
        run: the trained run (fold-in, the run directory where the intent vectors are kept).
        encoder: returns the run's text encoder (loaded on first use).
        graph: returns the graph the index was built from (read only when the intent vectors must
            be built).
        store: the store holding the graph, for the stored preferences (default: None).
        graph_name: the graph's name in the store (default: None).
        config: the settings (default: ``IntentConfig()``).
        cache: the text cache (default: None = ``VectorCache()``; False: none).

    The constructor does no I/O.
    """

    def __init__(self, index: GraphIndex, run: Run, *, encoder: Callable[[], TextEncoder],
                 graph: Callable[[], KnowledgeGraph], store: Store | None = None, graph_name: str | None = None,
                 config: IntentConfig | None = None, cache: VectorCache | bool | None = None):
        self.index = index
        self.run = run
        self.config = config or IntentConfig()
        self.store = store
        self.graph_name = graph_name
        self._graph = graph
        self._cache = None if cache is True else cache
        self.queries = QueryEncoder(encoder, cache=self._cache, size=self.config.query_cache)
        linked = attribute_labels(index)
        unknown = sorted(set(self.config.labels or ()) - set(linked))
        if unknown:
            raise ConfigError(f"intent labels {unknown} are not attribute labels of graph {index.source.get('graph')!r}; "
                              f"allowed: {', '.join(linked) or 'none'}")
        self.labels = [label for label in linked if self.config.labels is None or label in self.config.labels]
        self.schema = with_preferences(index.schema, self.labels)
        self.preferences = Preferences(index, strength=self.config.preference_strength,
                                       share=self.config.preference_share)
        self.explainer = IntentExplainer(index, self.schema, self.labels)
        self.vectors: IntentVectors | None = None
        self.matcher: Matcher | None = None
        self._lock = threading.Lock()
        self._prefs_read: float | None = None  # when the stored preferences were read (None: never)
        self._prefs_failed = -np.inf
        self._popularity: np.ndarray | None = None
        self._matches: OrderedDict[str, tuple[np.ndarray, list[AttributeMatch]]] = OrderedDict()
        self._scores: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()  # (text, items) -> intent scores

    # -- once ------------------------------------------------------------------------------------
    def ready(self) -> Matcher:
        """Load the intent vectors from the run directory, or build (and save) them once."""
        with self._lock:
            if self.matcher is None:
                self.vectors = self._vectors()
                c = self.config
                self.matcher = Matcher(self.index, self.vectors, attributes=c.attributes,
                                       min_similarity=c.min_similarity, relative_similarity=c.relative_similarity,
                                       item_text=c.item_text)
            return self.matcher

    def _vectors(self) -> IntentVectors:
        from kgrec.gnn.run import INTENT_FILES, attach_files, detach_files, read_manifest

        run_dir = self.run.path
        fingerprint = self.queries.fingerprint
        documents = self.config.documents
        if run_dir is not None and all(n in read_manifest(run_dir) for n in INTENT_FILES):
            try:
                saved = IntentVectors.load(run_dir)
                if saved.fits(self.index, fingerprint=fingerprint, documents=documents, labels=self.labels):
                    return saved
                logger.info("the saved intent vectors were made for another text model, preset or graph; rebuilding")
            except KgrecError as e:
                logger.warning("the saved intent vectors are not usable (%s); rebuilding", e)
        t0 = time.perf_counter()
        built = IntentVectors.build(self.index, self._graph(), self.queries.encoder, cache=self._cache,
                                    documents=documents, labels=self.labels)
        logger.info("intent vectors of %s built in %.1fs (%d encoded, %d from the cache)",
                    ", ".join(built.labels), time.perf_counter() - t0, built.meta["encoded"], built.meta["cached"])
        if run_dir is not None:
            try:
                detach_files(run_dir, INTENT_FILES)
                attach_files(run_dir, built.save(run_dir))
                return IntentVectors.load(run_dir)  # memory-mapped from now on
            except (OSError, KgrecError) as e:
                logger.warning("could not save the intent vectors in %s (%s); they are rebuilt next time", run_dir, e)
        return built

    def load_preferences(self) -> None:
        """Read every user's stored text preferences once (a store that is down is asked again
        after :data:`RETRY_S`; meanwhile lists are served without them)."""
        if self._prefs_read is not None or self.store is None or time.monotonic() - self._prefs_failed < RETRY_S:
            return
        with self._lock:
            if self._prefs_read is not None:
                return
            try:
                stored = read_all_preferences(self.store, graph=self.graph_name, user_label=self.index.schema.user_label)
            except (StoreError, OSError) as e:
                self._prefs_failed = time.monotonic()
                logger.warning("could not read the stored text preferences (%s); lists go without them for now", e)
                return
            for user, prefs in stored.items():
                self.preferences.replace(user, prefs)
            self._prefs_read = time.monotonic()
            if stored:
                logger.info("read the text preferences of %d users from the store", len(stored))

    def has_preferences(self, user: str) -> bool:
        self.load_preferences()
        return self.preferences.has(user)

    # -- queries ---------------------------------------------------------------------------------
    def text(self, query: object, *, what: str = "query") -> str:
        """A query normalised, or an :class:`InputError` (empty, too long, control characters)."""
        return normalise_text(query, what=what, max_chars=self.config.max_query_chars)

    def match(self, query: str) -> tuple[str, np.ndarray, list[AttributeMatch]]:
        """A query's normalised text, vector and matched attributes (one encoder call per text;
        the matches of the last ``query_cache`` texts are kept)."""
        matcher = self.ready()
        text = self.text(query)
        with self._lock:
            hit = self._matches.get(text)
            if hit is not None:
                self._matches.move_to_end(text)
                return text, hit[0], list(hit[1])
        vector = self.queries.encode(text)
        matches = matcher.attributes(vector, text=text)
        with self._lock:
            if self.config.query_cache:
                self._matches[text] = (vector, matches)
                while len(self._matches) > self.config.query_cache:
                    self._matches.popitem(last=False)
        return text, vector, list(matches)

    def prepare(self, *, user: str | None, query: str | None, session: Sequence[str] | str | None, k: int,
                fusion: str | None = None, weight: float | None = None, depth: int | None = None,
                exclude_seen: bool = True, diversity: float = 0.0, max_paths: int = 3, explain: bool = True
                ) -> IntentRequest:
        """Check a request and encode its query (before the recommender's lock is taken)."""
        if k < 1:
            raise InputError(f"k must be at least 1, got {k}")
        if not 0.0 <= diversity <= 1.0:
            raise InputError(f"diversity must be in [0, 1], got {diversity}")
        if weight is not None and (isinstance(weight, bool) or not 0.0 <= float(weight) <= 1.0):
            raise InputError(f"fusion weight must be in [0, 1], got {weight!r}")
        if depth is not None and depth < 1:
            raise InputError(f"fusion depth must be at least 1, got {depth}")
        try:
            mode = FUSIONS.canonical(fusion if fusion is not None else self.config.fusion)
        except ConfigError as e:
            raise InputError(str(e)) from None
        ids = session_ids(session)
        if query is None and not ids and user is None:
            raise InputError("a list needs a user, a query or a session")
        text, vector, matches = (None, None, []) if query is None else self.match(query)
        if user is not None:
            self.load_preferences()
        if ids:
            self.ready()
        return IntentRequest(user, text, vector, tuple(matches), ids, int(k), mode,
                             self.config.weight if weight is None else float(weight),
                             self.config.depth if depth is None else int(depth), exclude_seen, diversity, max_paths,
                             explain)

    def popularity(self) -> np.ndarray:
        """``log(1 + interactions)`` per item row, from the serving index (computed once)."""
        index, label = self.index, self.index.schema.item_label
        if self._popularity is None or len(self._popularity) != index.num_nodes(label):  # items added since
            rows = np.arange(index.num_nodes(label), dtype=np.int64)
            back = index.step_index(tuple(index.schema.interaction), "in")
            position, _, step, _ = index.gather(label, rows)
            counts = np.bincount(position[step == back], minlength=len(rows)).astype(np.float64)
            self._popularity = np.log1p(counts)
        return self._popularity

    # -- lists -----------------------------------------------------------------------------------
    def recommend(self, req: IntentRequest, *, scorer: Scorer, item_ref: Callable[[int], ItemRef],
                  explainer: Explainer | None = None, filter_mask: np.ndarray | None = None) -> list[Recommendation]:
        """The list for a prepared request (see the module docs); call under the recommender's lock."""
        index, label = self.index, self.index.schema.item_label
        size = index.num_nodes(label)
        user_row = None
        if req.user is not None:
            row = index.row(index.schema.user_label, req.user)
            if row is not None and scorer.known(row):
                user_row = row
            elif req.query is None and not req.session:
                raise UnknownUserError(f"unknown user {req.user!r}: not in the graph or the run "
                                       f"({scorer.num_users} users known); give a query or a session for a "
                                       "visitor the run does not know")
        session = session_rows(index, req.session) if req.session else np.empty(0, dtype=np.int64)
        exclude: list[np.ndarray] = [session]
        vector, seen = None, None
        if user_row is not None:
            vector = scorer.user_vector(user_row)
            seen = index.neighbours(index.schema.user_label, user_row,
                                    index.step_index(tuple(index.schema.interaction), "out"))
            if req.exclude_seen:
                exclude.append(seen)
        if len(session):
            vector = session_vector(self.run, session, vector=vector, seen=seen)
        excluded = np.concatenate(exclude)
        if vector is not None:
            collab = scorer.score_vector(vector, exclude=excluded, user_row=user_row).astype(np.float64)
        else:
            collab = np.full(size, -np.inf)
            ok = scorer.recommendable_rows()
            collab[ok] = self.popularity()[ok]
            collab[excluded] = -np.inf
        if filter_mask is not None:
            collab[~filter_mask] = -np.inf
        scores = standardise(collab)
        prefs = self.preferences.of(req.user) if req.user is not None else []
        effect = self.preferences.effect(req.user, size) if prefs else None
        if effect is not None:
            scores = effect.avoid(scores)
        if req.vector is not None:
            intent = self.intent_scores(req, size)
            intent[~np.isfinite(scores)] = -np.inf
            scores = FUSIONS.resolve(req.fusion)(scores, intent, weight=req.weight, depth=req.depth)
        if effect is not None:
            scores = effect.reserve(scores, depth=max(5 * req.k, 100))  # MMR's pool (Scorer.top) included
        top = scorer.top(scores, req.k, diversity=req.diversity)
        paths = explainer.explain(user_row, top, max_paths=req.max_paths) \
            if req.explain and explainer is not None and user_row is not None else {}
        out = []
        for rank, item in enumerate(top.tolist(), start=1):
            exps: list[Any] = []
            if req.explain:
                if req.query is not None:
                    exps += self.explainer.query(req.query, req.matches, item)
                exps += self.explainer.preference(req.user, prefs, item) if prefs else []
                exps += self.explainer.session(session.tolist(), item) if len(session) else []
                exps += paths.get(item, [])
            out.append(Recommendation(item_ref(item), float(scores[item]), rank, tuple(exps[:req.max_paths])))
        return out

    def intent_scores(self, req: IntentRequest, size: int) -> np.ndarray:
        """The intent score of every item row for a request's query (float64, a fresh copy); the
        scores of the last ``score_cache`` query texts are kept (float32)."""
        key = (str(req.query), size)
        with self._lock:
            hit = self._scores.get(key)
            if hit is not None:
                self._scores.move_to_end(key)
                return hit.astype(np.float64)
        scores = self.ready().intent_scores(req.vector, req.matches, size).astype(np.float32)  # as kept
        with self._lock:
            if self.config.score_cache:
                self._scores[key] = scores
                while len(self._scores) > self.config.score_cache:
                    self._scores.popitem(last=False)
        return scores.astype(np.float64)

    # -- text feedback ---------------------------------------------------------------------------
    def plan_feedback(self, user: str, text: str) -> FeedbackPlan:
        """Read a sentence, match its phrases to attributes, and work out the user's new preference
        set (nothing is changed yet: see :meth:`commit`).

        Raises:
            InputError: the sentence cannot be read, or none of its phrases matches an attribute.
        """
        matcher = self.ready()
        self.load_preferences()
        clean = self.text(text, what="feedback")
        clauses = parse_feedback(clean, max_chars=self.config.max_query_chars)
        results: list[ClauseResult] = []
        changes: list[Preference] = []
        removed: list[tuple[str, str]] = []
        at = now()
        for clause in clauses:
            matches = self._phrase_matches(matcher, clause)
            results.append(ClauseResult(clause.phrase, clause.polarity, clause.cue, tuple(matches)))
            for m in matches:
                if clause.polarity == "reset":
                    removed.append((m.label, m.id))
                else:
                    changes.append(Preference(m.label, m.id, m.name, PREFERS if clause.polarity == "prefer" else AVOIDS,
                                              round(float(min(max(m.similarity, 0.0), 1.0)), 4), at, clause.phrase))
        if not any(r.matches for r in results):
            said = "; ".join(f"{r.polarity} {r.phrase!r}" for r in results)
            raise InputError(f"feedback {clean[:60]!r}: no attribute matches what it says ({said}); nothing was "
                             f"stored (an attribute needs a name whose text vector has cosine at least "
                             f"{self.config.min_similarity} with the phrase)")
        return FeedbackPlan(user, clean, tuple(results), tuple(self.preferences.changed(user, changes, removed)))

    def _phrase_matches(self, matcher: Matcher, clause: Clause) -> list[AttributeMatch]:
        """The attributes one clause names: the whole phrase when it is exactly a name (or quoted),
        else each part of a list ("metal and punk"), best first, without repeats."""
        parts = [clause.phrase]
        if not clause.quoted:
            whole = matcher.attributes(self.queries.encode(clause.phrase), text=clause.phrase)
            if not (whole and whole[0].similarity >= 1.0) and len(split_list(clause.phrase)) > 1:
                parts = split_list(clause.phrase)
            else:
                return whole
        found: dict[tuple[str, int], AttributeMatch] = {}
        for part in parts:
            for m in matcher.attributes(self.queries.encode(part), text=part):
                key = (m.label, m.row)
                if key not in found or found[key].similarity < m.similarity:
                    found[key] = m
        return sorted(found.values(), key=lambda m: -m.similarity)

    def plan_clear(self, user: str, attributes: Sequence[str] | None = None) -> FeedbackPlan:
        """The user's preference set without those to ``attributes`` (``Label:id``; None: all).

        Raises:
            InputError: an attribute that is not ``Label:id``.
        """
        self.load_preferences()
        if attributes is None:
            return FeedbackPlan(user, "", (), ())
        removed = []
        for a in attributes:
            label, sep, node = str(a).partition(":")
            if not sep or not label or not node:
                example = f"{self.labels[0]}:42" if self.labels else "Label:id"
                raise InputError(f"attribute {a!r} is not Label:id (e.g. {example})")
            removed.append((label, node))
        return FeedbackPlan(user, "", (), tuple(self.preferences.changed(user, [], removed)))

    def commit(self, plan: FeedbackPlan, *, stored: bool) -> TextFeedbackResult:
        """Apply a plan in memory (call under the recommender's lock, after the store has it)."""
        self.preferences.replace(plan.user, plan.preferences)
        return TextFeedbackResult(plan.user, plan.text, plan.clauses, plan.preferences, stored)

    def forget(self, user: str) -> None:
        self.preferences.forget(user)


def graph_reader(run: Run, *, kg: KnowledgeGraph | None, store: Store | None, graph_name: str | None
                 ) -> Callable[[], KnowledgeGraph]:
    """What :class:`Intent` calls to read the graph when it must build the intent vectors: ``kg``
    when the recommender has it, else the store's graph, else the run's dataset."""

    def read() -> KnowledgeGraph:
        if kg is not None:
            return kg
        name = graph_name or run.graph
        if store is not None and name in store.graphs():
            logger.info("reading graph %r from %s for the intent vectors (once: they are saved with the run)", name,
                        store.url)
            return store.read(graph=name)
        from kgrec.kg.sources import load_dataset

        logger.info("loading dataset %r for the intent vectors (once: they are saved with the run)", name)
        return load_dataset(name)

    return read


__all__ = ["ClauseResult", "FeedbackPlan", "Intent", "IntentRequest", "TextFeedbackResult", "graph_reader"]
