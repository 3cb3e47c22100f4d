"""The graphs and cases of the intent benchmark (``benchmarks/intent.py``): leakage-free training
graphs, the serving graph (training interactions only) and the query cases.

**Query cases.** The interaction split is the one every run of the benchmark uses (random, split
seed 0: it depends only on the graph's interactions, so the cleaned graph below splits the same
way). For every held-out pair (user ``u``, item ``a``) — validation or test — and every tag ``t``
that ``u`` put on ``a`` (lastfm: ``user_taggedartists.dat``; movielens: ``tags.csv``), ``(u, t)``
is a query case: the query is ``t``'s text, the relevant set is ``u``'s held-out items of that part
that carry ``t`` in the full graph. On movielens there is a second protocol with genres: every
genre of a held-out movie of ``u`` is a case, relevant = ``u``'s held-out movies of that genre.

**No leakage of the query's user→tag edge.** The tag assignments come from the users, so the graph
a run trains and serves on is cleaned of what the held-out pairs say:

1. every ``(u)-[:TAGGED]->(t)`` edge of a query case (validation or test) is removed (the user's
   own use of the tag, counted over their train items as well, is not known);
2. every assignment of ``u`` to a held-out item ``a`` is subtracted from ``(a)-[:HAS_TAG {count}]->(t)``
   (an edge whose count falls to 0 is removed): a held-out item carries a tag only when other users
   put it there;
3. the serving graph also drops the held-out interactions, so that a list leaves out exactly the
   training items (as evaluation does) and no path runs through a held-out pair.

Genres describe the movie, not the user: they are not cleaned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kgrec.kg import KnowledgeGraph
from kgrec.kg.ids import clean_ids

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Case:
    """One query case: a user, a query text, the attribute it came from and the relevant items."""

    user: str
    query: str
    label: str
    attribute: str
    relevant: frozenset[str]
    part: str


@dataclass(frozen=True)
class Prepared:
    """What the measurements need: the cleaned graph, the serving graph, the split as ids, the cases."""

    train_graph: KnowledgeGraph
    serving_graph: KnowledgeGraph
    train: dict[str, set[str]]
    valid: dict[str, set[str]]
    test: dict[str, set[str]]
    cases: list[Case]
    removed_tagged: int
    subtracted: int


def assignments(dataset: str, data_home: Path) -> pd.DataFrame:
    """The raw tag assignments as ids of the graph: ``user``, ``item``, ``tag``."""
    if dataset == "lastfm":
        path = data_home / "hetrec2011-lastfm-2k" / "user_taggedartists.dat"
        df = pd.read_csv(path, sep="\t", dtype=str, encoding="utf-8")
        return pd.DataFrame({"user": clean_ids(df["userID"]), "item": clean_ids(df["artistID"]),
                             "tag": clean_ids(df["tagID"])})
    if dataset == "movielens-small":
        path = data_home / "ml-latest-small" / "tags.csv"
        df = pd.read_csv(path, dtype=str, encoding="utf-8")
        return pd.DataFrame({"user": clean_ids(df["userId"]), "item": clean_ids(df["movieId"]),
                             "tag": clean_ids(df["tag"]).str.lower()})
    raise SystemExit(f"no tag assignments known for {dataset!r}")


def split_ids(kg: KnowledgeGraph) -> tuple[dict[str, set[str]], ...]:
    """The benchmark's split (random, split seed 0) as user id → item ids, per part."""
    from kgrec.gnn.data import split_interactions

    split = split_interactions(kg, "random", seed=0)
    users = kg.nodes[kg.schema.user_label]["id"].astype(str).to_numpy()
    items = kg.nodes[kg.schema.item_label]["id"].astype(str).to_numpy()
    out = []
    for pairs in (split.train, split.valid, split.test):
        part: dict[str, set[str]] = {}
        for u, i in zip(users[pairs[0]], items[pairs[1]]):
            part.setdefault(u, set()).add(i)
        out.append(part)
    return tuple(out)


def _held_out(valid: dict[str, set[str]], test: dict[str, set[str]]) -> pd.DataFrame:
    rows = [(u, i, "valid") for u, items in valid.items() for i in items]
    rows += [(u, i, "test") for u, items in test.items() for i in items]
    return pd.DataFrame(rows, columns=["user", "item", "part"])


def prepare(kg: KnowledgeGraph, dataset: str, data_home: Path, *, protocol: str = "tags") -> Prepared:
    """The cleaned graph, the serving graph and the cases of one dataset (see the module docs)."""
    schema = kg.schema
    user_label, item_label = schema.user_label, schema.item_label
    tagged_et = next(et for et in kg.edges if et[0] == user_label and et[1] == "TAGGED")
    has_tag_et = next(et for et in kg.edges if et[0] == item_label and et[1] == "HAS_TAG")
    train, valid, test = split_ids(kg)
    held = _held_out(valid, test)
    raw = assignments(dataset, data_home)
    own = raw.merge(held, on=["user", "item"], how="inner")  # a user's tags on their held-out items
    has_tag = kg.edges[has_tag_et]
    carrying: dict[str, set[str]] = {}
    for item, tag in zip(has_tag["src"].astype(str), has_tag["dst"].astype(str)):
        carrying.setdefault(tag, set()).add(item)
    tag_names = dict(zip(kg.nodes[has_tag_et[2]]["id"].astype(str), kg.nodes[has_tag_et[2]]["name"].astype(str)))
    # 1. the query cases' user→tag edges
    query_pairs = set(zip(own["user"], own["tag"]))
    tagged = kg.edges[tagged_et]
    keep = [(u, t) not in query_pairs for u, t in zip(tagged["src"].astype(str), tagged["dst"].astype(str))]
    new_tagged = tagged.loc[keep].reset_index(drop=True)
    # 2. the users' own assignments to held-out items, out of the items' tag counts
    minus = own.groupby(["item", "tag"]).size().rename("minus")
    ht = has_tag.copy()
    key = pd.MultiIndex.from_arrays([ht["src"].astype(str), ht["dst"].astype(str)])
    ht["count"] = (ht["count"].astype("int64") - minus.reindex(key).fillna(0).astype("int64").to_numpy())
    subtracted = int(minus.reindex(key).fillna(0).sum())
    new_has_tag = ht.loc[ht["count"] > 0].reset_index(drop=True)
    new_has_tag["count"] = new_has_tag["count"].astype("Int64")
    cleaned = kg.replace(edges={tagged_et: new_tagged, has_tag_et: new_has_tag})
    # 3. the serving graph: training interactions only
    inter_et = tuple(schema.interaction)
    inter = cleaned.edges[inter_et]
    train_pairs = {(u, i) for u, items in train.items() for i in items}
    keep = [(u, i) in train_pairs for u, i in zip(inter["src"].astype(str), inter["dst"].astype(str))]
    serving = cleaned.replace(edges={inter_et: inter.loc[keep].reset_index(drop=True)})
    cases: list[Case] = []
    if protocol == "tags":
        for (u, t, part), _ in own.groupby(["user", "tag", "part"]):
            held_part = (valid if part == "valid" else test).get(u, set())
            relevant = frozenset(held_part & carrying.get(t, set()))
            if relevant and t in tag_names:
                cases.append(Case(u, tag_names[t], has_tag_et[2], t, relevant, part))
    elif protocol == "genres":
        genre_et = next(et for et in kg.edges if et[0] == item_label and et[1] == "HAS_GENRE")
        genres = kg.edges[genre_et]
        of_item: dict[str, set[str]] = {}
        for i, g in zip(genres["src"].astype(str), genres["dst"].astype(str)):
            of_item.setdefault(i, set()).add(g)
        names = dict(zip(kg.nodes[genre_et[2]]["id"].astype(str), kg.nodes[genre_et[2]]["name"].astype(str)))
        for part, held_part in (("valid", valid), ("test", test)):
            for u, items in held_part.items():
                for g in sorted(set().union(*(of_item.get(i, set()) for i in items))):
                    relevant = frozenset(i for i in items if g in of_item.get(i, set()))
                    if g in names and names[g] != "(no genres listed)":
                        cases.append(Case(u, names[g], genre_et[2], g, relevant, part))
    else:
        raise SystemExit(f"unknown protocol {protocol!r}: tags or genres")
    cases.sort(key=lambda c: (c.part, c.user, c.attribute))
    logger.info("%s: %d cases (%s), %d TAGGED edges removed, %d assignments subtracted from HAS_TAG", dataset,
                len(cases), protocol, len(tagged) - len(new_tagged), subtracted)
    return Prepared(cleaned, serving, train, valid, test, cases, len(tagged) - len(new_tagged), subtracted)


def sample(cases: list[Case], n: int, *, seed: int = 0) -> list[Case]:
    """At most ``n`` cases, drawn without replacement (deterministic)."""
    if len(cases) <= n:
        return list(cases)
    rng = np.random.default_rng(seed)
    return [cases[i] for i in sorted(rng.choice(len(cases), n, replace=False).tolist())]


__all__ = ["Case", "Prepared", "assignments", "prepare", "sample", "split_ids"]
