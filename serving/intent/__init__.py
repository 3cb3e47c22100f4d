"""Intent: lists that follow what the user says now — a query, the session so far, a sentence of
feedback — fused with the collaborative score and explained through the graph.

::

    rec = Recommender.load("runs/lastfm", store=store)
    rec.recommend("2", query="dark synth", k=10)               # a known user and a query
    rec.recommend(session=["289", "72"], k=10)                  # an anonymous visit
    rec.recommend("2", query="dark synth", fusion="rerank")     # weighted | rerank | union
    rec.feedback("2", text="less metal, more 80s synth")        # stored as PREFERS / AVOIDS

Parts (one job each): :mod:`.core` (:class:`Intent`, the orchestration), :mod:`.vectors`,
:mod:`.matching`, :mod:`.session`, :mod:`.fusion`, :mod:`.feedback`, :mod:`.preferences`,
:mod:`.explain`, :mod:`.config` (:class:`IntentConfig`).
"""

from .config import IntentConfig
from .core import ClauseResult, Intent, IntentRequest, TextFeedbackResult
from .feedback import Clause, parse_feedback
from .fusion import FUSIONS, standardise
from .matching import AttributeMatch, Matcher, QueryEncoder
from .preferences import AVOIDS, PREFERS, Preference, read_preferences, write_preferences
from .vectors import IntentVectors

__all__ = ["AVOIDS", "FUSIONS", "PREFERS", "AttributeMatch", "Clause", "ClauseResult", "Intent", "IntentConfig",
           "IntentRequest", "IntentVectors", "Matcher", "Preference", "QueryEncoder", "TextFeedbackResult",
           "parse_feedback", "read_preferences", "standardise", "write_preferences"]
