"""``lastfm-kgcn``: the Last.fm subset and Satori KG exactly as KGCN (Wang et al., WWW 2019) uses them.

KGCN's ``preprocess.py`` keeps the (user, artist) rows of ``user_artists.dat`` whose artist is one of
the 3,846 artists in ``item_index2entity_id.txt`` (threshold 0: every listening row is a positive):
21,173 pairs, 1,872 users, 3,846 items. The KG has 15,518 triples over 9,366 entities and 60
relations. Graph (name ``lastfm-kgcn``)::

    (User)-[:LISTENED_TO {weight: integer}]->(Artist)                    21,173
    (Artist)-[:<to_relation_name(kg relation)> {kg: "satori"}]->(Artist|SatoriEntity)   15,518

``metadata["protocol"] = "kgcn"``; ``metadata["kgcn_item_entity"]`` maps each artist id to its KG
entity id (int), which is also the artist's ``satori_id`` property. Artist names come from
hetrec's ``artists.dat`` when ``names=True`` (the KGCN files carry none).

Every id (users, items, tags, genres, KG entities) follows the one rule of :mod:`kgrec.kg.ids`
(Unicode NFC, format characters such as U+FEFF removed, surrounding blanks stripped); an id that
is empty once clean, a short row or a file that is not a regular file is an ``InputError`` naming
the file and line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..graph import KnowledgeGraph
from ..schema import NodeType, RelationType, Schema
from . import _io, _lastfm
from ._lastfm import HETREC, KGCN, LISTENED_TO_PHRASES
from .resolve import DatasetSpec, locate

logger = logging.getLogger(__name__)

SPEC = DatasetSpec(
    name="lastfm-kgcn",
    description="KGCN's Last.fm subset: 21,173 listening pairs of 1,872 users on 3,846 artists, with the "
                "Satori KG (9,366 entities, 60 relations, 15,518 triples); CTR protocol of KGCN",
    license="KGCN code MIT (no separate data license); interactions from hetrec2011-lastfm-2k: "
            "non-commercial use only",
    folders=(KGCN, HETREC),
    aliases=("kgcn-lastfm", "kgcn"),
)

INTERACTION = ("User", "LISTENED_TO", "Artist")


def load(*, names: bool = True, download: bool = True, verify: bool = False) -> KnowledgeGraph:
    """Load ``lastfm-kgcn``.

    Args:
        names: give artists their names from hetrec's ``artists.dat`` (needs that folder)
            (default: ``True``); with ``False`` an artist's name is its id.
        download: fetch missing folders from their publishers (default: ``True``).
        verify: check the sha256 of local files too (default: ``False``).
    """
    folder = locate(KGCN, download=download, verify_local=verify)
    hetrec = locate(HETREC, download=download, verify_local=verify) if names else None
    return read(folder, hetrec_folder=hetrec)


def read(folder: Path, *, hetrec_folder: Path | None = None) -> KnowledgeGraph:
    """Build the graph from the KGCN folder (and artist names from the hetrec folder, if given)."""
    f_map, f_kg, f_listen = folder / "item_index2entity_id.txt", folder / "kg.txt", folder / "user_artists.dat"
    item_entity = _lastfm.read_item_entities(folder)
    triples = _lastfm.read_kg_triples(folder)
    listened = _lastfm.read_user_artists(f_listen)
    listened = listened[_io.isin(listened["dst"], item_entity["artist"])].reset_index(drop=True)

    artists = pd.DataFrame({"id": item_entity["artist"], "satori_id": item_entity["entity"],
                            "_line": item_entity["_line"]})
    if hetrec_folder is not None:
        named = _lastfm.read_artists(hetrec_folder)
        artists["name"] = artists["id"].map(pd.Series(named["name"].to_numpy(), index=named["id"].to_numpy()))
        missing = artists["name"].isna().to_numpy()
        if missing.any():
            i = int(missing.nonzero()[0][0])
            raise _io.error_at(artists, i, f_map, f"artist {artists['id'].iat[i]!r} is not in "
                                                  f"{hetrec_folder / 'artists.dat'}")
    users = pd.DataFrame({"id": _io.sorted_ids(listened["src"])})
    satori, satori_nodes = _lastfm.satori_edges(item_entity, triples, f_kg)

    entity_ids = _io.to_integer(item_entity, "entity", f_map, what="entity id", minimum=0)
    item_to_entity = dict(zip(item_entity["artist"].tolist(), entity_ids.astype(int).tolist()))

    schema = Schema(
        nodes=(NodeType("User", description="a Last.fm user (hetrec userID)"),
               NodeType("Artist", {"satori_id": "string"}, description="a KGCN item (hetrec artistID)"),
               NodeType("SatoriEntity", description="an entity of the KGCN Satori KG (no name)")),
        relations=(RelationType("User", "LISTENED_TO", "Artist", {"weight": "integer"},
                                description="listening count (every row is a positive in KGCN)",
                                phrases=LISTENED_TO_PHRASES),
                   *_lastfm.kg_relation_types(satori, "a KGCN Satori KG triple")),
        user_label="User", item_label="Artist", interaction=INTERACTION,
    )
    sources = {"Artist": str(f_map), INTERACTION: str(f_listen), **{et: str(f_kg) for et in satori}}
    kg = KnowledgeGraph(
        schema, {"User": users, "Artist": artists, "SatoriEntity": satori_nodes}, {INTERACTION: listened, **satori},
        name=SPEC.name,
        metadata={"dataset": SPEC.name, "license": SPEC.license, "source": KGCN.homepage, "protocol": "kgcn",
                  "kgcn_item_entity": item_to_entity, "kgs": ["satori"]},
        sources=sources,
    )
    return kg.validate()
