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
import unicodedata
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
# Labels kgrec keeps for itself in every store (the graph's meta node): no graph may use them.
RESERVED_LABELS = frozenset({"KgrecMeta"})


def check_label(label: str) -> str:
    """Return ``label`` if it is a safe PascalCase label, else raise :class:`SchemaError`."""
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise SchemaError(f"label {label!r} is not a PascalCase identifier (pattern {LABEL_RE.pattern})")
    if label in RESERVED_LABELS:
        raise SchemaError(f"label {label!r} is reserved for kgrec's meta node; choose another label")
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


# Latin letters that do not decompose to an ASCII letter, and their usual transliteration
_LATIN = {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D",
          "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i"}


def name_words(text: str) -> list[str]:
    """The words of a free name, for building identifiers that keep what the name says.

    ASCII letters and digits form words (split at other characters and at camelCase humps:
    ``dbo:birthPlace`` → ``dbo birth Place``); a non-ASCII letter that decomposes to an ASCII one
    is transliterated (``Café`` → ``Cafe``); any other non-ASCII character becomes a word of its
    own, its code point in hex (``导演`` → ``5BFC 6F14``), so that two different names never lose
    their difference; format characters (zero-width, bidi marks) are dropped, punctuation and
    spaces separate words.
    """
    words: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        ascii_text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", "".join(buf))
        words.extend(w for w in re.split(r"[^A-Za-z0-9]+", ascii_text) if w)
        buf.clear()

    for ch in unicodedata.normalize("NFC", str(text)):
        if ch.isascii():
            buf.append(ch)
            continue
        base = _LATIN.get(ch) or "".join(c for c in unicodedata.normalize("NFKD", ch)
                                         if c.isascii() and c.isalnum())
        category = unicodedata.category(ch)
        if base:
            buf.append(base)
        elif category == "Cf":
            continue
        elif category[0] in "PZS" or ch.isspace():
            buf.append(" ")
        else:
            flush()
            words.append(f"{ord(ch):04X}")
    flush()
    return words


def to_relation_name(text: str) -> str:
    """Turn a free relation string (``music.artist.origin``, ``dbo:genre``, ``导演``) into UPPER_SNAKE.

    Words as :func:`name_words` finds them, joined by ``_`` and upper-cased; ``R_`` is put before a
    name that would not start with a letter (``导演`` → ``R_5BFC_6F14``, ``""`` → ``R_``). Different
    texts may give one name (``a.b`` and ``a_b``): loaders refuse such a collision, naming both.
    """
    name = "_".join(name_words(text)).upper()
    if not name or not name[0].isalpha():
        name = "R_" + name
    return check_relation(name[:64])


def to_label_name(text: str, *, prefix: str = "A") -> str:
    """Turn a free name (an items-file column) into a PascalCase label (``release_year`` →
    ``ReleaseYear``, ``导演`` → ``A5BFC6F14``); ``prefix`` goes before a name that would not start
    with a letter."""
    label = "".join(w[:1].upper() + w[1:] for w in name_words(text))
    if not label or not label[0].isalpha():
        label = prefix + label
    return check_label(label[:64])


def default_phrases(name: str, words: str | None = None) -> tuple[str, str, str, str]:
    """How a relation reads when its source declares nothing: 4 phrases as in
    :attr:`RelationType.phrases`, made from ``words`` (default: the words of ``name``, lower-case).

    ``HAS_GENRE`` → ("have the genre", "has the genre", "are the genre of", "is the genre of");
    a name whose first word is a past form (``RATED``, ``LISTENED_TO``) reads as a verb:
    ("listened to", "listened to", "were listened to by", "was listened to by"), and with a last word
    ``BY`` as a passive (``DIRECTED_BY``: "is directed by" / "directed"); any other
    name reads as a noun (``FILM_DIRECTOR`` → "has the film director" / "is the film director of").
    """
    parts = [w.lower() for w in name_words(name)]
    if parts and parts[0] in ("has", "have") and len(parts) > 1:
        noun = words or " ".join(parts[1:])
    elif parts and parts[0].endswith("ed") and words is None:
        verb = " ".join(parts)
        if parts[-1] == "by" and len(parts) > 1:  # DIRECTED_BY: the source was directed by the target
            active = " ".join(parts[:-1])
            return (f"are {verb}", f"is {verb}", active, active)
        return (verb, verb, f"were {verb} by", f"was {verb} by")
    else:
        noun = words or " ".join(parts) or name
    return (f"have the {noun}", f"has the {noun}", f"are the {noun} of", f"is the {noun} of")


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

    def phrase(self, direction: Literal["out", "in"], *, you: bool) -> str:
        """How a sentence says this relation: followed forward (``"out"``: source → target) or
        backward (``"in"``), after "you" or after a third person. The declared :attr:`phrases`,
        else :func:`default_phrases` of the name."""
        phrases = self.phrases or default_phrases(self.name)
        return phrases[(0 if you else 1) + (0 if direction == "out" else 2)]


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
