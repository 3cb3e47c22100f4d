"""MovieLens ``ml-latest-small`` (GroupLens): ratings, genres and free-text tags as a graph.

Graph (name ``movielens-small``)::

    (User)-[:RATED {rating: float, timestamp: integer}]->(Movie)      100,836
    (Movie)-[:HAS_GENRE]->(Genre)                                       genres from movies.csv
    (Movie)-[:HAS_TAG {count: integer}]->(Tag)                          tag applications per movie
    (User)-[:TAGGED {count: integer}]->(Tag)                            tag applications per user

``Movie``: id = movieId, name = the title as in movies.csv, properties ``year`` (from the title's
trailing "(1995)"; absent for 12 titles), ``imdb_id`` and ``tmdb_id`` (strings, leading zeros kept).
``Genre``: id = the genre's name; ``(no genres listed)`` is not a genre, so those 34 movies have no
HAS_GENRE edge. ``Tag``: id = the lower-cased, trimmed tag text (1,475 of them from 1,589 spellings),
name = its most common spelling (ties: the alphabetically first).

Every id (users, items, tags, genres, KG entities) follows the one rule of :mod:`kgrec.kg.ids`
(Unicode NFC, format characters such as U+FEFF removed, surrounding blanks stripped); an id that
is empty once clean, a short row or a file that is not a regular file is an ``InputError`` naming
the file and line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..graph import KnowledgeGraph
from ..ids import clean_ids
from ..schema import NodeType, RelationType, Schema
from . import _io
from .resolve import DatasetSpec, FolderSpec, locate

logger = logging.getLogger(__name__)

NO_GENRE = "(no genres listed)"

FOLDER = FolderSpec(
    folder="ml-latest-small",
    files={
        "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
        "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
        "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
        "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
    },
    archive_url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
    homepage="https://grouplens.org/datasets/movielens/ (ml-latest-small.zip)",
)

SPEC = DatasetSpec(
    name="movielens-small",
    description="MovieLens ml-latest-small: 100,836 ratings (0.5-5 stars) and 3,683 tags by 610 users "
                "on 9,742 movies, with genres and IMDb/TMDB ids",
    license="GroupLens research-use terms: no commercial use without permission; cite Harper & Konstan "
            "(2015); redistribution only under the same terms",
    folders=(FOLDER,),
    aliases=("movielens", "ml-latest-small", "ml-small"),
)

SCHEMA = Schema(
    nodes=(
        NodeType("User", description="a MovieLens user (userId)"),
        NodeType("Movie", {"year": "integer", "imdb_id": "string", "tmdb_id": "string"},
                 description="a movie (movieId); name = title with year"),
        NodeType("Genre", description="a genre label from movies.csv"),
        NodeType("Tag", description="a user tag, lower-cased; name = most common spelling", quoted=True),
    ),
    relations=(
        RelationType("User", "RATED", "Movie", {"rating": "float", "timestamp": "integer"},
                     description="a 0.5-5 star rating at a Unix time",
                     phrases=("rated", "rated", "were rated by", "was rated by")),
        RelationType("Movie", "HAS_GENRE", "Genre",
                     phrases=("have the genre", "has the genre", "are the genre of", "is the genre of")),
        RelationType("Movie", "HAS_TAG", "Tag", {"count": "integer"}, description="tag applications",
                     phrases=("have the tag", "has the tag", "are a tag of", "is a tag of")),
        RelationType("User", "TAGGED", "Tag", {"count": "integer"}, description="tag applications",
                     phrases=("tagged movies with", "tagged movies with", "were used as a tag by",
                              "was used as a tag by")),
    ),
    user_label="User",
    item_label="Movie",
    interaction=("User", "RATED", "Movie"),
)

_YEAR = r"\((\d{4})(?:[-\u2013]\d{0,4})?\)\s*$"


def load(*, download: bool = True, verify: bool = False) -> KnowledgeGraph:
    """Load ``movielens-small``.

    Args:
        download: fetch ml-latest-small.zip from GroupLens when no local copy exists (default: ``True``).
        verify: check the sha256 of local files too (default: ``False``).
    """
    folder = locate(FOLDER, download=download, verify_local=verify)
    return read(folder)


def read(folder: Path) -> KnowledgeGraph:
    """Build the graph from a folder holding movies.csv, ratings.csv, tags.csv and links.csv."""
    f_movies, f_ratings, f_tags, f_links = (folder / n for n in ("movies.csv", "ratings.csv", "tags.csv", "links.csv"))

    movies = _io.read_table(f_movies, sep=",", expected="movieId,title,genres")
    _io.require_columns(movies, ["movieId", "title", "genres"], f_movies)
    movie_ids = _io.require_nonempty(movies, "movieId", f_movies, "movieId")
    _io.to_integer(movies.assign(movieId=movie_ids), "movieId", f_movies, what="movieId")
    year = movies["title"].str.extract(_YEAR, expand=False)
    movie_nodes = pd.DataFrame({
        "id": movie_ids, "name": movies["title"],
        "year": pd.to_numeric(year, errors="coerce").astype("Int64"), "_line": movies["_line"]})

    links = _io.read_table(f_links, sep=",", expected="movieId,imdbId,tmdbId")
    _io.require_columns(links, ["movieId", "imdbId", "tmdbId"], f_links)
    links["movieId"] = _io.require_nonempty(links, "movieId", f_links, "movieId")
    unknown = ~_io.isin(links["movieId"], movie_ids)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise _io.error_at(links, i, f_links, f"movieId {links['movieId'].iat[i]!r} is not in {f_movies.name}")
    links = links.drop_duplicates("movieId").set_index("movieId")
    movie_nodes["imdb_id"] = movie_nodes["id"].map(links["imdbId"].replace("", None))
    movie_nodes["tmdb_id"] = movie_nodes["id"].map(links["tmdbId"].replace("", None))

    genres = movies[["movieId", "genres", "_line"]].assign(genre=movies["genres"].str.split("|")).explode("genre")
    genres["genre"] = clean_ids(genres["genre"])
    genres = genres[(genres["genre"] != "") & (genres["genre"] != NO_GENRE)]
    has_genre = _io.first_line_of(
        pd.DataFrame({"src": clean_ids(genres["movieId"]), "dst": genres["genre"], "_line": genres["_line"]}),
        ["src", "dst"])
    genre_nodes = pd.DataFrame({"id": np.sort(has_genre["dst"].unique())})

    ratings = _io.read_table(f_ratings, sep=",", expected="userId,movieId,rating,timestamp")
    _io.require_columns(ratings, ["userId", "movieId", "rating", "timestamp"], f_ratings)
    rated = pd.DataFrame({
        "src": _io.require_nonempty(ratings, "userId", f_ratings, "userId"),
        "dst": _io.require_nonempty(ratings, "movieId", f_ratings, "movieId"),
        "rating": _io.to_float(ratings, "rating", f_ratings),
        "timestamp": _io.to_integer(ratings, "timestamp", f_ratings),
        "_line": ratings["_line"],
    })

    tags = _io.read_table(f_tags, sep=",", expected="userId,movieId,tag,timestamp")
    _io.require_columns(tags, ["userId", "movieId", "tag"], f_tags)
    tags["userId"] = _io.require_nonempty(tags, "userId", f_tags, "userId")
    tags["movieId"] = _io.require_nonempty(tags, "movieId", f_tags, "movieId")
    tags["spelling"] = clean_ids(tags["tag"])
    tags["key"] = tags["spelling"].str.lower()
    tags = tags[tags["key"] != ""]
    spelling = (tags.groupby(["key", "spelling"], sort=False).size().rename("n").reset_index()
                .sort_values(["key", "n", "spelling"], ascending=[True, False, True])
                .drop_duplicates("key"))
    tag_nodes = pd.DataFrame({"id": spelling["key"].to_numpy(), "name": spelling["spelling"].to_numpy()})
    has_tag = _count(tags, "movieId", "key")
    tagged = _count(tags, "userId", "key")

    user_ids = pd.unique(pd.concat([rated["src"], tagged["src"]], ignore_index=True))
    user_nodes = pd.DataFrame({"id": _io.sorted_ids(user_ids)})

    kg = KnowledgeGraph(
        SCHEMA,
        {"User": user_nodes, "Movie": movie_nodes, "Genre": genre_nodes, "Tag": tag_nodes},
        {("User", "RATED", "Movie"): rated, ("Movie", "HAS_GENRE", "Genre"): has_genre,
         ("Movie", "HAS_TAG", "Tag"): has_tag, ("User", "TAGGED", "Tag"): tagged},
        name=SPEC.name,
        metadata={"dataset": SPEC.name, "license": SPEC.license, "source": FOLDER.homepage},
        sources={"Movie": str(f_movies), ("User", "RATED", "Movie"): str(f_ratings),
                 ("Movie", "HAS_GENRE", "Genre"): str(f_movies), ("Movie", "HAS_TAG", "Tag"): str(f_tags),
                 ("User", "TAGGED", "Tag"): str(f_tags), "Tag": str(f_tags)},
    )
    return kg.validate()


def _count(tags: pd.DataFrame, src: str, dst: str) -> pd.DataFrame:
    out = (tags.groupby([src, dst], sort=False)
           .agg(count=("_line", "size"), _line=("_line", "min")).reset_index()
           .rename(columns={src: "src", dst: "dst"}))
    out["count"] = out["count"].astype("Int64")
    return out
