"""Explanations of intent: why an item fits what the user asked for, said, or chose in this session.

Each one is an :class:`~kgrec.serving.Explanation` like the collaborative ones: a path of real
nodes and relations, a sentence from the schema's own phrases, and a Cypher query that returns
exactly that path (checked against the schema, values as parameters), so it can be verified on the
store like every other explanation.

======================  ==================================================  ==========================
kind                    path                                                sentence
======================  ==================================================  ==========================
a query                 item -[A]- attribute                                "You asked for 'dark synth':
                                                                            Depeche Mode has the tag
                                                                            'synthpop'."
a stored preference     user -[PREFERS]-> attribute -[A]- item              "You said you prefer
                                                                            'synthpop': Depeche Mode
                                                                            has the tag 'synthpop'."
the session             session item -[A]- attribute -[A']- item            "In this session you chose
                                                                            New Order, which has the
                                                                            tag 'synthpop'; Depeche
                                                                            Mode has the tag
                                                                            'synthpop' too."
======================  ==================================================  ==========================

``A`` is whichever relation links the item and the attribute in the graph, read in the direction
the graph stores it. A query path's score is the cosine of the query with the attribute's name, a
preference path's its weight, a session path's ``1 / log2(1 + the attribute's degree)`` (a rare
shared attribute says more than "rock").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..cypher import path_cypher
from ..index import GraphIndex
from ..paths import Explanation, ExplanationPath, PathNode, PathRelation
from ..sentences import Grammar
from .matching import AttributeMatch
from .preferences import PREFERS, Preference


class IntentExplainer:
    """Paths for query matches, stored preferences and session items (see the module docs).

    Args:
        index: the serving index.
        schema: the index's schema with the preference relations (:func:`.preferences.with_preferences`).
        attribute_labels: the labels an attribute may have.
    """

    def __init__(self, index: GraphIndex, schema, attribute_labels: Sequence[str]):
        self.index = index
        self.schema = schema
        self.grammar = Grammar(schema)
        self.attribute_labels = set(attribute_labels)
        self.item_label = index.schema.item_label
        self.user_label = index.schema.user_label

    # -- parts -------------------------------------------------------------------------------------
    def _node(self, label: str, row: int) -> PathNode:
        return PathNode(label, self.index.node_id(label, row), self.index.name(label, row))

    def _link(self, item_row: int, label: str, row: int) -> PathRelation | None:
        """The relation from an item to an attribute node as the graph stores it (None: no link)."""
        keys, steps = self.index.neighbourhood(self.item_label, item_row)
        hit = np.flatnonzero(keys == self.index.key(label, row))
        if not len(hit):
            return None
        step = self.index.steps[int(steps[hit[0]])]
        return PathRelation(step.edge_type[1], step.direction)

    def _explanation(self, path: ExplanationPath, score: float, sentence: str) -> Explanation:
        query = path_cypher(path, self.schema)
        return Explanation(path=path, score=float(score), sentence=sentence, cypher=query.text,
                           parameters=query.parameters, hop_supports=tuple(float(score) for _ in path.relations))

    def _verb(self, item: PathNode, rel: PathRelation, attribute: PathNode) -> str:
        """``has the tag '<attribute>'``: what the item is to the attribute, in the schema's words."""
        et = (item.label, rel.type, attribute.label) if rel.direction == "out" else (attribute.label, rel.type,
                                                                                     item.label)
        return f"{self.grammar.phrase(et, rel.direction, you=False)} {self.grammar.node(attribute)}"

    def _says(self, item: PathNode, rel: PathRelation, attribute: PathNode) -> str:
        """``<item> has the tag '<attribute>'``."""
        return f"{self.grammar.node(item)} {self._verb(item, rel, attribute)}"

    # -- kinds -------------------------------------------------------------------------------------
    def query(self, text: str, matches: Sequence[AttributeMatch], item_row: int, *, limit: int = 1
              ) -> list[Explanation]:
        """The best ``limit`` matched attributes the item is linked to, as paths (item → attribute)."""
        out = []
        item = self._node(self.item_label, item_row)
        for m in sorted(matches, key=lambda m: -m.similarity):
            rel = self._link(item_row, m.label, m.row)
            if rel is None:
                continue
            attribute = self._node(m.label, m.row)
            path = ExplanationPath((item, attribute), (rel,))
            out.append(self._explanation(path, m.similarity, f"You asked for {_quote(text)}: "
                                                             f"{self._says(item, rel, attribute)}."))
            if len(out) == limit:
                break
        return out

    def preference(self, user: str, prefs: Sequence[Preference], item_row: int, *, limit: int = 1
                   ) -> list[Explanation]:
        """The user's strongest stored preferences the item is linked to, as paths
        (user → PREFERS → attribute → item); avoided attributes explain nothing."""
        out = []
        item = self._node(self.item_label, item_row)
        for p in prefs:
            if p.relation != PREFERS or p.label not in self.index.code:
                continue
            row = self.index.row(p.label, p.id)
            rel = None if row is None else self._link(item_row, p.label, row)
            if rel is None:
                continue
            attribute = self._node(p.label, row)
            back = PathRelation(rel.type, "in" if rel.direction == "out" else "out")
            path = ExplanationPath((PathNode(self.user_label, user, user), attribute, item),
                                   (PathRelation(PREFERS, "out"), back))
            you = self.grammar.phrase((self.user_label, PREFERS, p.label), "out", you=True)
            out.append(self._explanation(path, p.weight, f"You said you {you} {self.grammar.node(attribute)}: "
                                                         f"{self._says(item, rel, attribute)}."))
            if len(out) == limit:
                break
        return out

    def session(self, session_rows: Sequence[int], item_row: int, *, limit: int = 1) -> list[Explanation]:
        """Attributes the item shares with a session item, the rarest first, as paths
        (session item → attribute → item)."""
        keys, _ = self.index.neighbourhood(self.item_label, item_row)
        candidates: list[tuple[float, int, int]] = []
        codes = {self.index.code[label] for label in self.attribute_labels if label in self.index.code}
        mine = np.unique(keys[np.isin(keys >> 32, list(codes))]) if codes else np.empty(0, dtype=np.int64)
        for s in session_rows:
            theirs, _ = self.index.neighbourhood(self.item_label, int(s))
            for key in np.intersect1d(mine, theirs).tolist():
                label, row = self.index.unkey(key)
                degree = self.index.degree(label, row)
                candidates.append((1.0 / math.log2(1.0 + max(degree, 1)), int(s), key))
        out = []
        used: set[int] = set()
        item = self._node(self.item_label, item_row)
        for score, s, key in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
            if key in used:
                continue
            used.add(key)
            label, row = self.index.unkey(key)
            chosen = self._node(self.item_label, s)
            attribute = self._node(label, row)
            first, second = self._link(s, label, row), self._link(item_row, label, row)
            if first is None or second is None:
                continue
            back = PathRelation(second.type, "in" if second.direction == "out" else "out")
            path = ExplanationPath((chosen, attribute, item), (first, back))
            sentence = (f"In this session you chose {self.grammar.node(chosen)}, which "
                        f"{self._verb(chosen, first, attribute)}; {self._says(item, second, attribute)} too.")
            out.append(self._explanation(path, score, sentence))
            if len(out) == limit:
                break
        return out


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f"'{text if len(text) <= limit else text[:limit - 1] + '…'}'"


__all__ = ["IntentExplainer"]
