"""The service's request and response bodies (pydantic, ``extra="forbid"``, frozen): the OpenAPI
schema at ``/openapi.json`` is made from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..paths import Explanation
from ..results import Recommendation

ID = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$",
           description="1 to 256 characters, no control characters")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemOut(_Model):
    id: str
    name: str


class NodeOut(_Model):
    label: str
    id: str
    name: str


class RelationOut(_Model):
    type: str
    direction: Literal["out", "in"] = Field(description="'out': nodes[i] -[type]-> nodes[i+1]; 'in': the reverse")


class PathOut(_Model):
    nodes: list[NodeOut]
    relations: list[RelationOut]


class ExplanationOut(_Model):
    path: PathOut
    score: float = Field(description="the path's score from its hop supports, in (0, 1] (the explainer's scoring)")
    sentence: str
    cypher: str = Field(description="a Cypher query that returns exactly this path; values in 'parameters'")
    parameters: dict[str, str]
    hop_supports: list[float]
    sparql: str | None = None

    @classmethod
    def of(cls, e: Explanation) -> ExplanationOut:
        return cls(path=PathOut(nodes=[NodeOut(label=n.label, id=n.id, name=n.name) for n in e.path.nodes],
                                relations=[RelationOut(type=r.type, direction=r.direction) for r in e.path.relations]),
                   score=e.score, sentence=e.sentence, cypher=e.cypher, parameters=dict(e.parameters),
                   hop_supports=list(e.hop_supports), sparql=e.sparql)


class RecommendationOut(_Model):
    item: ItemOut
    score: float
    rank: int
    explanations: list[ExplanationOut]

    @classmethod
    def of(cls, r: Recommendation) -> RecommendationOut:
        return cls(item=ItemOut(id=r.item.id, name=r.item.name), score=r.score, rank=r.rank,
                   explanations=[ExplanationOut.of(e) for e in r.explanations])


class AttributeMatchOut(_Model):
    label: str
    id: str
    name: str
    similarity: float = Field(description="cosine of the query's and the attribute name's text vectors")


class IntentOut(_Model):
    query: str | None = Field(None, description="the query, normalised")
    matches: list[AttributeMatchOut] = Field(default_factory=list, description="the attributes it matched, best first")
    session: list[str] = Field(default_factory=list, description="the session's item ids (not stored)")
    fusion: str | None = Field(None, description="how the collaborative and intent scores were fused")


class RecommendationsOut(_Model):
    user: str | None = Field(description="the user's id; null for an anonymous visitor")
    k: int
    recommendations: list[RecommendationOut]
    intent: IntentOut | None = Field(None, description="present when a query or a session shaped the list")


class SimilarItemOut(_Model):
    item: ItemOut
    score: float


class SimilarOut(_Model):
    item: ItemOut
    similar: list[SimilarItemOut]


class ExplainOut(_Model):
    user: str
    item: ItemOut
    explanations: list[ExplanationOut]


class FeedbackIn(_Model):
    user: str = ID
    item: str = ID
    kind: Literal["positive", "negative"] = "positive"
    weight: float | None = Field(None, ge=0, allow_inf_nan=False)


class FeedbackOut(_Model):
    user: str
    item: ItemOut
    kind: Literal["positive", "negative"]
    new_user: bool
    interactions: int
    stored: bool


class ItemIn(_Model):
    id: str = ID
    name: str = Field(min_length=1, max_length=1024)
    text: str = Field("", max_length=65_536)
    attributes: dict[str, list[str]] = Field(default_factory=dict,
                                             description="relation or label → ids or names of existing nodes")


class ItemAddedOut(_Model):
    item: ItemOut
    links: dict[str, int]
    stored: bool


class QueryIn(_Model):
    cypher: str = Field(min_length=1, max_length=100_000)
    parameters: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float | None = Field(None, gt=0, description="the query's time limit in seconds (default: the "
                                    "service's; at most its maximum)")


class QueryOut(_Model):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class HealthOut(_Model):
    status: Literal["ok", "degraded"]
    store: Literal["up", "down", "slow", "none"] = Field(description="'slow': no answer within the health "
                                                         "check's time limit (a long query may hold the store)")
    graph: str
    model: str | None
    users: int
    items: int


class ErrorOut(_Model):
    detail: str


class ForgetOut(_Model):
    user: str
    nodes: int = Field(description="user nodes deleted from the store (0 or 1)")
    edges: int = Field(description="edges of the user deleted from the store (interactions, profile, ...)")
    in_memory: bool = Field(description="whether the running recommender knew the user")
    compacted: bool = Field(False, description="whether the store rewrote its files, so the id is gone from disk")


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 422: {"description": "bad parameters or body"},
    503: {"model": ErrorOut}}
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 413: {"model": ErrorOut}}


__all__ = ["ERRORS", "ID", "WRITE_ERRORS", "AttributeMatchOut", "ErrorOut", "ExplainOut", "ExplanationOut",
           "FeedbackIn", "FeedbackOut", "ForgetOut", "HealthOut", "IntentOut", "ItemAddedOut", "ItemIn", "ItemOut",
           "QueryIn", "QueryOut", "RecommendationOut", "RecommendationsOut", "SimilarItemOut", "SimilarOut"]
