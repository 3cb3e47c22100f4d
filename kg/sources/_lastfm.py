"""Readers shared by the two Last.fm datasets (``lastfm`` and ``lastfm-kgcn``).

Files (see the READMEs beside them in ``KGREC_DATA_HOME``):

- ``hetrec2011-lastfm-2k/``: tab-separated with a header; ``tags.dat`` is Latin-1, the rest UTF-8;
  fields may hold stray double quotes, so they are read with quoting off.
- ``lastfm-kgcn/``: ``item_index2entity_id.txt`` (artistID, KG entity id) and ``kg.txt``
  (head, relation, tail); no header, CRLF line ends.
- ``lastfm-dbpedia-entity2rec/``: ``MappingLastfm2DBpedia-1.2.tsv`` (artistID, name, URI; no trailing
  newline) and ``graphs/dbo:<property>.edgelist`` (space-separated ``item_URI object_URI``).
"""

from __future__ import annotations

import csv
import logging
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..schema import EdgeType, RelationType, default_phrases, name_words, to_relation_name
from . import _io
from .resolve import FolderSpec

logger = logging.getLogger(__name__)

_NONE = csv.QUOTE_NONE

HETREC = FolderSpec(
    folder="hetrec2011-lastfm-2k",
    files={
        "artists.dat": "c173881362c6b28551368fecb3c0be5a6a30a6cd859e1f5775413dfe46d48648",
        "tags.dat": "c815d7216101fd0ba9b9c59fa2a011998d2fd076e0064d281ec4153d95ae8095",
        "user_artists.dat": "254272fa721c3935e8be286d28c051b206844307128698ab4eaa41d483379416",
        "user_friends.dat": "0360883a3557776e04fdebda851f2e5dd23e796cad7059b968acdebd528d13fa",
        "user_taggedartists.dat": "c4a9ffae9ab47a9f9b2f0678ab1f7e5c1db4ca818837d8cddd1f5699c5bbf048",
    },
    archive_url="https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip",
    homepage="https://grouplens.org/datasets/hetrec-2011/ (hetrec2011-lastfm-2k.zip)",
)

_KGCN_RAW = "https://raw.githubusercontent.com/hwwang55/KGCN/2363ca2ddc66a79860629b2e0ec6ad23c57697c8/data/music/"
KGCN = FolderSpec(
    folder="lastfm-kgcn",
    files={
        "item_index2entity_id.txt": "f9693bdde538f755d09b9931b0be662a98965e538658a00c2050912c0adf487b",
        "kg.txt": "f62bbc8f717c9f68e66dff6faeaa71025092acc11a0f1b4878b953eb05f946a9",
        "user_artists.dat": "254272fa721c3935e8be286d28c051b206844307128698ab4eaa41d483379416",
    },
    file_urls={name: _KGCN_RAW + name for name in ("item_index2entity_id.txt", "kg.txt", "user_artists.dat")},
    homepage="https://github.com/hwwang55/KGCN (data/music/)",
)

DBPEDIA_PROPERTIES = {
    "associatedBand": "763707f83c44697392ec64a9090dcab172e2fd18ab39bfefc946b891f30dedee",
    "associatedMusicalArtist": "2145e188b828c579037576f4fac03271517f50d98e2bf22ea6bd270874840dcf",
    "bandMember": "517eed16075b2ec892b53bea38fd7650f5e2148c86f8c96bfc027f5e1b86c64b",
    "birthPlace": "f1d1b87056f21cd345ec71a9d5ff13053a9a0fb752d41e5bf14255fcc3ac7f1d",
    "formerBandMember": "2d1ac5ca4aca63121c0742ce17cc41d1ba6a7c20ee5999a3676bfe3540044849",
    "genre": "85f4bf27339d4e96b1383e02e8b2c044a50ebda05b24ccf9575a46a1d24cccf2",
    "hometown": "5ff27bd98443a92f0f729f65206b7e6b31488d09635b62a565d44e155fe1aeb6",
    "instrument": "e44eb151d24aad68cbed76bfb68970a5d04cf0cf892c263d9e0f0d8caaa4bff4",
    "occupation": "ffd1dd5e52e6b6158c05642dd4912336ef2128c73657c6f06f27956b50abc128",
    "recordLabel": "87020c6dafdfe3d38f8e820885a0ffed11a31ce885f6476c5bcda5b96f248db3",
}
# DBO_BIRTH_PLACE reads "has the birth place": the ontology's property, without its dbo: prefix
DBPEDIA_WORDS = {to_relation_name(f"dbo:{prop}"): " ".join(name_words(prop)).lower() for prop in DBPEDIA_PROPERTIES}
MAPPING_FILE = "MappingLastfm2DBpedia-1.2.tsv"
_E2R_RAW = ("https://raw.githubusercontent.com/D2KLab/entity2rec/380c1599ea5825bbb650c248f25bf42385b619bc/"
            "datasets/LastFM/graphs/")
_LOD_RAW = ("https://raw.githubusercontent.com/sisinflab/LODrecsys-datasets/1f091b8b312ff2eff00a7e4b4b7cfa390bfe16fa/"
            "LastFM/")
DBPEDIA = FolderSpec(
    folder="lastfm-dbpedia-entity2rec",
    files={
        MAPPING_FILE: "6cf44b554e26d2e1214255b8f280e9d3eb85ac6bf5900a7d75f908aa15e2702b",
        **{f"graphs/dbo:{prop}.edgelist": sha for prop, sha in DBPEDIA_PROPERTIES.items()},
    },
    file_urls={
        MAPPING_FILE: _LOD_RAW + MAPPING_FILE,
        **{f"graphs/dbo:{prop}.edgelist": _E2R_RAW + urllib.parse.quote(f"dbo:{prop}") + ".edgelist"
           for prop in DBPEDIA_PROPERTIES},
    },
    homepage="https://github.com/sisinflab/LODrecsys-datasets (LastFM/) and https://github.com/D2KLab/entity2rec "
             "(datasets/LastFM/graphs/)",
)

SATORI_PREFIX = "satori:"
# How LISTENED_TO reads in explanations (both Last.fm datasets)
LISTENED_TO_PHRASES = ("listen to", "listens to", "are listened to by", "is listened to by")
_DBPEDIA_RESOURCE = r"^https?://(?:[a-z]+\.)?dbpedia\.org/resource/"


# -- hetrec ------------------------------------------------------------------------------------
def read_artists(folder: Path) -> pd.DataFrame:
    """``artists.dat`` → ``id``, ``name``, ``url``, ``_line``."""
    path = folder / "artists.dat"
    df = _io.read_table(path, sep="\t", quoting=_NONE, expected="id, name, url, pictureURL")
    _io.require_columns(df, ["id", "name", "url"], path)
    ids = _io.require_nonempty(df, "id", path, "artist id")
    return pd.DataFrame({"id": ids, "name": df["name"], "url": df["url"].replace("", None), "_line": df["_line"]})


def read_tags(folder: Path) -> pd.DataFrame:
    """``tags.dat`` (Latin-1) → ``id``, ``name``, ``_line``."""
    path = folder / "tags.dat"
    df = _io.read_table(path, sep="\t", quoting=_NONE, encoding="latin-1", expected="tagID, tagValue")
    _io.require_columns(df, ["tagID", "tagValue"], path)
    return pd.DataFrame({"id": _io.require_nonempty(df, "tagID", path, "tagID"), "name": df["tagValue"],
                         "_line": df["_line"]})


def read_user_artists(path: Path) -> pd.DataFrame:
    """``user_artists.dat`` → LISTENED_TO edges: ``src``, ``dst``, ``weight`` (Int64), ``_line``."""
    df = _io.read_table(path, sep="\t", quoting=_NONE, expected="userID, artistID, weight")
    _io.require_columns(df, ["userID", "artistID", "weight"], path)
    return pd.DataFrame({
        "src": _io.require_nonempty(df, "userID", path, "userID"),
        "dst": _io.require_nonempty(df, "artistID", path, "artistID"),
        "weight": _io.to_integer(df, "weight", path, minimum=0),
        "_line": df["_line"],
    })


def read_friends(folder: Path) -> pd.DataFrame:
    path = folder / "user_friends.dat"
    df = _io.read_table(path, sep="\t", quoting=_NONE, expected="userID, friendID")
    _io.require_columns(df, ["userID", "friendID"], path)
    return pd.DataFrame({"src": _io.require_nonempty(df, "userID", path, "userID"),
                         "dst": _io.require_nonempty(df, "friendID", path, "friendID"), "_line": df["_line"]})


def read_tag_assignments(folder: Path) -> pd.DataFrame:
    """``user_taggedartists.dat`` → ``user``, ``artist``, ``tag``, ``_line``."""
    path = folder / "user_taggedartists.dat"
    df = _io.read_table(path, sep="\t", quoting=_NONE, expected="userID, artistID, tagID, day, month, year")
    _io.require_columns(df, ["userID", "artistID", "tagID"], path)
    return pd.DataFrame({"user": _io.require_nonempty(df, "userID", path, "userID"),
                         "artist": _io.require_nonempty(df, "artistID", path, "artistID"),
                         "tag": _io.require_nonempty(df, "tagID", path, "tagID"), "_line": df["_line"]})


def count_pairs(df: pd.DataFrame, src: str, dst: str) -> pd.DataFrame:
    """Edges ``src → dst`` with ``count`` = rows per pair and ``_line`` = the first row's line."""
    out = (df.groupby([src, dst], sort=False)
           .agg(count=("_line", "size"), _line=("_line", "min")).reset_index()
           .rename(columns={src: "src", dst: "dst"}))
    out["count"] = out["count"].astype("Int64")
    return out


# -- KGCN / Satori ------------------------------------------------------------------------------
def read_item_entities(folder: Path) -> pd.DataFrame:
    """``item_index2entity_id.txt`` → ``artist``, ``entity``, ``_line`` (both ids unique)."""
    path = folder / "item_index2entity_id.txt"
    df = _io.read_table(path, sep="\t", quoting=_NONE, names=["artist", "entity"])
    out = pd.DataFrame({"artist": _io.require_nonempty(df, "artist", path, "artistID"),
                        "entity": _io.require_nonempty(df, "entity", path, "entity id"), "_line": df["_line"]})
    for col in ("artist", "entity"):
        dup = out[col].duplicated().to_numpy()
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise _io.error_at(out, i, path, f"{col} {out[col].iat[i]!r} is mapped twice")
    return out


def read_kg_triples(folder: Path) -> pd.DataFrame:
    """``kg.txt`` → ``head``, ``relation``, ``tail``, ``_line``."""
    path = folder / "kg.txt"
    df = _io.read_table(path, sep="\t", quoting=_NONE, names=["head", "relation", "tail"])
    return pd.DataFrame({"head": _io.require_nonempty(df, "head", path, "head entity"),
                         "relation": _io.require_nonempty(df, "relation", path, "relation"),
                         "tail": _io.require_nonempty(df, "tail", path, "tail entity"), "_line": df["_line"]})


def split_edges(src: pd.Series, src_label: np.ndarray, rel: pd.Series, dst: pd.Series, dst_label: np.ndarray,
                line: pd.Series, *, kg: str) -> dict[EdgeType, pd.DataFrame]:
    """One edge table per ``(src_label, relation, dst_label)``, each with property ``kg``."""
    frame = pd.DataFrame({"src": src.to_numpy(), "dst": dst.to_numpy(), "s": src_label, "r": rel.to_numpy(),
                          "t": dst_label, "_line": line.to_numpy()})
    out: dict[EdgeType, pd.DataFrame] = {}
    for (s, r, t), part in sorted(frame.groupby(["s", "r", "t"], sort=True), key=lambda kv: kv[0]):
        table = part[["src", "dst", "_line"]].reset_index(drop=True)
        table.insert(2, "kg", kg)
        out[(s, r, t)] = table
    return out


def satori_edges(item_entity: pd.DataFrame, triples: pd.DataFrame, kg_path: Path
                 ) -> tuple[dict[EdgeType, pd.DataFrame], pd.DataFrame]:
    """KGCN triples as edges: an entity that the mapping names is that ``Artist``, any other entity a
    ``SatoriEntity`` with id ``satori:<kg id>``. Returns (edge tables, SatoriEntity nodes)."""
    to_artist = pd.Series(item_entity["artist"].to_numpy(), index=item_entity["entity"].to_numpy())
    head_artist = triples["head"].map(to_artist)
    tail_artist = triples["tail"].map(to_artist)
    src = head_artist.fillna(SATORI_PREFIX + triples["head"])
    dst = tail_artist.fillna(SATORI_PREFIX + triples["tail"])
    src_label = np.where(head_artist.notna(), "Artist", "SatoriEntity")
    dst_label = np.where(tail_artist.notna(), "Artist", "SatoriEntity")
    rel, _ = _io.relation_names(triples["relation"], triples, kg_path)
    edges = split_edges(src, src_label, rel, dst, dst_label, triples["_line"], kg="satori")
    entity_ids = pd.concat([src[src_label == "SatoriEntity"], dst[dst_label == "SatoriEntity"]], ignore_index=True)
    nodes = pd.DataFrame({"id": _io.sorted_ids(entity_ids)})
    return edges, nodes


def kg_relation_types(edges: dict[EdgeType, pd.DataFrame], description: str,
                      words: Mapping[str, str] | None = None) -> tuple[RelationType, ...]:
    """The relation types of KG edges (property ``kg``); a relation named in ``words`` reads as
    those words in explanations (``DBO_BIRTH_PLACE`` → "has the birth place")."""
    words = words or {}
    return tuple(RelationType(s, r, t, {"kg": "string"}, description=description,
                              phrases=default_phrases(r, words[r]) if r in words else ())
                 for (s, r, t) in edges)


# -- DBpedia ------------------------------------------------------------------------------------
def read_dbpedia_mapping(folder: Path) -> pd.DataFrame:
    """``MappingLastfm2DBpedia-1.2.tsv`` → ``artist``, ``name``, ``uri``, ``_line``."""
    path = folder / MAPPING_FILE
    df = _io.read_table(path, sep="\t", quoting=_NONE, names=["artist", "name", "uri"])
    out = pd.DataFrame({"artist": _io.require_nonempty(df, "artist", path, "artist id"), "name": df["name"],
                        "uri": _io.require_nonempty(df, "uri", path, "DBpedia URI"), "_line": df["_line"]})
    dup = out["artist"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise _io.error_at(out, i, path, f"artist {out['artist'].iat[i]!r} is mapped twice")
    return out


def read_dbpedia_triples(folder: Path) -> list[tuple[Path, str, pd.DataFrame]]:
    """Each ``graphs/dbo:<p>.edgelist`` → (file, relation name, table ``head``, ``tail``, ``_line``)."""
    out = []
    for prop in DBPEDIA_PROPERTIES:
        path = folder / "graphs" / f"dbo:{prop}.edgelist"
        df = _io.read_table(path, sep=" ", quoting=_NONE, names=["head", "tail"])
        table = pd.DataFrame({"head": _io.require_nonempty(df, "head", path, "head URI"),
                              "tail": _io.require_nonempty(df, "tail", path, "object URI"), "_line": df["_line"]})
        out.append((path, to_relation_name(f"dbo:{prop}"), table))
    return out


def readable_name(uris: pd.Series) -> pd.Series:
    """``http://dbpedia.org/resource/Pop_(music)`` → ``Pop (music)``; other URIs stay as they are."""
    local = uris.str.replace(_DBPEDIA_RESOURCE, "", regex=True)
    is_resource = (local != uris).to_numpy()
    readable = local[is_resource].map(urllib.parse.unquote).str.replace("_", " ", regex=False)
    out = uris.copy()
    out[is_resource] = readable
    empty = out.str.strip() == ""
    return out.where(~empty, uris)


def dbpedia_edges(mapping: pd.DataFrame, files: list[tuple[Path, str, pd.DataFrame]]
                  ) -> tuple[dict[EdgeType, pd.DataFrame], pd.DataFrame, dict[EdgeType, str]]:
    """DBpedia triples as edges. A URI that the mapping gives to artists IS those ``Artist`` nodes: a
    URI shared by several artist ids (360 such URIs) gives each of them the triple. Any other URI is a
    ``DbpediaEntity``. Returns (edge tables, DbpediaEntity nodes, edge type → file)."""
    uri_to_artist = mapping[["uri", "artist"]]
    edges: dict[EdgeType, pd.DataFrame] = {}
    sources: dict[EdgeType, str] = {}
    entity_ids = []
    for path, rel, table in files:
        t = table.merge(uri_to_artist.rename(columns={"uri": "head", "artist": "head_artist"}), on="head", how="left")
        t = t.merge(uri_to_artist.rename(columns={"uri": "tail", "artist": "tail_artist"}), on="tail", how="left")
        t = t.sort_values("_line", kind="stable").reset_index(drop=True)
        src = t["head_artist"].fillna(t["head"])
        dst = t["tail_artist"].fillna(t["tail"])
        src_label = np.where(t["head_artist"].notna(), "Artist", "DbpediaEntity")
        dst_label = np.where(t["tail_artist"].notna(), "Artist", "DbpediaEntity")
        part = split_edges(src, src_label, pd.Series(rel, index=t.index), dst, dst_label, t["_line"], kg="dbpedia")
        for et, df in part.items():
            edges[et] = df
            sources[et] = str(path)
        entity_ids += [src[src_label == "DbpediaEntity"], dst[dst_label == "DbpediaEntity"]]
    ids = pd.Series(pd.unique(pd.concat(entity_ids, ignore_index=True)) if entity_ids else [], dtype=str)
    ids = ids.sort_values(kind="stable").reset_index(drop=True)
    nodes = pd.DataFrame({"id": ids, "name": readable_name(ids)})
    return edges, nodes, sources
