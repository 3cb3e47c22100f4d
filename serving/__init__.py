"""The serving layer: explained recommendations, Cypher for analysts, live feedback, HTTP.

::

    from kgrec.serving import Recommender
    rec = Recommender.load("runs/lastfm", store=store)
    for r in rec.recommend("2", k=10):
        print(r.rank, r.item.name, r.explanations[0].sentence if r.explanations else "")
        print(r.explanations[0].cypher, r.explanations[0].parameters)

Parts, one job each:

=====================  =========================================================================
:mod:`.recommender`    the facade: :class:`Recommender` (ids at the edge, locks, feedback, new items)
:mod:`.index`          :class:`GraphIndex`: ids, names, CSR adjacency in the run's row order; saved
                       with the run (:mod:`.loading` decides when it is reused)
:mod:`.scorer`         :class:`Scorer`: vectors, top-k, similar items, MMR, exclusions
:mod:`.explain`        :class:`Explainer`: paths (:mod:`.search`, scored with :mod:`.vectors`), their
                       sentences (:mod:`.sentences`) and queries (:mod:`.cypher`)
:mod:`.paths`          the explanation types; :mod:`.results` the recommender's result types
:mod:`.intent`         :class:`~.intent.Intent`: queries, sessions, fusion and text feedback (PREFERS /
                       AVOIDS), their text vectors saved with the run and their explanations
:mod:`.fidelity`       :class:`Fidelity`: is a path why its item is recommended (the path taken out
                       of the user's vector through the run's fold-in, against a random path)
:mod:`.path_quality`   LIR, SEP, ETD of explanation paths; the check of each sentence
:mod:`.explain_report` :func:`explain_report`: fidelity, quality and sentences over sampled users
:mod:`.items`          new items from text and KG links
:mod:`.privacy`        forgetting a user everywhere (orchestrates each part's ``forget``)
:mod:`.config`         :class:`ServeConfig`: the service's settings
:mod:`.http`           the FastAPI app, one router per area (imported on demand)
=====================  =========================================================================
"""

from .config import ServeConfig
from .cypher import PathQuery, path_cypher, path_sparql
from .explain import Explainer
from .explain_report import ExplainReport, explain_report
from .fidelity import Fidelity
from .index import GraphIndex
from .intent import IntentConfig, TextFeedbackResult
from .paths import Explanation, ExplanationPath, PathNode, PathRelation
from .recommender import Recommender
from .results import AddedItem, FeedbackResult, ItemRef, Recommendation, SimilarItem
from .scorer import Scorer, intra_list_diversity, mmr

__all__ = [
    "AddedItem", "ExplainReport", "Explainer", "Explanation", "ExplanationPath", "FeedbackResult", "Fidelity",
    "GraphIndex", "IntentConfig", "ItemRef", "PathNode", "PathQuery", "PathRelation", "Recommendation", "Recommender",
    "Scorer", "ServeConfig", "SimilarItem", "TextFeedbackResult", "explain_report", "intra_list_diversity", "mmr",
    "path_cypher", "path_sparql",
]
