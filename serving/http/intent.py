"""Intent over HTTP: lists for a query or a session (also anonymous), and text feedback.

======================================================  ===============================================
``GET  /v1/users/{user}/recommendations?query=&session=``  (in :mod:`.recommendations`) a user's list with
                                                        intent, short form
``POST /v1/users/{user}/recommendations``               the same with a JSON body (:class:`RecommendIn`)
``GET  /v1/recommendations?query=&session=``            an anonymous visitor's list (no id)
``POST /v1/recommendations``                            the same with a JSON body (``user`` optional)
``POST /v1/users/{user}/feedback/text``                 a sentence of feedback → PREFERS / AVOIDS (token)
``GET  /v1/users/{user}/preferences``                   the user's stored text preferences
``DELETE /v1/users/{user}/feedback/text``               undo them: all, or ``attribute=Label:id`` (token)
======================================================  ===============================================

A query is at most :data:`MAX_QUERY_CHARS` characters (422 above); ``session`` is a comma-separated
list of item ids in a GET, a JSON list in a body; an unknown session item is a 404 that names it;
an unknown fusion mode a 422 that lists the modes. Writes are acknowledged once the store has them
durably, like ``POST /v1/feedback``.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from ..config import ServeConfig
from ..recommender import Recommender, clean
from . import deps
from .errors import HttpError
from .keeper import StoreKeeper
from .models import (
    ERRORS,
    WRITE_ERRORS,
    AttributeMatchOut,
    IntentOut,
    RecommendationOut,
    RecommendationsOut,
)

MAX_QUERY_CHARS = 1000
"""The longest query or feedback sentence the service reads."""

router = APIRouter(tags=["intent"])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecommendIn(_Model):
    user: str | None = Field(None, min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$",
                             description="the user's id (POST /v1/recommendations only; omit for a visitor)")
    query: str | None = Field(None, min_length=1, max_length=MAX_QUERY_CHARS, description="free text, e.g. 'dark synth'")
    session: list[str] = Field(default_factory=list, max_length=1000, description="item ids of the current visit")
    k: int = Field(10, ge=1)
    fusion: str | None = Field(None, description="weighted, rerank or union (default: the service's)")
    fusion_weight: float | None = Field(None, ge=0.0, le=1.0, description="collaborative share of 'weighted'")
    explain: bool = True
    exclude_seen: bool = True
    diversity: float = Field(0.0, ge=0.0, le=1.0)
    max_paths: int = Field(3, ge=1, le=20)
    filter: dict[str, list[str]] = Field(default_factory=dict, description="label or relation → ids or names")


class TextFeedbackIn(_Model):
    text: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="e.g. 'less metal, more 80s synth'")


class PreferenceOut(_Model):
    label: str
    id: str
    name: str
    relation: Literal["PREFERS", "AVOIDS"]
    weight: float
    at: str
    phrase: str
    source: str


class ClauseOut(_Model):
    phrase: str
    polarity: Literal["prefer", "avoid", "reset"]
    cue: str
    matches: list[AttributeMatchOut]


class TextFeedbackOut(_Model):
    user: str
    text: str
    clauses: list[ClauseOut]
    preferences: list[PreferenceOut] = Field(description="the user's text preferences now, strongest first")
    stored: bool


class PreferencesOut(_Model):
    user: str
    preferences: list[PreferenceOut]


def _match(m) -> AttributeMatchOut:
    return AttributeMatchOut(label=m.label, id=m.id, name=m.name, similarity=m.similarity)


def _preference(p) -> PreferenceOut:
    return PreferenceOut(label=p.label, id=p.id, name=p.name, relation=p.relation, weight=p.weight, at=p.at,
                         phrase=p.phrase, source=p.source)


def intent_summary(rec: Recommender, query: str | None, session: list[str], fusion: str | None) -> IntentOut | None:
    """What shaped a list: the query's matched attributes (cached: no second encoder call), the
    session, the fusion mode; None for a plain list."""
    if query is None and not session:
        return None
    text, matches = None, []
    if query is not None:
        text, _, found = rec.intent.match(query)
        matches = [_match(m) for m in found]
    mode = None
    if query is not None:
        from ..intent import FUSIONS

        mode = FUSIONS.canonical(fusion or rec.intent.config.fusion)
    return IntentOut(query=text, matches=matches, session=list(session), fusion=mode)


def session_list(session: str | list[str] | None) -> list[str]:
    """A GET's comma-separated session, or a body's list, as ids."""
    from ..intent.session import session_ids

    return list(session_ids(session))


def _recommend(rec: Recommender, config: ServeConfig, user: str | None, body: RecommendIn) -> RecommendationsOut:
    if body.k > config.max_k:
        raise HttpError(422, f"k = {body.k} is over this service's limit of {config.max_k}")
    session = session_list(body.session)
    recs = rec.recommend(user, body.k, query=body.query, session=session or None, fusion=body.fusion,
                         fusion_weight=body.fusion_weight, explain=body.explain, exclude_seen=body.exclude_seen,
                         filters=body.filter or None, diversity=body.diversity, max_paths=body.max_paths)
    return RecommendationsOut(user=None if user is None else clean(user, "user"), k=body.k,
                              recommendations=[RecommendationOut.of(r) for r in recs],
                              intent=intent_summary(rec, body.query, session, body.fusion))


@router.post("/v1/users/{user}/recommendations", response_model=RecommendationsOut, responses=ERRORS,
             summary="Top-k items for a user, shaped by a query and/or a session (JSON body)")
def user_recommendations(body: RecommendIn, user: str = Path(min_length=1, max_length=256),
                         rec: Recommender = Depends(deps.recommender),
                         config: ServeConfig = Depends(deps.settings)) -> RecommendationsOut:
    if body.user is not None:
        raise HttpError(422, "the user is in the path; leave 'user' out of the body")
    return _recommend(rec, config, user, body)


@router.get("/v1/recommendations", response_model=RecommendationsOut, responses=ERRORS,
            summary="Top-k items for an anonymous visitor: a query and/or a session")
def anonymous_recommendations(
        query: str | None = Query(None, min_length=1, max_length=MAX_QUERY_CHARS, description="free text"),
        session: str | None = Query(None, max_length=100_000, description="comma-separated item ids"),
        k: int = Query(10, ge=1), fusion: str | None = None,
        fusion_weight: float | None = Query(None, ge=0.0, le=1.0), explain: bool = True,
        diversity: float = Query(0.0, ge=0.0, le=1.0), max_paths: int = Query(3, ge=1, le=20),
        rec: Recommender = Depends(deps.recommender), config: ServeConfig = Depends(deps.settings),
) -> RecommendationsOut:
    body = RecommendIn(query=query, session=session_list(session), k=k, fusion=fusion, fusion_weight=fusion_weight,
                       explain=explain, diversity=diversity, max_paths=max_paths)
    return _recommend(rec, config, None, body)


@router.post("/v1/recommendations", response_model=RecommendationsOut, responses=ERRORS,
             summary="Top-k items for a query and/or a session, for a user or an anonymous visitor (JSON body)")
def recommendations_body(body: RecommendIn, rec: Recommender = Depends(deps.recommender),
                         config: ServeConfig = Depends(deps.settings)) -> RecommendationsOut:
    return _recommend(rec, config, body.user, body)


@router.post("/v1/users/{user}/feedback/text", response_model=TextFeedbackOut, responses=WRITE_ERRORS,
             dependencies=[Depends(deps.authorised)],
             summary="A sentence of feedback ('less metal'), stored as PREFERS / AVOIDS edges of the user")
def text_feedback(body: TextFeedbackIn, user: str = Path(min_length=1, max_length=256),
                  rec: Recommender = Depends(deps.recommender),
                  keeper: StoreKeeper = Depends(deps.keeper)) -> TextFeedbackOut:
    if rec.store is not None:
        keeper.ensure_durable()
    return _feedback_out(rec.feedback(user, text=body.text))


@router.get("/v1/users/{user}/preferences", response_model=PreferencesOut, responses=ERRORS,
            summary="A user's text preferences (PREFERS / AVOIDS), strongest first")
def preferences(user: str = Path(min_length=1, max_length=256),
                rec: Recommender = Depends(deps.recommender)) -> PreferencesOut:
    user = clean(user, "user")
    rec.intent.load_preferences()
    return PreferencesOut(user=user, preferences=[_preference(p) for p in rec.intent.preferences.of(user)])


@router.delete("/v1/users/{user}/feedback/text", response_model=TextFeedbackOut, responses=WRITE_ERRORS,
               dependencies=[Depends(deps.authorised)],
               summary="Undo text feedback: every PREFERS / AVOIDS edge of the user, or those to the attributes given")
def clear_text_feedback(user: str = Path(min_length=1, max_length=256),
                        attribute: list[str] = Query(default_factory=list, description="Label:id (repeatable)"),
                        rec: Recommender = Depends(deps.recommender),
                        keeper: StoreKeeper = Depends(deps.keeper)) -> TextFeedbackOut:
    if rec.store is not None:
        keeper.ensure_durable()
    return _feedback_out(rec.clear_preferences(user, attribute or None))


def _feedback_out(r) -> TextFeedbackOut:
    return TextFeedbackOut(user=r.user, text=r.text,
                           clauses=[ClauseOut(phrase=c.phrase, polarity=c.polarity, cue=c.cue,
                                              matches=[_match(m) for m in c.matches]) for c in r.clauses],
                           preferences=[_preference(p) for p in r.preferences], stored=r.stored)


__all__ = ["MAX_QUERY_CHARS", "ClauseOut", "PreferenceOut", "PreferencesOut", "RecommendIn", "TextFeedbackIn",
           "TextFeedbackOut", "intent_summary", "router", "session_list"]
