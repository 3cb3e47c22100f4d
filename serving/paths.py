"""What an explanation is: a path of nodes and relations from a user to an item, its score, a
sentence and the query that returns it (typed, frozen results)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kgrec.kg.schema import EdgeType

Direction = Literal["out", "in"]


@dataclass(frozen=True)
class PathNode:
    """One node of an explanation path."""

    label: str
    id: str
    name: str


@dataclass(frozen=True)
class PathRelation:
    """One hop of an explanation path.

    ``direction`` is relative to the path's order: ``"out"`` means ``nodes[i] -[type]-> nodes[i+1]``
    as stored in the graph, ``"in"`` means ``nodes[i] <-[type]- nodes[i+1]``.
    """

    type: str
    direction: Direction


@dataclass(frozen=True)
class ExplanationPath:
    """A walk through the graph from a user to an item: ``len(nodes) == len(relations) + 1``."""

    nodes: tuple[PathNode, ...]
    relations: tuple[PathRelation, ...]

    def __post_init__(self) -> None:
        if len(self.nodes) != len(self.relations) + 1:
            raise ValueError(f"a path of {len(self.relations)} relations needs {len(self.relations) + 1} nodes, "
                             f"got {len(self.nodes)}")

    @property
    def hops(self) -> int:
        return len(self.relations)

    @property
    def edge_types(self) -> list[EdgeType]:
        """The stored ``(source, relation, target)`` type of each hop."""
        out = []
        for i, rel in enumerate(self.relations):
            a, b = self.nodes[i].label, self.nodes[i + 1].label
            out.append((a, rel.type, b) if rel.direction == "out" else (b, rel.type, a))
        return out

    @property
    def pattern(self) -> tuple[str, ...]:
        return tuple(r.type for r in self.relations)

    def __str__(self) -> str:
        parts = [f"({self.nodes[0].label} {self.nodes[0].name})"]
        for rel, node in zip(self.relations, self.nodes[1:]):
            arrow = f"-[:{rel.type}]->" if rel.direction == "out" else f"<-[:{rel.type}]-"
            parts.append(f"{arrow}({node.label} {node.name})")
        return "".join(parts)

    def to_dict(self) -> dict:
        return {"nodes": [vars(n) for n in self.nodes], "relations": [vars(r) for r in self.relations]}


@dataclass(frozen=True)
class Explanation:
    """Why an item is recommended to a user: a path, its score, a sentence and a query that returns it.

    Args:
        path: the nodes and relations from the user to the item.
        score: the path's score in ``(0, 1]``, from its hop supports (the scoring: :mod:`kgrec.serving.search`).
        sentence: the path in plain English.
        cypher: a parameterised Cypher query that returns exactly this path.
        parameters: the values of the query's ``$parameters``.
        hop_supports: the support of each hop (cosine of its two ends' trained vectors, floored).
        sparql: the equivalent SPARQL query, when the store is an RDF store.
    """

    path: ExplanationPath
    score: float
    sentence: str
    cypher: str
    parameters: Mapping[str, str]
    hop_supports: tuple[float, ...] = ()
    sparql: str | None = None



__all__ = ["Direction", "Explanation", "ExplanationPath", "PathNode", "PathRelation"]
