"""Explanation sentences: a path in plain English, from the schema's own words.

Nothing here knows a dataset. How a relation reads comes from the schema
(:attr:`RelationType.phrases`: forward "you" form, forward third person, backward "you" form,
backward third person, declared by the source that defines the relation); a relation without
phrases (a graph stored before sources declared them) reads as its name says (:func:`derived_phrases`).
Node names are quoted for labels the schema marks :attr:`NodeType.quoted` (free-text labels such as
tags). The sentence *shapes* are chosen from roles, not names:

==========================================  ================================================================
path (roles)                                sentence
==========================================  ================================================================
user -I-> item                              "You already <I> <item>."
user -S- user' -I-> item                    "Because your friend <user'> <I> <item>."
user -R-> x <-R- user' -I-> item            "Because <user'>, who also <R> <x>, <I> <item>." (co-listener)
user -R-> x <-A- item                       "Because you <R> <x>, <A, as an apposition> <item>."
user -I-> item' -A-> x <-A- item            "Because you <I> <item'>, which shares <the A> <x> with <item>."
                                            (when A reads "has the ...", else "..., which <A> <x>, and
                                            <item> <A> <x> too.")
user -S- user' -S- user'' -I-> item         "Because <user''>, a friend of your friend <user'>, <I> <item>."
anything else                               "Because you <r1> <n1>, which/who <r2> <n2>, …."
==========================================  ================================================================

``I`` is the schema's interaction, ``S`` a symmetric relation between users (printed as friendship),
``R`` any relation from the user label, ``A`` any relation of the item label to a node that is
neither a user nor an item.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kgrec.kg.schema import EdgeType, RelationType, Schema

from .paths import ExplanationPath, PathNode

if TYPE_CHECKING:
    from .paths import Direction


def relation_words(relation: str) -> str:
    """``HAS_GENRE`` → ``has genre``, ``MUSIC_ARTIST_ORIGIN`` → ``music artist origin``."""
    return re.sub(r"\s+", " ", relation.lower().replace("_", " ")).strip()


def derived_phrases(name: str) -> tuple[str, str, str, str]:
    """The four phrases of a relation that declares none, from its name: ``HAS_GENRE`` →
    ("have the genre", "has the genre", "are the genre of", "is the genre of"); a name whose first
    word is a past form reads as a verb (``LISTENED_TO`` → "listened to" / "was listened to by",
    ``DIRECTED_BY`` → "is directed by" / "directed"); a name ending in ``OF`` as a noun of the target
    (``FRIEND_OF`` → "is the friend of" / "has the friend"); any other name as a noun
    (``FILM_DIRECTOR`` → "has the film director")."""
    parts = relation_words(name).split()
    if len(parts) > 1 and parts[-1] == "of":  # FRIEND_OF: the source is the target's friend
        noun = " ".join(parts[:-1])
        return f"are the {noun} of", f"is the {noun} of", f"have the {noun}", f"has the {noun}"
    if len(parts) > 1 and parts[0] in ("has", "have"):
        noun = " ".join(parts[1:])
    elif parts and parts[0].endswith("ed"):
        verb = " ".join(parts)
        if len(parts) > 1 and parts[-1] == "by":
            active = " ".join(parts[:-1])
            return f"are {verb}", f"is {verb}", active, active
        return verb, verb, f"were {verb} by", f"was {verb} by"
    else:
        noun = " ".join(parts) or name.lower()
    return f"have the {noun}", f"has the {noun}", f"are the {noun} of", f"is the {noun} of"


class Grammar:
    """Sentences for the paths of one schema (see the module docs).

    Args:
        schema: the graph's schema: roles, relation phrases, symmetric relations, quoted labels.
    """

    def __init__(self, schema: Schema):
        self.schema = schema
        self.user, self.item = schema.user_label, schema.item_label
        self.interaction: EdgeType = tuple(schema.interaction)  # type: ignore[assignment]
        self._relations: dict[EdgeType, RelationType] = {r.edge_type: r for r in schema.relations}
        self._quoted = {n.label for n in schema.nodes if n.quoted}

    # -- words -----------------------------------------------------------------------------------
    def phrase(self, edge_type: EdgeType, direction: Direction, *, you: bool) -> str:
        """How a hop along ``edge_type`` reads, after "you" or after a third person."""
        rel = self._relations.get(tuple(edge_type))  # type: ignore[arg-type]
        phrases = (rel.phrases if rel is not None else ()) or derived_phrases(edge_type[1])
        return phrases[(0 if you else 1) + (0 if direction == "out" else 2)]

    def node(self, node: PathNode) -> str:
        """How a node is named: items by name, users as ``user 42`` (or their name), quoted labels
        in quotes, a bare prefixed id as ``the <label words> <id>``."""
        if node.label == self.item:
            return node.name
        if node.label == self.user:
            return f"user {node.name}" if node.name == node.id else node.name
        if node.label in self._quoted:
            return f"'{node.name}'"
        if node.name == node.id and ":" in node.id and not node.id.startswith("http"):
            words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", node.label).lower()
            return f"the {words} {node.id}"
        return node.name

    def symmetric_between_users(self, edge_type: EdgeType) -> bool:
        rel = self._relations.get(tuple(edge_type))  # type: ignore[arg-type]
        return rel is not None and rel.symmetric and edge_type[0] == edge_type[2] == self.user

    # -- sentences -------------------------------------------------------------------------------
    def sentence(self, path: ExplanationPath) -> str:
        """A plain-English sentence for a path from a user (``you``) to a recommended item."""
        n, r, et = path.nodes, path.relations, path.edge_types
        ph = [self.node(x) for x in n]
        inter = self.interaction
        listen = self.phrase(inter, "out", you=True)
        listens = self.phrase(inter, "out", you=False)
        item = ph[-1]

        def third(i: int) -> str:
            return self.phrase(et[i], r[i].direction, you=False)

        def interacts(i: int) -> bool:  # hop i is the user's interaction, forward
            return et[i] == inter and r[i].direction == "out"

        def attribute(i: int) -> bool:  # node i is neither a user nor an item
            return n[i].label not in (self.user, self.item)

        friend = self.symmetric_between_users(et[0])
        hops = path.hops
        if hops == 1 and interacts(0):
            return f"You already {listen} {item}."
        if hops == 2:
            if friend and interacts(1):
                return f"Because your friend {ph[1]} {listens} {item}."
            if interacts(0):
                return f"Because you {listen} {ph[1]}, which {third(1)} {item}."
            if r[0].direction == "out" and et[0][0] == self.user and attribute(1) and r[1].direction == "in" \
                    and et[1][0] == self.item:
                you = self.phrase(et[0], "out", you=True)
                return f"Because you {you} {ph[1]}, {_apposition(third(1))} {item}."
        if hops == 3:
            a, x = ph[1], ph[2]
            if (r[0].direction == "out" and et[1] == et[0] and r[1].direction == "in" and n[2].label == self.user
                    and interacts(2)):
                return f"Because {x}, who also {third(0)} {a}, {listens} {item}."
            if friend and r[1].direction == "out" and attribute(2) and r[2].direction == "in" and et[2][0] == self.item:
                return f"Because your friend {a} {third(1)} {x}, {_apposition(third(2))} {item}."
            if friend and self.symmetric_between_users(et[1]) and interacts(2):
                return f"Because {x}, a friend of your friend {a}, {listens} {item}."
            if interacts(0) and r[1].direction == "out" and r[2].direction == "in" and n[2].label != self.user:
                if et[1][1] == et[2][1] and third(1).startswith(("has ", "have ")):
                    return f"Because you {listen} {a}, which shares {_shared(third(1), x)} with {item}."
                return (f"Because you {listen} {a}, which {self.phrase(et[1], 'out', you=False)} {x}, "
                        f"and {item} {self.phrase(et[2], 'out', you=False)} {x} too.")
        # the general chain: "Because you <verb> A, which <verb> B, who <verb> C."
        if friend:
            parts = [f"Because your friend {ph[1]}"]
        else:
            parts = [f"Because you {self.phrase(et[0], r[0].direction, you=True)} {ph[1]}"]
        for i in range(1, hops):
            who = "who" if n[i].label == self.user else "which"
            if friend and i == 1:
                parts[0] += f" {third(i)} {ph[i + 1]}"
            else:
                parts.append(f"{who} {third(i)} {ph[i + 1]}")
        return ", ".join(parts) + "."


def _apposition(phrase: str) -> str:
    """``is a tag of`` → ``a tag of`` (the third-person phrase without its verb "is"/"was")."""
    for verb in ("is ", "was "):
        if phrase.startswith(verb):
            return phrase[len(verb):]
    return phrase


def _shared(third_person: str, phrase: str) -> str:
    """``has the tag`` + ``'rock'`` → ``the tag 'rock'`` (what two items have in common)."""
    words = third_person.split(" ", 1)
    return f"{words[1] if len(words) > 1 else words[0]} {phrase}"


def sentence(path: ExplanationPath, schema: Schema) -> str:
    """:meth:`Grammar.sentence` for one path."""
    return Grammar(schema).sentence(path)


__all__ = ["Grammar", "derived_phrases", "relation_words", "sentence"]
