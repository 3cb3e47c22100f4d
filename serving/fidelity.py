"""Fidelity: is an explanation path the reason its item was recommended?

An explanation says "because of this path". The path is *faithful* when the model's score of the
item depends on it: take the path out of what the model knows about the user, score the item
again, and see how far it falls. The measure is model-agnostic: it uses the run's own fold-in
recipe (:meth:`kgrec.gnn.Run.fold_in`, the one serving uses for feedback), so it works the same for
kgrec, LightGCN and every model with a fold-in, and needs no torch.

**What is removed, per path shape.** The user's vector is the model's propagation of the user's
neighbours; a path reaches it through its first hop, from the user to the path's *anchor* (the
node after the user). With ``T`` the user's training items, ``u`` the user's vector and ``fold``
the run's fold-in:

=================================  ================================================================
first hop of the path              what is removed
=================================  ================================================================
the schema's interaction, forward, the interaction with ``x``: ``u' = u − fold(T) + fold(T \\ {x})``
to an item ``x`` in ``T``          (every path through ``x`` goes with it)
the interaction, to an item the    nothing: the model never saw that interaction (it is held out
model was not trained on           for validation or test, or was added later), so the drop is
                                   exactly 0 — the path cannot be why
any other relation (a friend, a    not measured. The fold-in is a function of the user's
tag the user applied)              interactions only. For models whose user vector depends on the
                                   interactions alone (LightGCN, BPR-MF, ItemKNN, …) taking such a
                                   hop out changes nothing, so their drop is 0 and exact; kgrec's
                                   propagation does carry those edges into the user's vector, but
                                   a run does not keep the neighbours' layer states needed to take
                                   one out, so these paths are counted apart, never as 0
                                   (``benchmarks/explain_propagation.py`` measures them in a kgrec
                                   model rebuilt from the run)
=================================  ================================================================

The path's later hops are not removed: they live in other nodes' vectors (the anchor's, the
item's), which a fold-in leaves as trained.

**Measures** (:class:`PathEffect`): the item's score drop, its rank among the user's candidates
(recommendable items the user has not interacted with) before and after, whether it leaves the
top ``k``, and the share of its *lead* that the removal costs (the lead is its score minus the
score of the first item outside the top ``k``; a share of 1 or more means it leaves the list).
Also "keep only the path": ``u'' = u − fold(T) + fold({x} ∩ T)``, and whether the item stays in
the top ``k``. These are PyG's fidelity+ (the prediction "in the top k" changes when the
explanation is removed) and fidelity− (it changes when only the explanation is kept), in PyG's
*model* mode; :mod:`kgrec.serving.explain_report` hands them to
``torch_geometric.explain.metric.characterization_score``.

**Control**: an equally long random path from the same user to the same item whose first hop is
also one of the user's interactions (the same kind of hop, so the comparison is fair): its anchor is
drawn uniformly among the user's interactions that start such a path, then removed the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from kgrec.errors import UnknownUserError

from .index import SHIFT
from .paths import ExplanationPath

if TYPE_CHECKING:
    from .recommender import Recommender
    from .results import Recommendation

logger = logging.getLogger(__name__)

HopKind = Literal["interaction", "held-out interaction", "other relation"]
"""How a path leaves the user: through one of the user's training interactions, through an
interaction the model was not trained on, or through another relation."""


@dataclass(frozen=True)
class PathEffect:
    """What taking a path out of the user's vector does to its item (see the module docs).

    Args:
        kind: how the path leaves the user (:data:`HopKind`).
        anchor: the id of the path's node after the user.
        score: the item's score with the user's vector as it is.
        score_after: its score with the path taken out (``score`` when nothing is removed;
            NaN when not measured).
        rank: the item's 1-based rank among the user's candidates.
        rank_after: its rank with the path taken out (-1 when not measured).
        k: the length of the list the item is in.
        lead_share: the score drop divided by the item's lead over the first item outside the top
            ``k`` (NaN when not measured or when the item is not in the top ``k``).
        kept_in_top_k: with only the path's interaction kept, the item is still in the top ``k``
            (None when not measured).
    """

    kind: HopKind
    anchor: str
    score: float
    score_after: float
    rank: int
    rank_after: int
    k: int
    lead_share: float
    kept_in_top_k: bool | None

    @property
    def measured(self) -> bool:
        return self.kind != "other relation"

    @property
    def drop(self) -> float:
        """How much the score fell (NaN when not measured)."""
        return self.score - self.score_after

    @property
    def rank_drop(self) -> int:
        """How many places the item fell (0 when not measured)."""
        return self.rank_after - self.rank if self.measured else 0

    @property
    def left_top_k(self) -> bool:
        """The item is no longer in the top ``k`` once the path is taken out."""
        return self.measured and self.rank_after > self.k


@dataclass(frozen=True)
class PathFidelity:
    """One explanation's effect, and that of its random control path (None when the explanation is
    not measured, or no other path of its length and kind reaches the item)."""

    effect: PathEffect
    control: PathEffect | None


@dataclass
class _User:
    row: int
    trained: np.ndarray  # item rows the run trained the user on (sorted)
    seen: np.ndarray  # item rows the user interacted with in the graph (excluded from candidates)
    vector: np.ndarray  # the user's vector as served
    folded: np.ndarray  # fold(trained)
    scores: np.ndarray  # base scores, -inf outside the candidates
    cache: dict[tuple[str, int], np.ndarray]  # (what, anchor row) -> scores of that counterfactual


class Fidelity:
    """Counterfactual re-scoring of explained items through the run's fold-in (see the module docs).

    Args:
        recommender: a loaded :class:`~kgrec.serving.Recommender`; its run, index and scorer are
            read, nothing is changed.
    """

    def __init__(self, recommender: Recommender):
        self.rec = recommender
        self.index = recommender.index
        self.run = recommender.run
        self.user_label = recommender.user_label
        self.item_label = recommender.item_label
        self.interaction = tuple(recommender.schema.interaction)
        self._step = self.index.step_index(self.interaction, "out")
        self._item_code = np.int64(self.index.code[self.item_label])
        self._num_run_users = len(self.run.id_maps[self.user_label])

    # -- one user ------------------------------------------------------------------------------
    def _user(self, user_row: int) -> _User:
        if not (0 <= user_row < self._num_run_users) or not self.rec.scorer.known(user_row):
            raise UnknownUserError(f"user row {user_row} is not one the run was trained on: its vector is "
                                   "not a fold-in of training items, so no path can be taken out of it")
        trained = np.asarray(self.run.train_items(user_row), dtype=np.int64)
        seen = self.index.neighbours(self.user_label, user_row, self._step)
        vector = self.rec.scorer.user_vector(user_row).astype(np.float64)
        folded = self.run.fold_in(trained).astype(np.float64)
        scores = self.rec.scorer.score_vectors(vector[None, :], exclude=seen)[0]
        return _User(user_row, trained, seen, vector, folded, scores, {})

    def _scores(self, user: _User, what: str, anchor: int) -> np.ndarray:
        """Scores of every item for the user without (``what="without"``) or with only
        (``"only"``) the interaction with ``anchor`` among the training items."""
        key = (what, anchor)
        if key not in user.cache:
            if what == "without":
                items = user.trained[user.trained != anchor]
            else:
                items = user.trained[user.trained == anchor]
            vector = user.vector - user.folded + self.run.fold_in(items).astype(np.float64)
            user.cache[key] = self.rec.scorer.score_vectors(vector[None, :], exclude=user.seen)[0]
        return user.cache[key]

    @staticmethod
    def _rank(scores: np.ndarray, item: int) -> int:
        return int((scores > scores[item]).sum()) + 1

    def _threshold(self, user: _User, k: int) -> float:
        """The score of the first item outside the top ``k`` (-inf when there is none)."""
        finite = user.scores[np.isfinite(user.scores)]
        if len(finite) <= k:
            return -np.inf
        return float(-np.partition(-finite, k)[k])

    def _effect(self, user: _User, item: int, k: int, kind: HopKind, anchor_row: int | None, anchor: str
                ) -> PathEffect:
        score = float(user.scores[item])
        rank = self._rank(user.scores, item)
        if kind == "other relation":
            return PathEffect(kind, anchor, score, float("nan"), rank, -1, k, float("nan"), None)
        if kind == "held-out interaction":  # nothing of it is in the user's vector
            after, kept = user.scores, self._scores(user, "only", -1)
        else:
            after, kept = self._scores(user, "without", anchor_row), self._scores(user, "only", anchor_row)
        score_after = float(after[item])
        lead = score - self._threshold(user, k)
        share = (score - score_after) / lead if rank <= k and np.isfinite(lead) and lead > 0 else float("nan")
        return PathEffect(kind, anchor, score, score_after, rank, self._rank(after, item), k, float(share),
                          self._rank(kept, item) <= k)

    def _kind(self, user: _User, path: ExplanationPath) -> tuple[HopKind, int | None]:
        first, node = path.relations[0], path.nodes[1]
        if path.edge_types[0] != self.interaction or first.direction != "out":
            return "other relation", None
        row = self.index.row(self.item_label, node.id)
        if row is None or not np.isin(row, user.trained):
            return "held-out interaction", row
        return "interaction", row

    def control_anchor(self, user_row: int, item_row: int, hops: int, rng: np.random.Generator) -> int | None:
        """The anchor (an item row) of a random path of ``hops`` hops from the user to the item whose
        first hop is one of the user's interactions, drawn uniformly among the user's interactions
        that start such a path (None when none does, or for one hop)."""
        if hops < 2:
            return None
        interacted = self.index.neighbours(self.user_label, user_row, self._step)
        interacted = interacted[interacted != item_row]
        if not len(interacted):
            return None
        around = np.unique(self.index.neighbourhood(self.item_label, item_row)[0])
        if hops == 2:  # user -> x -> item: x is a neighbour of the item
            candidates = interacted[np.isin((self._item_code << SHIFT) | interacted, around)]
        else:  # user -> x -> m -> ... -> item: x reaches a neighbour m of the item (m not the user nor x)
            pos, keys, _, _ = self.index.gather(self.item_label, interacted)
            user_key = self.index.key(self.user_label, user_row)
            x_keys = (self._item_code << SHIFT) | interacted[pos]
            ok = np.isin(keys, around) & (keys != user_key) & (keys != x_keys)
            if hops > 3:  # longer paths: any interaction with a neighbour reaches the item's neighbourhood
                ok = np.ones(len(keys), dtype=bool)
            candidates = interacted[np.unique(pos[ok])]
        if not len(candidates):
            return None
        return int(candidates[rng.integers(len(candidates))])

    # -- a list ------------------------------------------------------------------------------------
    def measure(self, user: str, recommendations: Sequence[Recommendation], *, k: int | None = None,
                rng: np.random.Generator | None = None, controls: bool = True) -> list[list[PathFidelity]]:
        """The fidelity of every explanation of a user's recommendations, with a random control
        path for each measured one.

        Args:
            user: the user's id.
            recommendations: the user's list, as :meth:`Recommender.recommend` returned it.
            k: the list's length for "left the top k" (default: the list's length).
            rng: draws the control paths (default: ``numpy.random.default_rng(0)``).
            controls: also measure a random control path per explanation (default: True).

        Returns:
            per recommendation, per explanation, a :class:`PathFidelity`.

        Raises:
            UnknownUserError: the user is not one the run was trained on.
        """
        row = self.index.row(self.user_label, user)
        if row is None:
            raise UnknownUserError(f"unknown user {user!r}")
        state = self._user(row)
        k = k or len(recommendations)
        rng = rng if rng is not None else np.random.default_rng(0)
        out: list[list[PathFidelity]] = []
        for r in recommendations:
            item = self.index.row(self.item_label, r.item.id)
            found = []
            for e in r.explanations:
                kind, anchor_row = self._kind(state, e.path)
                effect = self._effect(state, item, k, kind, anchor_row, e.path.nodes[1].id)
                control = None
                if effect.measured and controls:
                    c = self.control_anchor(row, item, e.path.hops, rng)
                    if c is not None:
                        c_kind: HopKind = "interaction" if np.isin(c, state.trained) else "held-out interaction"
                        control = self._effect(state, item, k, c_kind, c, self.index.node_id(self.item_label, c))
                found.append(PathFidelity(effect, control))
            out.append(found)
        return out


__all__ = ["Fidelity", "HopKind", "PathEffect", "PathFidelity"]
