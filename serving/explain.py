"""The explainer: why an item is recommended to a user, as paths through the knowledge graph.

:class:`Explainer` puts the parts together: the serving index (:mod:`.index`), the trained vectors
as hop supports (:mod:`.vectors`), the vectorised path search and its documented scoring
(:mod:`.search`), the sentences (:mod:`.sentences`) and the query builders (:mod:`.cypher`). Each
:class:`~kgrec.serving.paths.Explanation` it returns carries its path, score, sentence, the Cypher
that returns exactly that path (and SPARQL on an RDF store).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from .cypher import path_cypher, path_sparql
from .index import GraphIndex
from .paths import Explanation
from .search import DEFAULT_SCORING, SCORINGS, FoundPath, choose, search_paths, to_path
from .sentences import Grammar
from .vectors import UnitVectors

logger = logging.getLogger(__name__)


class Explainer:
    """Paths from a user to items, scored with the trained vectors, put in words and queries.

    Args:
        index: the serving index (its rows are the vectors' rows).
        vectors: label → ``[rows, d]`` trained vectors in the index's row order (rows past the end
            have none).
        max_hops: the longest explanation path (default: 3).
        beam: partial paths kept per depth of the search (default: 2000).
        sparql: also write each path as SPARQL (an RDF store) (default: False).
        base_iri: the RDF store's base IRI for that SPARQL (default: kgrec's).
        scoring: how paths are scored, a name of :data:`~kgrec.serving.search.SCORINGS`
            (``geometric``, ``weakest``, ``anchored``) (default:
            :data:`~kgrec.serving.search.DEFAULT_SCORING`).
    """

    def __init__(self, index: GraphIndex, vectors: Mapping[str, np.ndarray], *, max_hops: int = 3,
                 beam: int = 2000, sparql: bool = False, base_iri: str | None = None,
                 scoring: str = DEFAULT_SCORING):
        if max_hops < 1:
            raise ValueError(f"max_hops must be at least 1, got {max_hops}")
        self.scoring = SCORINGS.canonical(scoring)
        self.index = index
        self.max_hops = max_hops
        self.beam = beam
        self.sparql = sparql
        self.base_iri = base_iri
        self.unit = UnitVectors(index, vectors)
        index.weigh(self.unit, saved=True)
        self.grammar = Grammar(index.schema)

    def explain(self, user_row: int, item_rows: Sequence[int] | np.ndarray, *, max_paths: int = 3
                ) -> dict[int, list[Explanation]]:
        """The best ``max_paths`` explanations from one user to each item (best first; ``[]`` for an
        item with no path of at most ``max_hops`` hops)."""
        found = search_paths(self.index, user_row, np.asarray(item_rows, dtype=np.int64), max_hops=self.max_hops,
                             beam=self.beam, scoring=self.scoring)
        return {item: self.explanations(paths, max_paths) for item, paths in found.items()}

    def explanations(self, found: Sequence[FoundPath], max_paths: int) -> list[Explanation]:
        """The ``max_paths`` paths to show of those found for one item, with their words and queries."""
        schema = self.index.schema
        out = []
        for f in choose(found, self.index, max_paths):
            path = to_path(f, self.index)
            query = path_cypher(path, schema)
            out.append(Explanation(path=path, score=f.score, sentence=self.grammar.sentence(path), cypher=query.text,
                                   parameters=query.parameters, hop_supports=f.supports,
                                   sparql=path_sparql(path, schema, base_iri=self.base_iri).text
                                   if self.sparql else None))
        return out

    def set_vector(self, label: str, row: int, vector: np.ndarray) -> None:
        """A node's vector changed (feedback, a new item): its hops are re-weighed when used."""
        self.unit.set(label, row, vector)

    def forget(self, label: str, row: int) -> None:
        """The node's vector is gone (its hops read as the neutral support)."""
        width = self.unit.width(label)
        if width:
            self.unit.set(label, row, np.zeros(width, dtype=np.float32))


__all__ = ["Explainer"]
