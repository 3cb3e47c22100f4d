"""The serving layer: explained recommendations, Cypher for analysts, live feedback, HTTP.

::

    from kgrec.serving import Recommender
    rec = Recommender.load("runs/lastfm", store=store)
    for r in rec.recommend("2", k=10):
        print(r.rank, r.item.name, r.explanations[0].sentence if r.explanations else "")
        print(r.explanations[0].cypher, r.explanations[0].parameters)

Parts: :mod:`.recommender` (top-k, similar items, feedback, cold-start items, MMR diversity),
:mod:`.explain` (CSR adjacency, bounded path search, path scores, sentences), :mod:`.cypher` (the
query builders), :mod:`.http` (FastAPI app, imported on demand).
"""

from .cypher import PathQuery, path_cypher, path_sparql
from .explain import Explanation, ExplanationPath, GraphIndex, PathNode, PathRelation
from .recommender import (AddedItem, FeedbackResult, ItemRef, Recommendation, Recommender, SimilarItem,
                          intra_list_diversity, mmr)

__all__ = [
    "AddedItem", "Explanation", "ExplanationPath", "FeedbackResult", "GraphIndex", "ItemRef", "PathNode", "PathQuery",
    "PathRelation", "Recommendation", "Recommender", "SimilarItem", "intra_list_diversity", "mmr", "path_cypher",
    "path_sparql",
]
