"""`IntentConfig`: how queries, sessions and text feedback change a list (one typed, frozen section).

Every number here is documented where it is used; the defaults of ``fusion``, ``weight`` and
``preference_share`` were chosen on validation users (``benchmarks/intent.py``,
``benchmarks/notes/intent.md``), never on test users.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from kgrec.config import Section


class IntentConfig(Section):
    """Settings of the intent part of a :class:`~kgrec.serving.Recommender`.

    Args:
        fusion: how the collaborative (GNN) score and the intent score combine: ``weighted``,
            ``rerank`` or ``union`` (:data:`kgrec.serving.intent.fusion.FUSIONS`) (default: ``weighted``).
        weight: the collaborative share of ``weighted``: ``weight · z(collaborative) + (1 − weight) ·
            z(intent)`` (default: 0.5: of the weights tried, the one whose validation NDCG@20 of query
            cases stays closest to each protocol's best in the worst case — 99.4 % of the best on
            lastfm tags (3 seeds), 96.2 % on movielens-small tags, 90.1 % on movielens-small genres;
            lastfm alone would pick 0.65, movielens genres 0.2).
        depth: how many of the collaborative list ``rerank`` re-orders, and how deep ``union``
            interleaves (default: 100).
        attributes: attributes (tags, genres, KG entities) a query or a feedback phrase matches at
            most (default: 5).
        min_similarity: the cosine an attribute's name needs with the query to match (default: 0.5).
        relative_similarity: a match must also reach this fraction of the best match's cosine, so a
            query that names one tag exactly does not drag in loosely related ones (default: 0.85).
        item_text: the share of the item's own text vector in the intent score; the rest comes
            from the attributes it is linked to (default: 0.3).
        preference_strength: how far an avoided attribute (``AVOIDS``) moves an item down, in
            standard deviations of the user's list: ``−strength · weight`` (default: 2.0).
        preference_share: the share of a list's places reserved for the items of a preferred
            attribute (``PREFERS``), times the preference's weight: with 0.25, every 4th place goes
            to the best such item not already above it, and the user's other items keep their order
            in the rest (:func:`kgrec.serving.intent.preferences.reserve_places`); at most 0.5
            (default: 0.3, chosen on validation users of lastfm: benchmarks/notes/intent.md).
        labels: the attribute labels a query or a sentence may match (default: None = every label
            linked to the item label but the user label: tags, genres, KG entities).
        documents: the document preset of the items' text vectors (``short`` or ``full``;
            :data:`kgrec.text.DOCUMENTS`) (default: ``short``, the quick path's, so a run trained
            on it finds them in the text cache).
        max_query_chars: the longest query or feedback sentence, in characters (default: 1000).
        query_cache: query vectors and their matches kept in memory, by text (default: 4096).
        score_cache: the intent scores of the items kept in memory for this many query texts (an
            array of the catalogue's size each: 70 KB for lastfm's 17,632 artists) (default: 256).
    """

    fusion: str = "weighted"
    weight: float = Field(0.5, ge=0.0, le=1.0)
    depth: int = Field(100, ge=1, le=100_000)
    attributes: int = Field(5, ge=1, le=100)
    min_similarity: float = Field(0.5, ge=-1.0, le=1.0)
    relative_similarity: float = Field(0.85, ge=0.0, le=1.0)
    item_text: float = Field(0.3, ge=0.0, le=1.0)
    preference_strength: float = Field(2.0, ge=0.0, le=100.0)
    preference_share: float = Field(0.3, ge=0.0, le=0.5)
    labels: tuple[str, ...] | None = None
    documents: str = "short"
    max_query_chars: int = Field(1000, ge=1, le=100_000)
    query_cache: int = Field(4096, ge=0, le=1_000_000)
    score_cache: int = Field(256, ge=0, le=100_000)

    @field_validator("fusion", mode="before")
    @classmethod
    def _fusion(cls, value: Any) -> Any:
        from .fusion import FUSIONS

        return FUSIONS.canonical(value) if isinstance(value, str) else value

    @field_validator("documents", mode="before")
    @classmethod
    def _documents(cls, value: Any) -> Any:
        from kgrec.text import DOCUMENTS

        return DOCUMENTS.canonical(value) if isinstance(value, str) else value


__all__ = ["IntentConfig"]
