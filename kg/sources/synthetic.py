"""A synthetic knowledge graph with a known generating story, for offline demos and scale tests.

The story (all vectorised numpy, deterministic from ``seed``):

1. ``num_topics`` latent topics, each with a vocabulary of made-up words; every tag and every genre
   belongs to one topic.
2. Each user has a taste over topics (Dirichlet, concentrated on a few); each item a topic mixture
   (Dirichlet, sparser) and a popularity (log-normal).
3. An interaction draws a topic from the user's taste, then an item with probability proportional
   to the item's weight on that topic times its popularity: users meet the items that match their
   taste. Repeated draws of the same pair add to its ``weight``.
4. Each item gets a readable name (two words of its main topic), a text (words drawn from its topics'
   vocabularies) and HAS_TAG / HAS_GENRE links drawn from its topics.

Graph::

    (User {topic})-[:INTERACTED {weight: integer, timestamp: integer}]->(Item {topic})
    (Item)-[:HAS_TAG]->(Tag)      (Item)-[:HAS_GENRE]->(Genre)

``topic`` is the user's strongest taste and the item's main topic (the ground truth a model can be
checked against). ``metadata["synthetic"] = True``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd

from kgrec.errors import ConfigError

from ..graph import KnowledgeGraph
from ..schema import NodeType, RelationType, Schema
from ..stream import GraphChunk, GraphStream

logger = logging.getLogger(__name__)

#: Draws per block of users when generating interactions (bounds the generator's working memory).
BLOCK_DRAWS = 1 << 22
WORDS_PER_TOPIC = 40
TEXT_WORDS = 16
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_BASE_TIME = 1_600_000_000
_YEAR_S = 365 * 86_400

SCHEMA = Schema(
    nodes=(
        NodeType("User", {"topic": "integer"}, description="a synthetic user; topic = strongest taste"),
        NodeType("Item", {"topic": "integer"}, description="a synthetic item; topic = main topic"),
        NodeType("Tag", {"topic": "integer"}, description="a tag word of one topic"),
        NodeType("Genre", {"topic": "integer"}, description="a genre of one topic"),
    ),
    relations=(
        RelationType("User", "INTERACTED", "Item", {"weight": "integer", "timestamp": "integer"},
                     description="weight = times drawn; timestamp = first draw"),
        RelationType("Item", "HAS_TAG", "Tag"),
        RelationType("Item", "HAS_GENRE", "Genre"),
    ),
    user_label="User",
    item_label="Item",
    interaction=("User", "INTERACTED", "Item"),
)


def synthetic(
    *,
    num_users: int = 200,
    num_items: int = 500,
    num_tags: int = 60,
    num_genres: int = 12,
    seed: int = 0,
    num_topics: int = 8,
    interactions_per_user: float = 20.0,
    tags_per_item: float = 3.0,
    name: str = "synthetic",
) -> KnowledgeGraph:
    """Generate a synthetic graph.

    Args:
        num_users: users (default: 200).
        num_items: items (default: 500).
        num_tags: tags (default: 60).
        num_genres: genres (default: 12).
        seed: the random seed; the same arguments give the same graph (default: 0).
        num_topics: latent topics (default: 8).
        interactions_per_user: mean draws per user, at least one each (default: 20.0).
        tags_per_item: mean tags per item, at least one each (default: 3.0).
        name: the graph's name (default: ``"synthetic"``).
    """
    story = _Story(num_users=num_users, num_items=num_items, num_tags=num_tags, num_genres=num_genres, seed=seed,
                   num_topics=num_topics, interactions_per_user=interactions_per_user, tags_per_item=tags_per_item)
    blocks = [block for _, _, block in story.interaction_blocks()]
    import pyarrow as pa

    interactions = pd.DataFrame({
        "src": pd.Series(pa.chunked_array([b["src"].array for b in blocks], type=pa.string()), dtype="string"),
        "dst": pd.Series(pa.chunked_array([b["dst"].array for b in blocks], type=pa.string()), dtype="string"),
        "weight": pd.array(np.concatenate([b["weight"].to_numpy() for b in blocks]), dtype="Int64"),
        "timestamp": pd.array(np.concatenate([b["timestamp"].to_numpy() for b in blocks]), dtype="Int64")})
    del blocks
    kg = KnowledgeGraph(SCHEMA, {"User": story.users, **story.nodes},
                        {("User", "INTERACTED", "Item"): interactions, **story.edges}, name=name,
                        metadata=story.metadata)
    return kg.validate()


def synthetic_stream(
    *,
    num_users: int = 200,
    num_items: int = 500,
    num_tags: int = 60,
    num_genres: int = 12,
    seed: int = 0,
    num_topics: int = 8,
    interactions_per_user: float = 20.0,
    tags_per_item: float = 3.0,
    name: str = "synthetic",
) -> GraphStream:
    """:func:`synthetic` as a :class:`~kgrec.kg.stream.GraphStream`: the same graph (same arguments,
    same draws), its interactions drawn a block of users at a time (:data:`BLOCK_DRAWS` draws) as
    the stream is written, so that no more than one block is ever in memory. The first chunk holds
    the items, tags, genres and their edges; each later one a block's users and interactions.

    Args: as :func:`synthetic`.
    """
    story = _Story(num_users=num_users, num_items=num_items, num_tags=num_tags, num_genres=num_genres, seed=seed,
                   num_topics=num_topics, interactions_per_user=interactions_per_user, tags_per_item=tags_per_item)
    KnowledgeGraph(SCHEMA, story.nodes, story.edges, name=name).validate()

    def chunks() -> Iterator[GraphChunk]:
        yield GraphChunk(nodes=story.nodes, edges=story.edges)
        for start, stop, block in story.interaction_blocks():
            yield GraphChunk(nodes={"User": story.users.iloc[start:stop]},
                             edges={("User", "INTERACTED", "Item"): block})

    return GraphStream(SCHEMA, chunks, name=name, metadata=story.metadata)


class _Story:
    """Everything :func:`synthetic` draws, the interactions as blocks drawn on demand.

    The random numbers the interactions take come, in the one generator's order, between the
    users' draw counts and the items' names; so the state before them is kept (the blocks are
    drawn again from it whenever :meth:`interaction_blocks` runs) and the generator is moved past
    them by drawing only the raw numbers each block takes (:func:`_skip_block`), which costs a
    small part of drawing the blocks.
    """

    def __init__(self, *, num_users: int, num_items: int, num_tags: int, num_genres: int, seed: int,
                 num_topics: int, interactions_per_user: float, tags_per_item: float):
        for key, value, low in (("num_users", num_users, 1), ("num_items", num_items, 1), ("num_tags", num_tags, 1),
                                ("num_genres", num_genres, 1), ("num_topics", num_topics, 1)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ConfigError(f"synthetic: {key} must be an integer >= {low}, got {value!r}")
        if not interactions_per_user >= 1 or not tags_per_item >= 1:
            raise ConfigError("synthetic: interactions_per_user and tags_per_item must be >= 1")
        rng = np.random.default_rng(seed)
        k = int(num_topics)

        words = _words(rng, k * WORDS_PER_TOPIC + num_tags + num_genres)
        vocab = words[:k * WORDS_PER_TOPIC].reshape(k, WORDS_PER_TOPIC)
        tag_words = words[k * WORDS_PER_TOPIC:k * WORDS_PER_TOPIC + num_tags]
        genre_words = words[k * WORDS_PER_TOPIC + num_tags:]
        tag_topic = rng.permutation(np.arange(num_tags) % k)
        genre_topic = rng.permutation(np.arange(num_genres) % k)

        taste = rng.dirichlet(np.full(k, 0.3), size=num_users)
        mix = rng.dirichlet(np.full(k, 0.2), size=num_items)
        popularity = rng.lognormal(0.0, 1.0, size=num_items)

        # -- interactions: topic from the user's taste, then item from p(item | topic) ----------
        self.counts = 1 + rng.poisson(interactions_per_user - 1, size=num_users)
        self.taste, self.item_given_topic = taste, (mix * popularity[:, None]).T
        self.state = copy.deepcopy(rng.bit_generator.state)
        for start, stop in _block_bounds(self.counts):
            _skip_block(rng, int(self.counts[start:stop].sum()))

        # -- items: names, texts, tags, genres --------------------------------------------------
        main = mix.argmax(axis=1)
        first_word = vocab[main, rng.integers(0, WORDS_PER_TOPIC, size=num_items)]
        second_word = vocab[main, rng.integers(0, WORDS_PER_TOPIC, size=num_items)]
        names = pd.Series(first_word).str.title() + " " + pd.Series(second_word).str.title()
        text_topics = _draw_rows(rng, mix, np.repeat(np.arange(num_items), TEXT_WORDS))
        text_words = vocab[text_topics, rng.integers(0, WORDS_PER_TOPIC, size=len(text_topics))]
        body = pd.Series(text_words.reshape(num_items, TEXT_WORDS).tolist()).str.join(" ")
        items = pd.DataFrame({"id": _ids("i", np.arange(num_items)), "name": names, "text": names + ": " + body + ".",
                              "topic": pd.array(main, dtype="Int64")})

        has_tag = _attribute_edges(rng, mix, tag_topic, 1 + rng.poisson(tags_per_item - 1, size=num_items), "t")
        has_genre = _attribute_edges(rng, mix, genre_topic, 1 + (rng.random(num_items) < 0.4), "g")

        self.users = pd.DataFrame({"id": _ids("u", np.arange(num_users)),
                                   "topic": pd.array(taste.argmax(axis=1), dtype="Int64")})
        tags = pd.DataFrame({"id": _ids("t", np.arange(num_tags)), "name": tag_words,
                             "topic": pd.array(tag_topic, dtype="Int64")})
        genres = pd.DataFrame({"id": _ids("g", np.arange(num_genres)), "name": pd.Series(genre_words).str.title(),
                               "topic": pd.array(genre_topic, dtype="Int64")})
        self.nodes = {"Item": items, "Tag": tags, "Genre": genres}
        self.edges = {("Item", "HAS_TAG", "Tag"): has_tag, ("Item", "HAS_GENRE", "Genre"): has_genre}
        self.metadata = {"dataset": "synthetic", "synthetic": True, "seed": int(seed), "num_topics": k,
                         "interactions_per_user": float(interactions_per_user), "tags_per_item": float(tags_per_item)}

    def interaction_blocks(self) -> Iterator[tuple[int, int, pd.DataFrame]]:
        """``(first user, last user + 1, interactions)`` of each block of users, drawn afresh."""
        rng = np.random.default_rng()
        rng.bit_generator.state = copy.deepcopy(self.state)
        taste_cdf = _row_cdf(self.taste)
        item_cdf = _shifted_cdf(self.item_given_topic)
        for start, stop in _block_bounds(self.counts):
            yield start, stop, _interaction_block(rng, self.taste, taste_cdf, self.item_given_topic, item_cdf,
                                                  start, self.counts[start:stop])


def _block_bounds(counts: np.ndarray) -> list[tuple[int, int]]:
    """Users in blocks of about :data:`BLOCK_DRAWS` draws (a block holds at least one user), so the
    working memory is bounded by the block, not the graph (a graph with fewer draws is one block)."""
    ends = np.cumsum(counts)
    out, start = [], 0
    while start < len(counts):
        base = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + BLOCK_DRAWS, side="right")))
        out.append((start, stop))
        start = stop
    return out


def _skip_block(rng: np.random.Generator, draws: int) -> None:
    """Move ``rng`` past the random numbers :func:`_interaction_block` takes for ``draws`` draws (in
    its order: a topic per draw, an item per draw, a time per draw)."""
    rng.random(draws)
    rng.random(draws)
    rng.integers(0, _YEAR_S, size=draws)


def _interaction_block(rng: np.random.Generator, taste: np.ndarray, taste_cdf: np.ndarray,
                       item_given_topic: np.ndarray, item_cdf: np.ndarray, start: int,
                       counts: np.ndarray) -> pd.DataFrame:
    """The interactions of users ``start, start + 1, ...`` (``counts[u - start]`` draws each: a topic
    from the user's taste, then an item from ``item_given_topic[topic]`` ``[k, items]``), repeated
    pairs merged into ``weight``; ids as Arrow-backed strings."""
    num_items = item_given_topic.shape[1]
    user = np.repeat(np.arange(start, start + len(counts), dtype=np.int64), counts)
    topic = _draw_rows(rng, taste, user, cdf=taste_cdf)
    item = _draw_columns(rng, item_given_topic, topic, flat=item_cdf)
    del topic
    pair, first, weight = np.unique(user * num_items + item, return_index=True, return_counts=True)
    del item
    time = _BASE_TIME + rng.integers(0, _YEAR_S, size=len(user))
    return pd.DataFrame({"src": pd.Series(_id_array("u", pair // num_items), dtype="string"),
                         "dst": pd.Series(_id_array("i", pair % num_items), dtype="string"),
                         "weight": pd.array(weight, dtype="Int64"), "timestamp": pd.array(time[first], dtype="Int64")})


def _id_array(prefix: str, numbers: np.ndarray):
    """``prefix`` + each number, as an Arrow string array (fast for millions of rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    digits = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, digits, "")


def _ids(prefix: str, numbers: np.ndarray) -> pd.Series:
    """``prefix`` + each number, as a string column."""
    return pd.Series(_id_array(prefix, numbers), dtype="string")


def _words(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct made-up words of two or three syllables (``"kalo"``, ``"mirevu"``)."""
    syllables = np.array([c + v for c in _CONSONANTS for v in _VOWELS])
    s = len(syllables)
    space = s ** 2 + s ** 3
    if n > space:
        raise ConfigError(f"synthetic: at most {space - 8 * WORDS_PER_TOPIC} tags and genres together")
    codes = rng.choice(space, size=n, replace=False)
    two = codes < s ** 2
    rest = np.where(two, codes, codes - s ** 2)
    a, b, c = rest // (s * s), (rest // s) % s, rest % s
    out = np.where(two, np.char.add(syllables[(rest // s) % s], syllables[rest % s]),
                   np.char.add(np.char.add(syllables[a % s], syllables[b]), syllables[c]))
    return out.astype(str)


def _row_cdf(probs: np.ndarray) -> np.ndarray:
    """Each row's cumulative sum, its last entry exactly 1."""
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    return cdf


def _draw_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray, *, cdf: np.ndarray | None = None
               ) -> np.ndarray:
    """For each entry of ``rows``, a column index drawn from ``probs[row]`` (rows sum to 1; ``cdf``:
    :func:`_row_cdf` of ``probs``, when already computed)."""
    cdf = _row_cdf(probs) if cdf is None else cdf
    u = rng.random(len(rows))
    out = np.empty(len(rows), dtype=np.int64)
    for start in range(0, len(rows), 1 << 20):  # chunks keep the [n, k] comparison small
        r = rows[start:start + (1 << 20)]
        out[start:start + len(r)] = (u[start:start + len(r), None] > cdf[r]).sum(axis=1)
    return np.minimum(out, probs.shape[1] - 1)


def _shifted_cdf(weights: np.ndarray) -> np.ndarray:
    """Each row's normalised CDF shifted into ``[row, row + 1]``, all rows in one sorted array."""
    k = weights.shape[0]
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    return (cdf + np.arange(k)[:, None]).ravel()


def _draw_columns(rng: np.random.Generator, weights: np.ndarray, rows: np.ndarray, *,
                  flat: np.ndarray | None = None) -> np.ndarray:
    """For each entry of ``rows``, a column drawn with probability proportional to ``weights[row]``
    (``flat``: :func:`_shifted_cdf` of ``weights``, when already computed).

    One binary search per draw in the shifted CDFs of all rows; the draws are searched in sorted
    order (NumPy then starts each search where the last ended), which on millions of draws over a
    large catalogue is several times faster than searching them as they come, with the same result.
    """
    k, n = weights.shape
    flat = _shifted_cdf(weights) if flat is None else flat
    keys = rows + rng.random(len(rows))
    order = np.argsort(keys, kind="stable")
    pos = np.empty(len(rows), dtype=np.int64)
    pos[order] = np.searchsorted(flat, keys[order], side="right")
    return np.clip(pos - rows * n, 0, n - 1)


def _attribute_edges(rng: np.random.Generator, mix: np.ndarray, owner_topic: np.ndarray, per_item: np.ndarray,
                     prefix: str) -> pd.DataFrame:
    """Item → attribute edges: a topic from the item's mixture, then an attribute of that topic."""
    k = mix.shape[1]
    items = np.repeat(np.arange(len(mix)), per_item)
    topic = _draw_rows(rng, mix, items)
    order = np.argsort(owner_topic, kind="stable")
    start = np.searchsorted(owner_topic[order], np.arange(k), side="left")
    size = np.bincount(owner_topic, minlength=k)[topic]
    pick = rng.random(len(items))
    fallback = rng.integers(0, len(owner_topic), size=len(items))  # a topic without attributes
    idx = np.where(size > 0, order[np.minimum(start[topic] + (pick * size).astype(np.int64), len(order) - 1)],
                   fallback)
    pairs = np.unique(items.astype(np.int64) * len(owner_topic) + idx)
    return pd.DataFrame({"src": _ids("i", pairs // len(owner_topic)), "dst": _ids(prefix, pairs % len(owner_topic))})
