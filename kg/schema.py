"""The schema that every store, exporter and model shares.

Labels are PascalCase (``User``, ``Artist``), relation types UPPER_SNAKE (``LISTENED_TO``),
properties snake_case. An edge type is a ``(source_label, relation, target_label)`` triple, as in
PyTorch Geometric; one relation name may join several label pairs (a KG relation can run from an
artist to an entity and from an entity to an entity).

Every name checked here may later be put into query text (Cypher has no parameters for labels),
so the patterns are strict on purpose.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from kgrec.errors import SchemaError

PropertyType = Literal["string", "integer", "float", "boolean"]
PROPERTY_TYPES: tuple[str, ...] = ("string", "integer", "float", "boolean")
EdgeType = tuple[str, str, str]

LABEL_RE = re.compile(r"^[A-Z][A-Za-z0-9]{0,63}$")
RELATION_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
PROPERTY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Columns every node table has; they are not properties.
NODE_COLUMNS = ("id", "name", "text")
EDGE_COLUMNS = ("src", "dst")
RESERVED_PROPERTIES = frozenset(NODE_COLUMNS + EDGE_COLUMNS)


def check_label(label: str) -> str:
    """Return ``label`` if it is a safe PascalCase label, else raise :class:`SchemaError`."""
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise SchemaError(f"label {label!r} is not a PascalCase identifier (pattern {LABEL_RE.pattern})")
    return label


def check_relation(relation: str) -> str:
    """Return ``relation`` if it is a safe UPPER_SNAKE relation type, else raise."""
    if not isinstance(relation, str) or not RELATION_RE.match(relation):
        raise SchemaError(
            f"relation {relation!r} is not an UPPER_SNAKE identifier (pattern {RELATION_RE.pattern})"
        )
    return relation


def check_property(name: str) -> str:
    """Return ``name`` if it is a safe snake_case property name, else raise."""
    if not isinstance(name, str) or not PROPERTY_RE.match(name) or name in RESERVED_PROPERTIES:
        raise SchemaError(
            f"property {name!r} is not a snake_case identifier (pattern {PROPERTY_RE.pattern}) "
            f"or is reserved ({', '.join(sorted(RESERVED_PROPERTIES))})"
        )
    return name


def to_relation_name(text: str) -> str:
    """Turn a free relation string (``music.artist.origin``, ``dbo:genre``) into UPPER_SNAKE."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()
    if not name or not name[0].isalpha():
        name = "R_" + name
    return check_relation(name[:64])


@dataclass(frozen=True)
class NodeType:
    """A node label and the types of its properties (beyond ``id``, ``name``, ``text``)."""

    label: str
    properties: dict[str, PropertyType] = field(default_factory=dict)
    description: str = ""
    quoted: bool = False  # names printed in quotes in explanation sentences (free-text labels: tags)

    def __post_init__(self) -> None:
        check_label(self.label)
        for name, kind in self.properties.items():
            check_property(name)
            if kind not in PROPERTY_TYPES:
                raise SchemaError(f"{self.label}.{name}: type {kind!r} is not one of {PROPERTY_TYPES}")


@dataclass(frozen=True)
class RelationType:
    """A relation between two labels, with the types of its properties."""

    source: str
    name: str
    target: str
    properties: dict[str, PropertyType] = field(default_factory=dict)
    description: str = ""
    # How explanation sentences say this relation, declared by the source that defines it:
    # (forward, "you" form; forward, third person; backward, "you" form; backward, third person),
    # e.g. ("listen to", "listens to", "are listened to by", "is listened to by"). Empty: derived
    # from the relation's name ("has the genre" / "is the genre of").
    phrases: tuple[str, ...] = ()
    symmetric: bool = False  # (a)-[R]->(b) means (b)-[R]->(a) too (friendship): printed one way

    def __post_init__(self) -> None:
        if self.phrases and len(self.phrases) != 4:
            raise SchemaError(f"relation {self.name}: phrases must be 4 strings (forward you/third person, "
                              f"backward you/third person), got {len(self.phrases)}")
        object.__setattr__(self, "phrases", tuple(str(p) for p in self.phrases))
        check_label(self.source)
        check_relation(self.name)
        check_label(self.target)
        for name, kind in self.properties.items():
            check_property(name)
            if kind not in PROPERTY_TYPES:
                raise SchemaError(f"{self.name}.{name}: type {kind!r} is not one of {PROPERTY_TYPES}")

    @property
    def edge_type(self) -> EdgeType:
        return (self.source, self.name, self.target)


@dataclass(frozen=True)
class Schema:
    """Labels, relation types and the recommendation roles of a graph.

    Args:
        nodes: the node types, one per label.
        relations: the relation types, one per ``(source, name, target)``.
        user_label: the label of the users (default: ``"User"``).
        item_label: the label of the recommendable items (e.g. ``"Artist"``, ``"Movie"``).
        interaction: the edge type of user→item interactions that the models learn from.
    """

    nodes: tuple[NodeType, ...]
    relations: tuple[RelationType, ...]
    user_label: str = "User"
    item_label: str = "Item"
    interaction: EdgeType = ("User", "INTERACTED", "Item")

    def __post_init__(self) -> None:
        labels = [n.label for n in self.nodes]
        if len(set(labels)) != len(labels):
            raise SchemaError(f"duplicate labels in schema: {sorted(labels)}")
        types = [r.edge_type for r in self.relations]
        if len(set(types)) != len(types):
            dup = next(t for t in types if types.count(t) > 1)
            raise SchemaError("duplicate relation type in schema: ({0})-[{1}]->({2}) is declared {3} times (one "
                              "declaration per source label, relation and target)".format(*dup, types.count(dup)))
        for rel in self.relations:
            for label in (rel.source, rel.target):
                if label not in labels:
                    raise SchemaError(f"relation {rel.name} names unknown label {label!r}; labels: {labels}")
        for role, label in (("user_label", self.user_label), ("item_label", self.item_label)):
            if label not in labels:
                raise SchemaError(f"{role} {label!r} is not a label of the schema; labels: {labels}")
        if tuple(self.interaction) not in types:
            raise SchemaError(f"interaction {self.interaction} is not a relation type of the schema")

    # -- look-ups -----------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return [n.label for n in self.nodes]

    @property
    def edge_types(self) -> list[EdgeType]:
        return [r.edge_type for r in self.relations]

    def node(self, label: str) -> NodeType:
        for n in self.nodes:
            if n.label == label:
                return n
        raise SchemaError(f"unknown label {label!r}; the schema has: {', '.join(self.labels)}")

    def relation(self, edge_type: EdgeType) -> RelationType:
        for r in self.relations:
            if r.edge_type == tuple(edge_type):
                return r
        raise SchemaError(f"unknown relation type {edge_type!r}")

    def relation_names(self) -> list[str]:
        return sorted({r.name for r in self.relations})

    # -- building -----------------------------------------------------------------------------
    def merge(self, other: Schema) -> Schema:
        """The union of two schemas (same label with the same properties merges; roles from self)."""
        nodes = {n.label: n for n in self.nodes}
        for n in other.nodes:
            if n.label in nodes:
                props = {**nodes[n.label].properties, **n.properties}
                old = nodes[n.label]
                nodes[n.label] = NodeType(n.label, props, old.description or n.description, old.quoted or n.quoted)
            else:
                nodes[n.label] = n
        rels = {r.edge_type: r for r in self.relations}
        for r in other.relations:
            if r.edge_type in rels:
                old = rels[r.edge_type]
                rels[r.edge_type] = RelationType(
                    r.source, r.name, r.target, {**old.properties, **r.properties}, old.description or r.description,
                    old.phrases or r.phrases, old.symmetric or r.symmetric,
                )
            else:
                rels[r.edge_type] = r
        return Schema(tuple(nodes.values()), tuple(rels.values()), self.user_label, self.item_label, self.interaction)

    def to_dict(self) -> dict:
        """A JSON-ready form (stored with every graph, so a store can rebuild the schema)."""
        return {
            "user_label": self.user_label,
            "item_label": self.item_label,
            "interaction": list(self.interaction),
            "nodes": [{"label": n.label, "properties": dict(n.properties), "description": n.description,
                       **({"quoted": True} if n.quoted else {})}
                      for n in self.nodes],
            "relations": [{"source": r.source, "name": r.name, "target": r.target,
                           "properties": dict(r.properties), "description": r.description,
                           **({"phrases": list(r.phrases)} if r.phrases else {}),
                           **({"symmetric": True} if r.symmetric else {})}
                          for r in self.relations],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Schema:
        try:
            return cls(
                nodes=tuple(NodeType(n["label"], dict(n.get("properties", {})), n.get("description", ""),
                                     bool(n.get("quoted", False)))
                            for n in data["nodes"]),
                relations=tuple(RelationType(r["source"], r["name"], r["target"], dict(r.get("properties", {})),
                                             r.get("description", ""), tuple(r.get("phrases", ())),
                                             bool(r.get("symmetric", False)))
                                for r in data["relations"]),
                user_label=data["user_label"],
                item_label=data["item_label"],
                interaction=tuple(data["interaction"]),
            )
        except (KeyError, TypeError) as e:
            raise SchemaError(f"malformed schema description: missing or bad field {e}") from e

    # -- with_ helpers: changed copies (the stores extend a stored schema with them) -----------
    def with_node(self, node: NodeType) -> Schema:
        """This schema with ``node`` added, or replacing the node type of the same label (in place)."""
        if node.label in self.labels:
            nodes = tuple(node if n.label == node.label else n for n in self.nodes)
        else:
            nodes = (*self.nodes, node)
        return Schema(nodes, self.relations, self.user_label, self.item_label, self.interaction)

    def with_relation(self, relation: RelationType) -> Schema:
        """This schema with ``relation`` added, or replacing the relation type of the same edge type."""
        if relation.edge_type in self.edge_types:
            relations = tuple(relation if r.edge_type == relation.edge_type else r for r in self.relations)
        else:
            relations = (*self.relations, relation)
        return Schema(self.nodes, relations, self.user_label, self.item_label, self.interaction)

    def with_node_properties(self, label: str, properties: Mapping[str, PropertyType]) -> Schema:
        """This schema with ``properties`` declared on ``label`` (the node type is created when the
        label is new; its description and ``quoted`` are kept)."""
        if label in self.labels:
            old = self.node(label)
            return self.with_node(dataclasses.replace(old, properties={**old.properties, **properties}))
        return self.with_node(NodeType(label, dict(properties)))

    def with_relation_properties(self, edge_type: EdgeType, properties: Mapping[str, PropertyType]) -> Schema:
        """This schema with ``properties`` declared on ``edge_type`` (the relation type is created when
        new; its description, phrases and symmetry are kept)."""
        if tuple(edge_type) in self.edge_types:
            old = self.relation(edge_type)
            return self.with_relation(dataclasses.replace(old, properties={**old.properties, **properties}))
        return self.with_relation(RelationType(*edge_type, dict(properties)))

    def with_roles(self, *, user_label: str | None = None, item_label: str | None = None,
                   interaction: EdgeType | None = None) -> Schema:
        """This schema with other recommendation roles (each None keeps the current one)."""
        return Schema(self.nodes, self.relations, user_label or self.user_label, item_label or self.item_label,
                      tuple(interaction) if interaction is not None else self.interaction)
