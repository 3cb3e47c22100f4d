"""What the :class:`~kgrec.serving.Recommender` returns: frozen, typed results with string ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .paths import Explanation

FeedbackKind = Literal["positive", "negative"]
FEEDBACK_KINDS: tuple[str, ...] = ("positive", "negative")


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
    """What :meth:`Recommender.add_item` did: the item and the links it got, per relation."""

    item: ItemRef
    links: dict[str, int]
    stored: bool


__all__ = ["FEEDBACK_KINDS", "AddedItem", "FeedbackKind", "FeedbackResult", "ItemRef", "Recommendation",
           "SimilarItem"]
