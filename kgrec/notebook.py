"""Helpers for the notebooks under ``notebooks/``: a small real sample of a dataset, and plots.

The notebooks run top to bottom in a few minutes on a laptop CPU (and in CI), so they work on a
*sample* of the real graph: :func:`sample_graph` keeps every ``step``-th user (in natural id order)
and what :meth:`KnowledgeGraph.subgraph` keeps around them. Encoding the text of all 17,632 lastfm
artists takes about 20 minutes on 2 cores; the sample's artists take under a minute, and their
vectors are cached under ``KGREC_HOME`` so the next notebook reuses them.

Plots return matplotlib figures (a notebook shows them; :func:`save_figure` writes a PNG).
Nothing here is needed by the library itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from kgrec.kg import KnowledgeGraph

logger = logging.getLogger(__name__)

SAMPLE_STEP = 32
"""Every 32nd of lastfm's 1,892 users: 60 users, 1,599 artists, 58,727 edges; the same sample as the
test fixtures' ``lastfm_small_kg``, so the notebooks and the tests share cached text vectors."""

QUICK_TEXT = {"documents": "short", "labels": "items"}
"""Short item documents (name, three tags, one fact) of the items only: the public quick path
``TextConfig(documents="short", labels="items")`` that ``kgrec quickstart`` and the serving tests
use too, so the notebooks hit the same cached vectors."""

LABEL_COLOURS = {"User": "#4e79a7", "Artist": "#f28e2b", "Movie": "#f28e2b", "Item": "#f28e2b", "Tag": "#59a14f",
                 "Genre": "#76b7b2", "SatoriEntity": "#b07aa1", "DbpediaEntity": "#e15759"}
"""Node colours by label (the /ui page uses the same ones)."""


# -- the sample --------------------------------------------------------------------------------
def sample_users(kg: KnowledgeGraph, *, step: int = SAMPLE_STEP) -> list[str]:
    """Every ``step``-th user id of ``kg`` in natural order (``"2" < "10"``): deterministic."""
    if step < 1:
        raise ValueError(f"step must be at least 1, got {step}")
    ids = sorted(kg.users["id"].astype(str).tolist(), key=lambda s: (len(s), s))
    return ids[::step]


def sample_graph(kg: KnowledgeGraph, *, step: int = SAMPLE_STEP, name: str | None = None) -> KnowledgeGraph:
    """``kg`` seen from every ``step``-th user (:meth:`KnowledgeGraph.subgraph`), validated.

    Args:
        kg: the full graph.
        step: keep every ``step``-th user (default: :data:`SAMPLE_STEP`).
        name: the sample's graph name (default: ``"<kg.name>-sample"``, so that writing it to a
            store never overwrites the full graph).
    """
    sub = kg.subgraph(sample_users(kg, step=step))
    return sub.replace(name=name or f"{kg.name}-sample").validate()


def item_vectors(kg: KnowledgeGraph, *, progress: bool | None = None):
    """Text vectors of the items only, from short documents (cached under ``KGREC_HOME``):
    ``embed_graph(kg, config=TextConfig(documents="short", labels="items"))``."""
    from kgrec.text import TextConfig, embed_graph

    return embed_graph(kg, config=TextConfig(**QUICK_TEXT), progress=progress)


def tag_graph(kg: KnowledgeGraph, *, min_count: int = 5, tag_label: str = "Tag",
              item_relation: str = "HAS_TAG", user_relation: str = "TAGGED") -> KnowledgeGraph:
    """``kg`` with only the tags applied to items at least ``min_count`` times (and the user tag
    edges to them): a few hundred candidate interest tags instead of thousands to encode."""
    item, user = kg.schema.item_label, kg.schema.user_label
    ht_type = (item, item_relation, tag_label)
    ht = kg.edges[ht_type]
    ht = ht[ht["count"].to_numpy(dtype=np.int64, na_value=0) >= min_count].reset_index(drop=True)
    keep = set(ht["dst"].astype(str))
    tags = kg.nodes[tag_label]
    edges: dict[Any, pd.DataFrame] = {ht_type: ht}
    ut_type = (user, user_relation, tag_label)
    if ut_type in kg.edges:
        ut = kg.edges[ut_type]
        edges[ut_type] = ut[ut["dst"].astype(str).isin(keep)].reset_index(drop=True)
    return kg.replace(nodes={tag_label: tags[tags["id"].astype(str).isin(keep)].reset_index(drop=True)},
                      edges=edges).validate()


def user_interest_tags(kg: KnowledgeGraph, items, users: Sequence[str], *, k: int = 8, min_count: int = 5,
                       mix: float = 0.5, tag_label: str = "Tag", progress: bool | None = None) -> dict[str, list]:
    """Interest tags of some users (:func:`kgrec.text.interest_tags`) over the tags applied at least
    ``min_count`` times, reusing the item vectors ``items`` and encoding only users and tags.

    ``mix`` weighs the user's own document against their items (:func:`kgrec.text.interest_tags`).

    Returns:
        user id → :class:`kgrec.text.InterestTag` list, best first.
    """
    from kgrec.text import embed_graph, interest_tags

    small = tag_graph(kg, min_count=min_count, tag_label=tag_label)
    item = kg.schema.item_label
    if small.nodes[item]["id"].astype(str).tolist() != list(items.ids[item]):
        raise ValueError("the item vectors are not aligned with the graph's items")
    # users and tags with the default documents: a user's ten top tags and artists (there are few
    # users), a tag's name (short anyway)
    other = embed_graph(small, labels=[kg.schema.user_label, tag_label], progress=progress)
    merged = replace(other, vectors={**other.vectors, item: items.vectors[item]},
                     ids={**other.ids, item: items.ids[item]},
                     documents={**other.documents, item: items.documents[item]})
    return interest_tags(small, merged, k=k, labels=[tag_label], users=list(users), mix=mix)


# -- tables ------------------------------------------------------------------------------------
def counts_table(kg: KnowledgeGraph) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(nodes per label, edges per relation)`` as two tables, largest first."""
    stats = kg.stats(degrees=False)
    nodes = pd.DataFrame(sorted(stats.nodes.items(), key=lambda kv: -kv[1]), columns=["label", "nodes"])
    edges = pd.DataFrame(sorted(stats.relations.items(), key=lambda kv: -kv[1]), columns=["relation", "edges"])
    return nodes, edges


def metrics_table(runs: Mapping[str, Any], metrics: Sequence[str] = ("ndcg@20", "recall@20", "hit@20", "mrr@20",
                                                                     "coverage@20")) -> pd.DataFrame:
    """One row per run (``name → kgrec.gnn.Run``): its test metrics at the best validation epoch,
    the best epoch and the training seconds."""
    rows = []
    for name, run in runs.items():
        test = run.metrics.test
        row = {"model": name}
        for m in metrics:
            row[m] = float(test[m])
        row["best epoch"] = int(run.metrics.best_epoch)
        row["seconds"] = round(float(run.metrics.seconds), 1)
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def query_frame(result) -> pd.DataFrame:
    """A store's :class:`QueryResult` as a table."""
    return pd.DataFrame(result.rows, columns=result.columns)


# -- plots -------------------------------------------------------------------------------------
def _plt():
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path) -> None:
    """Write a figure as a PNG."""
    fig.savefig(path, dpi=100, bbox_inches="tight")


def plot_degrees(kg: KnowledgeGraph, edge_types: Iterable[tuple[str, str, str]] | None = None, *,
                 cols: int = 2):
    """Degree distributions (log-log histograms) of some edge types, one panel each: how many
    nodes have each out-degree (sources) and in-degree (targets).

    Args:
        kg: the graph.
        edge_types: which (default: the interaction and the three largest other edge types).
        cols: panels per row (default: 2).
    """
    plt = _plt()
    if edge_types is None:
        inter = tuple(kg.schema.interaction)
        others = sorted((et for et in kg.edges if et != inter), key=lambda et: -len(kg.edges[et]))
        edge_types = [inter, *others[:3]]
    edge_types = list(edge_types)
    rows = math.ceil(len(edge_types) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.6 * rows), squeeze=False)
    for ax, et in zip(axes.flat, edge_types):
        ei = kg.edge_index(et)
        for side, end, colour, what in ((0, et[0], "tab:blue", "out"), (1, et[2], "tab:orange", "in")):
            deg = np.bincount(ei[side][ei[side] >= 0], minlength=kg.num_nodes(end))
            deg = deg[deg > 0]
            if not len(deg):
                continue
            bins = np.unique(np.logspace(0, math.log10(max(deg.max(), 2)), 30).astype(int))
            ax.hist(deg, bins=bins, histtype="step", color=colour, label=f"{end} {what}-degree")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"({et[0]})-[:{et[1]}]->({et[2]})", fontsize=9)
        ax.set_xlabel("degree")
        ax.set_ylabel("nodes")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(edge_types):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def _label_of(g, node) -> str:
    return str(g.nodes[node].get("label", ""))


def _short(text: str, n: int = 18) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def neighbourhood(kg: KnowledgeGraph, label: str, id: str, *, max_per_relation: int = 6,
                  skip_labels: Sequence[str] = ()):
    """A small networkx ``MultiDiGraph`` around one node: the node and at most ``max_per_relation``
    neighbours per edge type (the highest-weighted first where the edge has a weight or count)."""
    import networkx as nx

    centre = f"{label}:{id}"
    g = nx.MultiDiGraph()

    def add(lbl: str, node_id: str) -> str:
        key = f"{lbl}:{node_id}"
        if key not in g:
            df = kg.nodes[lbl]
            hit = df.loc[df["id"].astype(str) == str(node_id)]
            name = hit["name"].iloc[0] if "name" in hit and len(hit) and pd.notna(hit["name"].iloc[0]) else node_id
            g.add_node(key, label=lbl, id=str(node_id), name=str(name))
        return key

    add(label, id)
    for (s, rel, t), df in kg.edges.items():
        for side, other_side, other_label in (("src", "dst", t), ("dst", "src", s)):
            if (s if side == "src" else t) != label or other_label in skip_labels:
                continue
            part = df.loc[df[side].astype(str) == str(id)]
            weight = next((c for c in ("weight", "count") if c in part.columns), None)
            if weight is not None:
                part = part.sort_values(weight, ascending=False, kind="stable", na_position="last")
            for other in part[other_side].astype(str).head(max_per_relation):
                key = add(other_label, other)
                if side == "src":
                    g.add_edge(centre, key, key=rel, relation=rel)
                else:
                    g.add_edge(key, centre, key=rel, relation=rel)
    return g


def draw_graph(g, *, ax=None, title: str = "", seed: int = 0, layout: str = "spring"):
    """Draw a small networkx graph whose nodes carry ``label`` and ``name``: nodes coloured by
    label, named, edges labelled by relation. Returns the figure."""
    import networkx as nx

    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 7))
    else:
        fig = ax.figure
    if layout == "line":
        pos = {n: (i, 0.0 if i % 2 == 0 else 0.25) for i, n in enumerate(g.nodes)}
    else:
        pos = nx.spring_layout(nx.Graph(g), seed=seed, k=1.2 / math.sqrt(max(len(g), 1)))
    colours = [LABEL_COLOURS.get(_label_of(g, n), "#bab0ac") for n in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colours, node_size=500, edgecolors="white")
    nx.draw_networkx_labels(g, pos, ax=ax, labels={n: _short(g.nodes[n].get("name", n)) for n in g.nodes},
                            font_size=8)
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=12, edge_color="#888888", node_size=500)
    edge_labels = {(u, v): d.get("relation", k) for u, v, k, d in g.edges(keys=True, data=True)}
    nx.draw_networkx_edge_labels(g, pos, ax=ax, edge_labels=edge_labels, font_size=7, font_color="#555555")
    seen = sorted({_label_of(g, n) for n in g.nodes})
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=LABEL_COLOURS.get(lbl, "#bab0ac"), label=lbl)
               for lbl in seen]
    ax.legend(handles=handles, loc="best", fontsize=8)
    ax.set_title(title)
    ax.axis("off")
    if layout == "line":
        ax.set_ylim(-0.4, 0.65)
    return fig


def path_graph(path):
    """An explanation path (:class:`kgrec.serving.ExplanationPath`) as a networkx ``MultiDiGraph``
    with the stored direction of each relation."""
    import networkx as nx

    g = nx.MultiDiGraph()
    keys = []
    for node in path.nodes:
        key = f"{node.label}:{node.id}"
        keys.append(key)
        g.add_node(key, label=node.label, id=node.id, name=node.name)
    for i, rel in enumerate(path.relations):
        a, b = keys[i], keys[i + 1]
        if rel.direction == "out":
            g.add_edge(a, b, key=rel.type, relation=rel.type)
        else:
            g.add_edge(b, a, key=rel.type, relation=rel.type)
    return g


def draw_explanations(recommendation, *, max_paths: int = 3):
    """One small panel per explanation path of a :class:`kgrec.serving.Recommendation`, left to
    right from the user to the item, with the path's score."""
    plt = _plt()
    exps = list(recommendation.explanations)[:max_paths]
    n = max(len(exps), 1)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.1 * n), squeeze=False)
    for ax, e in zip(axes.flat, exps):
        draw_graph(path_graph(e.path), ax=ax, layout="line",
                   title=f"{recommendation.item.name}: path score {e.score:.3f}")
    if not exps:
        axes.flat[0].text(0.5, 0.5, "no path of at most max_hops hops", ha="center")
        axes.flat[0].axis("off")
    fig.tight_layout()
    return fig


def plot_metrics(table: pd.DataFrame, metrics: Sequence[str] = ("ndcg@20", "recall@20", "hit@20"), *, title: str = ""):
    """Grouped bars of some metric columns of :func:`metrics_table`, one group per model."""
    plt = _plt()
    metrics = [m for m in metrics if m in table.columns]
    x = np.arange(len(table))
    width = 0.8 / max(len(metrics), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(table)), 4))
    for j, m in enumerate(metrics):
        ax.bar(x + (j - (len(metrics) - 1) / 2) * width, table[m].to_numpy(), width, label=m)
    ax.set_xticks(x, list(table.index))
    ax.set_ylabel("test metric")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_curves(runs: Mapping[str, Any], *, metric: str = "ndcg@20"):
    """Training loss and validation ``metric`` per epoch of each run that trained for epochs."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    for name, run in runs.items():
        history = [r for r in run.history if r.epoch > 0] if run.history else []
        if not history:
            continue
        left.plot([r.epoch for r in history], [r.loss for r in history], marker=".", label=name)
        valid = [(r.epoch, r.valid[metric]) for r in history if metric in r.valid]
        if valid:
            right.plot(*zip(*valid), marker=".", label=name)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    left.legend()
    right.set_xlabel("epoch")
    right.set_ylabel(f"validation {metric}")
    right.legend()
    fig.tight_layout()
    return fig


__all__ = ["LABEL_COLOURS", "QUICK_TEXT", "SAMPLE_STEP", "counts_table", "draw_explanations", "draw_graph",
           "item_vectors", "metrics_table", "neighbourhood", "path_graph", "plot_curves", "plot_degrees",
           "plot_metrics", "query_frame", "sample_graph", "sample_users", "save_figure", "tag_graph",
           "user_interest_tags"]
