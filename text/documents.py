"""Node documents: how each node of a :class:`~kgrec.kg.KnowledgeGraph` becomes text.

The documents are built from the graph's schema and roles, not from one dataset's layout: the user
label and the item label come from ``kg.schema``; every other label is an attribute or a KG entity.
Relations named ``HAS_<X>`` (``HAS_TAG``, ``HAS_GENRE``) are *descriptors* of an item; every other
relation between an item and a non-user node is a *fact*. Neighbours are ranked by the relation's
weight property (``count``, ``weight``, ``rating``, ``score``, else the first numeric one that is not
a timestamp), then by how connected they are (their degree over the whole graph).

Templates (parts in ``[]`` appear only when there is something to say; ``{type}`` is the label in
words, e.g. ``artist``, ``movie``)::

    item       {type}: {name} ({year}). {descriptor}: a, b, c. {text} {fact}: x, y. {fact} of: z.
               e.g. "artist: Opeth. tags: progressive metal, death metal, metal. genre: Progressive
               metal, Death metal. associated band: Bloodbath, Katatonia."
    attribute  {type}: {name}.                      e.g. "tag: progressive metal", "genre: Comedy"
    entity     {relation}: {name}.                  a label named ``...Entity`` is typed by the relation
               that most often reaches it, e.g. "genre: Progressive metal" (DBpedia ``dbo:genre``)
    unnamed    entity: {relation} of a, b; {relation}: c.
               a node with no real name (its name is an opaque id such as ``satori:2086``) is
               described by its relations and the named nodes it links to, e.g. "entity: music artist
               origin of Opeth, Katatonia". With no named neighbour only the relations are named.
    user       user. {relation}: tags by count. {interaction}: items by weight or rating.
               e.g. "user. tagged: metal, doom metal. listened to: Opeth, Katatonia, Anathema."

Readable names: a name that is a URI becomes its last path segment, unquoted, with ``_`` as spaces
(``http://dbpedia.org/resource/Progressive_metal`` → ``Progressive metal``); a name equal to an
opaque id (digits, optionally ``prefix:``; a Wikidata id; a hex code) counts as no name, and so does
a Freebase machine id (``m.0abc12``) or a UUID wherever it appears (:func:`is_opaque_name`). Relation names become phrases: a
Freebase-style dotted name anywhere in the relation's description gives its last segment
(``music.artist.origin`` → ``origin``), ``HAS_TAG`` gives ``tags``, ``DBO_ASSOCIATED_BAND`` gives
``associated band``, anything else is lower-cased with spaces; ``relation_phrases`` overrides.

Truncation: each section keeps at most ``max_tags`` / ``max_items`` / ``max_facts`` /
``max_neighbors`` names, an item keeps at most ``max_fact_relations`` fact sections, a description
at most ``max_text_chars`` characters, and a whole document at most ``max_chars`` characters (cut at
a word boundary). The encoder also truncates to its ``max_length`` tokens, so the parts that matter
most come first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from kgrec.config import Section
from kgrec.errors import SchemaError
from kgrec.kg import KnowledgeGraph
from kgrec.kg.schema import EdgeType, RelationType

_OPAQUE_ID = re.compile(r"^(?:[A-Za-z_][\w.-]*:)?\d+$")
# -- accuracy (issue 16): machine ids that are never a readable name, equal to the id or not --------
_MACHINE_NAME = re.compile(
    r"^(?:(?:ns|fb|freebase):)?/?[mg][./][0-9][0-9a-z_]+$"          # Freebase: m.0abc12, /m/0abc12, g.11b6vz
    r"|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")  # a UUID
# ... and ids that are no name when the name is only the id again
_CODE_ID = re.compile(r"^(?:[A-Za-z_][\w.-]*:)?(?:\d+|[QP]\d+|(?=[0-9a-f]*\d)[0-9a-f]{8,})$")


def is_opaque_name(name: object, node_id: object = None) -> bool:
    """True when ``name`` is a machine id rather than words: a Freebase id (``m.0abc12``) or a UUID
    anywhere; digits (``satori:2086``), a Wikidata id (``Q42``) or a hex code when it only repeats
    ``node_id``. Such a node gets no text from its name (its document is what it links to)."""
    if name is None or (isinstance(name, float) and name != name):
        return True
    text = str(name).strip()
    if not text or _MACHINE_NAME.match(text):
        return True
    return node_id is not None and text == str(node_id).strip() and bool(_CODE_ID.match(text))
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_DOTTED = re.compile(r"(?<![\w.])[a-z_]+(?:\.[a-z_]+){2,}(?![\w.])")  # a Freebase name: music.artist.origin
_VOCAB_PREFIXES = ("DBO_", "DBP_", "DCT_", "FOAF_", "SCHEMA_", "RDFS_", "SKOS_", "OWL_", "WDT_")
_WEIGHT_NAMES = ("count", "weight", "rating", "score")


class DocumentTemplates(Section):
    """How node documents are built (see the module docstring for the templates).

    Args:
        max_tags: descriptor values (tags, genres) kept per section (default: 10).
        max_items: items named in a user document (default: 10).
        max_facts: neighbours named per KG relation of an item (default: 5).
        max_fact_relations: KG relations described per item (default: 8).
        max_neighbors: named neighbours listed for an entity without a name (default: 5).
        max_text_chars: characters kept of a node's ``text`` description (default: 300).
        max_chars: characters kept of a whole document (default: 1000).
        type_prefix: start each document with the node's type (default: True).
        relation_phrases: relation name → phrase, overriding the derived one (default: none).
    """

    max_tags: int = 10
    max_items: int = 10
    max_facts: int = 5
    max_fact_relations: int = 8
    max_neighbors: int = 5
    max_text_chars: int = 300
    max_chars: int = 1000
    type_prefix: bool = True
    relation_phrases: dict[str, str] = {}


# -- names -------------------------------------------------------------------------------------------
def readable_uri(uri: str) -> str:
    """The readable form of a resource URI: its last segment, unquoted, ``_`` as spaces."""
    from urllib.parse import unquote

    tail = re.split(r"[/#]", uri.rstrip("/#"))[-1]
    return unquote(tail).replace("_", " ").strip() or uri


def display_names(kg: KnowledgeGraph, label: str) -> pd.Series:
    """Readable names of ``label``'s nodes, aligned with ``kg.nodes[label]``; NA where a node has no
    real name (its name is missing or is an opaque id)."""
    df = kg.nodes[label]
    names = df["name"].astype("string").str.strip()
    names = names.mask(names.str.len() == 0)
    ids = df["id"].astype("string")
    names = names.fillna(ids.where(ids.str.match(_URI).fillna(False).astype(bool)))  # a URI id names itself
    is_uri = names.str.match(_URI).fillna(False).astype(bool)
    if is_uri.any():
        names = names.copy()
        names[is_uri] = [readable_uri(u) for u in names[is_uri]]
    opaque = (names == df["id"]).fillna(False).astype(bool) & df["id"].str.match(_OPAQUE_ID).fillna(False).astype(bool)
    # accuracy (issue 16): Freebase ids, UUIDs, and codes that only repeat the id are no names either
    opaque |= np.array([is_opaque_name(n, i) if n is not pd.NA else False
                        for n, i in zip(names.tolist(), df["id"].tolist())], dtype=bool)
    return names.mask(opaque).reset_index(drop=True)


def label_words(label: str) -> str:
    """``DbpediaEntity`` → ``dbpedia entity``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", label).lower()


def _plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def relation_phrase(relation: RelationType, templates: DocumentTemplates | None = None) -> str:
    """A short phrase for a relation (see the module docstring)."""
    t = templates or DocumentTemplates()
    if relation.name in t.relation_phrases:
        return t.relation_phrases[relation.name]
    dotted = _DOTTED.search(relation.description or "")
    if dotted:
        return dotted.group(0).rsplit(".", 1)[-1].replace("_", " ")
    name = relation.name
    if name.startswith("HAS_") and len(name) > 4:
        return _plural(name[4:].replace("_", " ").lower())
    for prefix in _VOCAB_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            name = name[len(prefix):]
            break
    return name.replace("_", " ").lower()


def _weight_column(relation: RelationType) -> str | None:
    numeric = {k: v for k, v in relation.properties.items() if v in ("integer", "float")}
    for name in _WEIGHT_NAMES:
        if name in numeric:
            return name
    for name in numeric:
        if "time" not in name and "date" not in name:
            return name
    return None


# -- the builder ---------------------------------------------------------------------------------------
class _Builder:
    """Holds what every label's documents share: readable names, degrees and positions."""

    def __init__(self, kg: KnowledgeGraph, templates: DocumentTemplates):
        self.kg = kg
        self.t = templates
        self.schema = kg.schema
        self.names = {label: display_names(kg, label) for label in kg.nodes}
        self._named = {label: s.to_numpy(dtype=object, na_value=None) for label, s in self.names.items()}
        self._has_name = {label: s.notna().to_numpy(dtype=bool) for label, s in self.names.items()}
        self._index = {label: kg.node_index(label) for label in kg.nodes}
        # ties are broken by id, never by row position: a graph read back from a store in another
        # row order gives the same documents (and so hits the same cache entries)
        self._id_rank = {label: _ranks(df["id"].to_numpy(dtype=object)) for label, df in kg.nodes.items()}
        self.edge_types = sorted(kg.edges, key=lambda et: (et[1], et[0], et[2]))
        self._positions: dict[EdgeType, np.ndarray] = {}
        self.degree = {label: np.zeros(len(df), dtype=np.int64) for label, df in kg.nodes.items()}
        for et in self.edge_types:
            ei = self.edge_index(et)
            for row, label in ((ei[0], et[0]), (ei[1], et[2])):
                ok = row >= 0
                self.degree[label] += np.bincount(row[ok], minlength=len(self.degree[label]))

    def edge_index(self, et: EdgeType) -> np.ndarray:
        if et not in self._positions:
            df = self.kg.edges[et]
            src = self._index[et[0]].get_indexer(df["src"])
            dst = self._index[et[2]].get_indexer(df["dst"])
            self._positions[et] = np.stack([src, dst])
        return self._positions[et]

    def relation(self, et: EdgeType) -> RelationType:
        return self.schema.relation(et)

    def phrase(self, et: EdgeType) -> str:
        return relation_phrase(self.relation(et), self.t)

    def neighbours(self, et: EdgeType, *, outgoing: bool, limit: int,
                   by_weight: bool = True) -> dict[int, list[str]]:
        """For each node on one side of ``et``: its named neighbours on the other side, best first,
        at most ``limit``. Keys: row positions of the nodes that have any."""
        ei = self.edge_index(et)
        own, other = (ei[0], ei[1]) if outgoing else (ei[1], ei[0])
        other_label = et[2] if outgoing else et[0]
        names = self._named[other_label]
        keep = (own >= 0) & (other >= 0)
        keep[keep] = self._has_name[other_label][other[keep]]
        own, other = own[keep], other[keep]
        if len(own) == 0:
            return {}
        sort_keys = [self._id_rank[other_label][other], -self.degree[other_label][other]]  # last key: primary
        weight = _weight_column(self.relation(et)) if by_weight else None
        if weight is not None:
            w = self.kg.edges[et][weight].to_numpy(dtype=np.float64, na_value=np.nan)[keep]
            sort_keys.append(-np.nan_to_num(w, nan=-np.inf))
        sort_keys.append(own)
        order = np.lexsort(sort_keys)
        own, picked = own[order], names[other[order]]
        # the same readable name twice for one node (two nodes sharing a name) counts once
        dup = pd.DataFrame({"own": own, "name": picked}).duplicated().to_numpy()
        own, picked = own[~dup], picked[~dup]
        starts = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
        ends = np.r_[starts[1:], len(own)]
        return {int(own[a]): picked[a:min(b, a + limit)].tolist() for a, b in zip(starts, ends)}

    # -- per role --------------------------------------------------------------------------------
    def type_word(self, label: str) -> str:
        return label_words(label) if self.t.type_prefix else ""

    def _heads(self, label: str) -> np.ndarray:
        """``"{type}: {name} ({year})."`` per node (``"{type}."`` for a node without a name)."""
        df = self.kg.nodes[label]
        names = self._named[label]
        years = None
        if "year" in df.columns and pd.api.types.is_numeric_dtype(df["year"].dtype):
            years = df["year"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        word = self.type_word(label)
        heads = np.empty(len(df), dtype=object)
        for i, name in enumerate(names):
            text = name or ""
            if years is not None and not np.isnan(years[i]):
                year = f"({int(years[i])})"
                if year not in text:
                    text = f"{text} {year}".strip()
            if word:
                heads[i] = f"{word}: {text}." if text else f"{word}."
            else:
                heads[i] = f"{text}." if text else ""
        return heads

    def _sides(self, label: str) -> list[tuple[EdgeType, bool]]:
        """``(edge type, outgoing)`` for every edge type touching ``label`` (both sides of a loop)."""
        out = []
        for et in self.edge_types:
            if et[0] == label:
                out.append((et, True))
            if et[2] == label:
                out.append((et, False))
        return out

    def item(self, label: str) -> list[str]:
        df = self.kg.nodes[label]
        n = len(df)
        parts = [self._heads(label)]
        user = self.schema.user_label
        sides = [(et, out) for et, out in self._sides(label) if user not in (et[0], et[2])]
        descriptors = [et for et, out in sides if out and et[1].startswith("HAS_")]
        facts = [(et, out) for et, out in sides if not (out and et[1].startswith("HAS_"))]
        for et in descriptors:
            phrase = self.phrase(et)
            nb = self.neighbours(et, outgoing=True, limit=self.t.max_tags)
            parts.append(_fill(n, {i: f"{phrase}: {', '.join(v)}." for i, v in nb.items()}))
        if df["text"].notna().any():
            text = df["text"].fillna("").str.strip().str.slice(0, self.t.max_text_chars)
            text = text.where(text.str.endswith((".", "!", "?")) | (text == ""), text + ".")
            parts.append(text.to_numpy(dtype=object, na_value=""))
        # facts: one section per phrase (edge types may share one); a name already said is not
        # repeated (DBpedia's associatedBand and associatedMusicalArtist mostly list the same acts)
        per_node: dict[int, dict[str, list[str]]] = {}
        for et, outgoing in facts:
            phrase = self.phrase(et) + ("" if outgoing else " of")
            for i, names in self.neighbours(et, outgoing=outgoing, limit=self.t.max_facts).items():
                per_node.setdefault(i, {}).setdefault(phrase, []).extend(names)
        own = self._named[label]
        column = np.full(n, "", dtype=object)
        for i, sections in per_node.items():
            seen = {own[i]}
            said = []
            for phrase, names in sections.items():
                fresh = [x for x in dict.fromkeys(names) if x not in seen][: self.t.max_facts]
                if fresh:
                    seen.update(fresh)
                    said.append(f"{phrase}: {', '.join(fresh)}.")
                    if len(said) >= self.t.max_fact_relations:
                        break
            column[i] = " ".join(said)
        parts.append(column)
        return self._join(parts)

    def attribute(self, label: str) -> list[str]:
        n = len(self.kg.nodes[label])
        names, named = self._named[label], self._has_name[label]
        sides = self._sides(label)
        types = np.full(n, self.type_word(label), dtype=object)
        if label.endswith("Entity") and self.t.type_prefix:
            # a generic entity label: each node is typed by the relation that most often reaches it
            counts: dict[str, np.ndarray] = {}
            for et, outgoing in sides:
                if not outgoing:
                    rows = self.edge_index(et)[1]
                    c = counts.setdefault(self.phrase(et), np.zeros(n, dtype=np.int64))
                    c += np.bincount(rows[rows >= 0], minlength=n)
            if counts:
                phrases = list(counts)
                stacked = np.stack([counts[p] for p in phrases])
                best = stacked.argmax(axis=0)
                reached = stacked.max(axis=0) > 0
                types[reached] = np.asarray(phrases, dtype=object)[best[reached]]
        docs = np.full(n, "", dtype=object)
        for i in np.flatnonzero(named):
            docs[i] = f"{types[i]}: {names[i]}." if types[i] else f"{names[i]}."
        unnamed = np.flatnonzero(~named)
        if len(unnamed):
            clauses: dict[int, list[str]] = {}
            bare: dict[int, list[str]] = {}
            for et, outgoing in sides:
                phrase = self.phrase(et)
                clause = phrase if outgoing else f"{phrase} of"
                for i, v in self.neighbours(et, outgoing=outgoing, limit=self.t.max_neighbors,
                                            by_weight=False).items():
                    if not named[i]:
                        clauses.setdefault(i, []).append(f"{clause}: {', '.join(v)}" if outgoing
                                                         else f"{clause} {', '.join(v)}")
                rows = self.edge_index(et)[0 if outgoing else 1]
                rows = np.unique(rows[rows >= 0])
                for i in rows[~named[rows]].tolist():
                    if clause not in bare.setdefault(i, []):
                        bare[i].append(clause)
            for i in unnamed.tolist():
                said = clauses.get(i) or bare.get(i) or ["no relations"]
                docs[i] = "entity: " + "; ".join(said[: self.t.max_fact_relations]) + "."
        return self._join([docs])

    def user(self, label: str) -> list[str]:
        n = len(self.kg.nodes[label])
        parts = [self._heads(label)]
        interaction = tuple(self.schema.interaction)
        sections = [et for et, out in self._sides(label) if out and et != interaction]
        if interaction in self.kg.edges and interaction[0] == label:
            sections.append(interaction)
        for et in sections:
            limit = self.t.max_items if et == interaction else self.t.max_tags
            phrase = self.phrase(et)
            nb = self.neighbours(et, outgoing=True, limit=limit)
            parts.append(_fill(n, {i: f"{phrase}: {', '.join(v)}." for i, v in nb.items()}))
        return self._join(parts)

    def _join(self, parts: list[np.ndarray]) -> list[str]:
        limit = self.t.max_chars
        out = []
        for row in zip(*parts):
            doc = " ".join(p for p in row if p)
            if len(doc) > limit:
                cut = doc.rfind(" ", 0, limit)
                doc = doc[: cut if cut > limit // 2 else limit].rstrip(" ,;.") + " …"
            out.append(doc)
        return out


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values.astype(str), kind="stable")
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values))
    return ranks


def _fill(n: int, values: dict[int, str]) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    for i, v in values.items():
        out[i] = v
    return out


# -- public functions ---------------------------------------------------------------------------------
def item_documents(kg: KnowledgeGraph, *, templates: DocumentTemplates | None = None) -> list[str]:
    """Documents of the item label's nodes, aligned with ``kg.items`` rows."""
    return _Builder(kg, templates or DocumentTemplates()).item(kg.schema.item_label)


def user_documents(kg: KnowledgeGraph, *, templates: DocumentTemplates | None = None) -> list[str]:
    """Documents of the user label's nodes, aligned with ``kg.users`` rows."""
    return _Builder(kg, templates or DocumentTemplates()).user(kg.schema.user_label)


def attribute_documents(kg: KnowledgeGraph, label: str, *, templates: DocumentTemplates | None = None) -> list[str]:
    """Documents of an attribute or entity label's nodes, aligned with ``kg.nodes[label]`` rows."""
    if label not in kg.nodes:
        raise SchemaError(f"unknown label {label!r}; the graph has: {', '.join(kg.nodes)}")
    return _Builder(kg, templates or DocumentTemplates()).attribute(label)


def node_role(kg: KnowledgeGraph, label: str) -> str:
    """``"user"``, ``"item"`` or ``"attribute"``."""
    if label == kg.schema.user_label:
        return "user"
    if label == kg.schema.item_label:
        return "item"
    return "attribute"


def node_documents(kg: KnowledgeGraph, *, templates: DocumentTemplates | None = None,
                   labels: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Documents of every node (or of ``labels``), ``{label: [text per row of kg.nodes[label]]}``."""
    wanted = list(kg.nodes) if labels is None else list(labels)
    for label in wanted:
        if label not in kg.nodes:
            raise SchemaError(f"unknown label {label!r}; the graph has: {', '.join(kg.nodes)}")
    builder = _Builder(kg, templates or DocumentTemplates())
    out = {}
    for label in wanted:
        role = node_role(kg, label)
        out[label] = getattr(builder, role)(label)
    return out
