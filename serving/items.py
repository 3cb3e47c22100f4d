"""New items from text and KG links (cold start): which existing nodes a new item links to, and
the text document the text layer would build for it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kgrec.errors import InputError
from kgrec.kg.ids import clean_id
from kgrec.kg.schema import EdgeType

from .index import GraphIndex


def attribute_links(index: GraphIndex, attributes: Mapping[str, str | Sequence[str]]) -> dict[EdgeType, list[int]]:
    """``{relation or label: ids or names}`` → ``{edge type from the item: [target rows]}``.

    A key is a relation from the item label (``HAS_TAG``) or the label it reaches (``Tag``); nodes
    are found by id or exact name. Raises :class:`InputError` naming the key and what is allowed.
    """
    item_label = index.schema.item_label
    steps_from_item = [index.steps[s] for s in index.steps_from[item_label] if index.steps[s].direction == "out"]
    allowed = sorted({s.target for s in steps_from_item} | {s.edge_type[1] for s in steps_from_item})
    links: dict[EdgeType, list[int]] = {}
    for key, values in attributes.items():
        matching = [s for s in steps_from_item if key == s.edge_type[1]] or \
                   [s for s in steps_from_item if key == s.target]
        if not matching:
            raise InputError(f"attribute {key!r} is not a relation or label linked from {item_label}; "
                             f"allowed: {', '.join(allowed) or 'none'}")
        if len(matching) > 1:
            raise InputError(f"attribute {key!r} names several relations "
                             f"({', '.join(s.edge_type[1] for s in matching)}); use the relation name")
        et = matching[0].edge_type
        values = [values] if isinstance(values, str) else list(values)
        links.setdefault(et, []).extend(index.find(et[2], clean_id(v)) for v in values)
    return links


def item_document(index: GraphIndex, graph_name: str, item_id: str, name: str, text: str,
                  links: Mapping[EdgeType, list[int]]) -> str:
    """The new item's text document, built by the text layer (the way it builds every item's) from
    a one-item graph of the item and the nodes it links to."""
    import pandas as pd

    from kgrec.kg import KnowledgeGraph
    from kgrec.text.documents import item_documents

    schema = index.schema
    item_label = schema.item_label
    nodes = {item_label: pd.DataFrame({"id": [item_id], "name": [name], "text": [text or None]})}
    edges = {}
    for et, rows in links.items():
        label = et[2]
        ids = [index.node_id(label, r) for r in rows]
        names = [index.name(label, r) for r in rows]
        prev = nodes.get(label)
        df = pd.DataFrame({"id": ids, "name": names})
        nodes[label] = df if prev is None else pd.concat([prev, df]).drop_duplicates("id")
        edges[et] = pd.DataFrame({"src": [item_id] * len(ids), "dst": ids})
    # declared properties the new rows do not have stay missing (the builder reads the columns)
    for label, df in nodes.items():
        for prop in schema.node(label).properties:
            df[prop] = None
    for et, df in edges.items():
        for prop in schema.relation(et).properties:
            df[prop] = None
    return item_documents(KnowledgeGraph(schema, nodes, edges, name=graph_name))[0]


__all__ = ["attribute_links", "item_document"]
