"""Last.fm: hetrec2011-lastfm-2k listening, friends and tags, with the KGCN Satori KG and DBpedia.

Graph (name ``lastfm``)::

    (User)-[:LISTENED_TO {weight: integer}]->(Artist)        92,834 listening counts
    (User)-[:FRIEND_OF]->(User)                               25,434 directed pairs
    (User)-[:TAGGED {count: integer}]->(Tag)                  tag assignments per (user, tag)
    (Artist)-[:HAS_TAG {count: integer}]->(Tag)               tag assignments per (artist, tag)
    (Artist)-[:MUSIC_ARTIST_ORIGIN {kg: "satori"}]->(SatoriEntity)   ... 15,518 KGCN triples
    (Artist)-[:DBO_GENRE {kg: "dbpedia"}]->(DbpediaEntity)           ... DBpedia triples

``Artist``: id = hetrec artistID, name, properties ``url``, ``satori_id`` (its KGCN KG entity id,
for 3,846 artists) and ``dbpedia_uri`` (for 10,180 artists). A KG entity that a mapping names is
that ``Artist`` node; other entities are ``SatoriEntity`` (id ``satori:<kg id>``, no real name) or
``DbpediaEntity`` (id = URI, name = readable resource name). A DBpedia URI that the mapping gives to
several artist ids (360 URIs) gives each of those artists the triple, so the 110,921 DBpedia triples
become 118,658 edges.

Decisions on the raw data: ``user_taggedartists.dat`` names 390 artists that ``artists.dat`` lacks
(1,538 of 186,479 assignments); they count toward the user's TAGGED edges (the user did use the tag)
but give no HAS_TAG edge, so ``Artist`` keeps the 17,632 artists of ``artists.dat``.

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
from ._lastfm import DBPEDIA, HETREC, KGCN, LISTENED_TO_PHRASES
from .resolve import DatasetSpec, locate

logger = logging.getLogger(__name__)

SPEC = DatasetSpec(
    name="lastfm",
    description="Last.fm hetrec2011-lastfm-2k (1,892 users, 17,632 artists, 92,834 listening counts, friends, "
                "11,946 tags) with the KGCN Satori KG (15,518 triples) and DBpedia triples (110,921)",
    license="hetrec2011-lastfm-2k: non-commercial use only (Last.fm); KGCN code MIT; LODrecsys mapping MIT; "
            "entity2rec Apache-2.0; DBpedia facts CC BY-SA 3.0 / GFDL",
    folders=(HETREC, KGCN, DBPEDIA),
    aliases=("hetrec-lastfm", "hetrec2011-lastfm-2k", "last-fm"),
)

BASE_NODES = (
    NodeType("User", description="a Last.fm user (hetrec userID)"),
    NodeType("Artist", {"url": "string", "satori_id": "string", "dbpedia_uri": "string"},
             description="a music artist (hetrec artistID)"),
    NodeType("Tag", description="a Last.fm tag (tagID); name = the tag text", quoted=True),
)
BASE_RELATIONS = (
    RelationType("User", "LISTENED_TO", "Artist", {"weight": "integer"}, description="listening count",
                 phrases=LISTENED_TO_PHRASES),
    RelationType("User", "FRIEND_OF", "User", description="a friend pair (the file lists both directions)",
                 phrases=("are friends with", "is friends with", "are friends with", "is friends with"),
                 symmetric=True),
    RelationType("User", "TAGGED", "Tag", {"count": "integer"}, description="tag assignments by the user",
                 phrases=("tagged music with", "tagged music with", "were used as a tag by", "was used as a tag by")),
    RelationType("Artist", "HAS_TAG", "Tag", {"count": "integer"}, description="tag assignments to the artist",
                 phrases=("have the tag", "has the tag", "are a tag of", "is a tag of")),
)
INTERACTION = ("User", "LISTENED_TO", "Artist")


def load(*, satori: bool = True, dbpedia: bool = True, download: bool = True, verify: bool = False) -> KnowledgeGraph:
    """Load ``lastfm``.

    Args:
        satori: add the KGCN Satori KG (from ``lastfm-kgcn/``) (default: ``True``).
        dbpedia: add the DBpedia KG (from ``lastfm-dbpedia-entity2rec/``) (default: ``True``).
        download: fetch missing folders from their publishers (default: ``True``).
        verify: check the sha256 of local files too (default: ``False``).
    """
    hetrec = locate(HETREC, download=download, verify_local=verify)
    kgcn = locate(KGCN, download=download, verify_local=verify) if satori else None
    dbp = locate(DBPEDIA, download=download, verify_local=verify) if dbpedia else None
    return read(hetrec, kgcn_folder=kgcn, dbpedia_folder=dbp)


def read(folder: Path, *, kgcn_folder: Path | None = None, dbpedia_folder: Path | None = None) -> KnowledgeGraph:
    """Build the graph from the hetrec folder and, when given, the KGCN and DBpedia folders."""
    artists = _lastfm.read_artists(folder)
    tags = _lastfm.read_tags(folder)
    f_listen, f_friends, f_tagged = (folder / n for n in ("user_artists.dat", "user_friends.dat",
                                                          "user_taggedartists.dat"))
    listened = _lastfm.read_user_artists(f_listen)
    friends = _lastfm.read_friends(folder)
    assignments = _lastfm.read_tag_assignments(folder)

    known = _io.isin(assignments["artist"], artists["id"])
    if not known.all():
        logger.info("%s: %d tag assignments name %d artists missing from artists.dat; they give no HAS_TAG edge",
                    f_tagged, int((~known).sum()), assignments.loc[~known, "artist"].nunique())
    has_tag = _lastfm.count_pairs(assignments[known], "artist", "tag")
    tagged = _lastfm.count_pairs(assignments, "user", "tag")

    users = pd.DataFrame({"id": _io.sorted_ids(pd.concat(
        [listened["src"], friends["src"], friends["dst"], assignments["user"]], ignore_index=True))})

    nodes: dict[str, pd.DataFrame] = {"User": users, "Artist": artists, "Tag": tags}
    edges = {
        INTERACTION: listened,
        ("User", "FRIEND_OF", "User"): friends,
        ("User", "TAGGED", "Tag"): tagged,
        ("Artist", "HAS_TAG", "Tag"): has_tag,
    }
    sources = {"Artist": str(folder / "artists.dat"), "Tag": str(folder / "tags.dat"), INTERACTION: str(f_listen),
               ("User", "FRIEND_OF", "User"): str(f_friends), ("User", "TAGGED", "Tag"): str(f_tagged),
               ("Artist", "HAS_TAG", "Tag"): str(f_tagged)}
    node_types = list(BASE_NODES)
    relations = list(BASE_RELATIONS)
    metadata = {"dataset": SPEC.name, "license": SPEC.license, "source": HETREC.homepage, "kgs": []}

    if kgcn_folder is not None:
        item_entity = _lastfm.read_item_entities(kgcn_folder)
        _check_artists(item_entity, artists, kgcn_folder / "item_index2entity_id.txt")
        triples = _lastfm.read_kg_triples(kgcn_folder)
        satori, satori_nodes = _lastfm.satori_edges(item_entity, triples, kgcn_folder / "kg.txt")
        artists["satori_id"] = artists["id"].map(pd.Series(item_entity["entity"].to_numpy(),
                                                           index=item_entity["artist"].to_numpy()))
        nodes["SatoriEntity"] = satori_nodes
        node_types.append(NodeType("SatoriEntity", description="an entity of the KGCN Satori KG (no name)"))
        relations += _lastfm.kg_relation_types(satori, "a KGCN Satori KG triple")
        edges.update(satori)
        sources.update({et: str(kgcn_folder / "kg.txt") for et in satori})
        metadata["kgs"].append("satori")

    if dbpedia_folder is not None:
        mapping = _lastfm.read_dbpedia_mapping(dbpedia_folder)
        _check_artists(mapping, artists, dbpedia_folder / _lastfm.MAPPING_FILE)
        files = _lastfm.read_dbpedia_triples(dbpedia_folder)
        dbp, dbp_nodes, dbp_sources = _lastfm.dbpedia_edges(mapping, files)
        artists["dbpedia_uri"] = artists["id"].map(pd.Series(mapping["uri"].to_numpy(),
                                                             index=mapping["artist"].to_numpy()))
        nodes["DbpediaEntity"] = dbp_nodes
        node_types.append(NodeType("DbpediaEntity", description="a DBpedia resource; id = URI"))
        relations += _lastfm.kg_relation_types(dbp, "a DBpedia triple", words=_lastfm.DBPEDIA_WORDS)
        edges.update(dbp)
        sources.update(dbp_sources)
        sources["DbpediaEntity"] = str(dbpedia_folder / "graphs")
        metadata["kgs"].append("dbpedia")

    schema = Schema(tuple(node_types), tuple(relations), user_label="User", item_label="Artist",
                    interaction=INTERACTION)
    kg = KnowledgeGraph(schema, nodes, edges, name=SPEC.name, metadata=metadata, sources=sources)
    return kg.validate()


def _check_artists(mapping: pd.DataFrame, artists: pd.DataFrame, path: Path) -> None:
    unknown = ~_io.isin(mapping["artist"], artists["id"])
    if unknown.any():
        i = int(unknown.nonzero()[0][0])
        raise _io.error_at(mapping, i, path, f"artist {mapping['artist'].iat[i]!r} is not in artists.dat")
