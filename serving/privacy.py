"""Forgetting a user: ``forget_user`` removes a user's node, interactions, profile and vectors from
every place kgrec keeps them.

=====================  ==========================================================================
where                  what is removed
=====================  ==========================================================================
store                  the user node and every edge touching it (interactions, profile tags,
                       friendships ...) and the node's ``embedding`` vector property, with
                       :meth:`Store.delete_nodes`; then, when the store can
                       (``capabilities.compactable``), :meth:`Store.compact` rewrites its
                       persistence files so the id is gone from disk too
run directories        :meth:`kgrec.gnn.Run.without_user`: the user's id in ``id_maps.json``
                       becomes a random tombstone, the user's vectors and the rows of every
                       per-user weight the model declares become zeros, the user's train / valid /
                       test pairs are dropped; the run is saved again (its saved graph index, which
                       held the user's id and edges, is dropped and rebuilt on the next load)
saved node vectors     (``kgrec embed --save DIR``) the user's id becomes a tombstone, its vector
                       row zeros and its stored document empty
text vector cache      the vectors of the user's text document (as saved with the node vectors, and (:func:`kgrec.text.documents.user_documents`
                       as built with the default templates) under every model fingerprint
running recommender    :meth:`Recommender.forget`: the user's vector, id, history, feedback and
                       every edge in the serving index; the user can no longer be recommended to
                       or appear in a path
=====================  ==========================================================================

The model's shared parameters (projections, item vectors) were trained with the user's data among
everyone else's; forgetting does not retrain them (retrain to remove that influence too).

Example::

    from kgrec.serving.privacy import forget_user
    report = forget_user("42", store=store, run_dirs=[run_dir], recommender=rec)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgrec.errors import InputError, KgrecError, UnknownUserError
from kgrec.kg.ids import clean_id
from kgrec.kg.schema import check_label

if TYPE_CHECKING:
    from kgrec.gnn import Run
    from kgrec.kg import KnowledgeGraph
    from kgrec.kg.stores import Store

    from .recommender import Recommender

logger = logging.getLogger(__name__)

__all__ = ["ForgetReport", "compact_store", "forget_in_cache", "graph_without", "forget_in_memory", "forget_in_run", "forget_in_run_dir",
           "forget_in_store", "forget_in_vectors_dir", "forget_user", "tombstone"]


@dataclass(frozen=True)
class ForgetReport:
    """What :func:`forget_user` removed.

    Args:
        user: the user id.
        nodes: user nodes deleted from the store (0 or 1).
        edges: edges deleted from the store with the node.
        compacted: whether the store rewrote its persistence files afterwards.
        run_dirs: run directories rewritten (those that knew the user).
        vector_dirs: saved node-vector folders rewritten (those that knew the user).
        cache_vectors: vectors removed from the text vector cache.
        in_memory: whether the running recommender knew the user.
    """

    user: str
    nodes: int = 0
    edges: int = 0
    compacted: bool = False
    run_dirs: tuple[str, ...] = ()
    vector_dirs: tuple[str, ...] = ()
    cache_vectors: int = 0
    in_memory: bool = False

    @property
    def found(self) -> bool:
        return bool(self.nodes or self.run_dirs or self.vector_dirs or self.cache_vectors or self.in_memory)


def tombstone() -> str:
    """A random id that stands where a forgotten user's id was (not derived from the id)."""
    return f"forgotten-{secrets.token_hex(8)}"


def _check_user(user: str) -> str:
    if not isinstance(user, str):
        raise InputError(f"user id {user!r} is not a string")
    if "\x00" in user or len(user) > 256:
        raise InputError(f"user id {user[:40]!r}... is not a valid id (NUL or over 256 characters)")
    cleaned = clean_id(user)
    if not cleaned:
        raise InputError(f"user id {user!r} is empty (after removing spaces and invisible characters)")
    return cleaned


# -- the store ---------------------------------------------------------------------------------
def forget_in_store(store: Store, user: str, *, graph: str | None = None) -> tuple[int, int]:
    """Delete the user node and its edges. Returns ``(nodes, edges)`` deleted."""
    schema = store.schema(graph=graph)
    label = check_label(schema.user_label)
    before = store.stats(graph=graph).num_edges
    nodes = int(store.delete_nodes(label, [user], graph=graph))
    after = store.stats(graph=graph).num_edges if nodes else before
    logger.info("forgot user %r in the store: %d node, %d edges", user, nodes, before - after)
    return nodes, before - after


def compact_store(store: Store) -> bool:
    """Rewrite the store's persistence files when it can (``capabilities.compactable``), so that
    deleted data is gone from disk too; waits until that is done. Returns whether it compacted."""
    if not store.capabilities.compactable:
        logger.warning("store %s cannot rewrite its persistence files: the forgotten user's id may stay on its disk "
                       "until the store compacts them itself", store.url)
        return False
    store.compact()
    logger.info("compacted the persistence files of %s", store.url)
    return True


# -- runs --------------------------------------------------------------------------------------
def forget_in_run(run: Run, user: str) -> tuple[Run, bool]:
    """A copy of a :class:`kgrec.gnn.Run` without the user (:meth:`Run.without_user`); ``(run, knew)``."""
    return run.without_user(user)


def forget_in_run_dir(run_dir: str | os.PathLike, user: str) -> bool:
    """Rewrite a run directory without the user (verified before, manifest rewritten after).
    Returns whether the run knew the user."""
    from kgrec.gnn import Run

    run = Run.load(run_dir)
    forgotten, knew = run.without_user(user)
    if knew:
        forgotten.save(run_dir)
        logger.info("forgot user %r in run %s", user, run_dir)
    return knew


# -- saved node vectors ------------------------------------------------------------------------
def forget_in_vectors_dir(directory: str | os.PathLike, user: str, *, user_label: str) -> tuple[bool, str | None]:
    """Rewrite a :class:`kgrec.text.NodeVectors` folder without the user: a tombstone id, a zero
    vector row, an empty document. Returns ``(knew the user, the user's document as encoded)``."""
    from kgrec.text.embed import NodeVectors

    nv = NodeVectors.load(directory)
    ids = nv.ids.get(user_label)
    if not ids or user not in ids:
        return False, None
    row = ids.index(user)
    ids[row] = tombstone()
    vectors = np.array(nv.vectors[user_label], copy=True)
    vectors[row] = 0
    nv.vectors[user_label] = vectors
    document = None
    docs = nv.documents.get(user_label)
    if docs is not None and row < len(docs):
        document, docs[row] = docs[row], ""
    nv.save(directory)
    logger.info("forgot user %r in the node vectors in %s", user, directory)
    return True, document


# -- the text vector cache ---------------------------------------------------------------------
def _user_document(kg: KnowledgeGraph, user: str) -> str | None:
    from kgrec.text.documents import user_documents

    users = kg.nodes[kg.schema.user_label]
    hit = np.flatnonzero(users["id"].astype(str).to_numpy() == user)
    if not len(hit):
        return None
    return user_documents(kg)[int(hit[0])]


def forget_in_cache(texts: Sequence[str], *, root: str | os.PathLike | None = None) -> int:
    """Remove the vectors of ``texts`` under every model fingerprint of the vector cache (shards
    rewritten with their checksums, as :class:`kgrec.text.cache.VectorCache` writes them). Returns
    how many vectors were removed."""
    from kgrec.text.cache import text_key
    from safetensors.numpy import load, save

    from kgrec.config import cache_dir

    base = Path(root) if root is not None else cache_dir("vectors")
    removed = 0
    if not texts or not base.is_dir():
        return 0
    for space in sorted(p for p in base.iterdir() if p.is_dir()):
        try:
            fingerprint = json.loads((space / "model.json").read_text(encoding="utf-8"))["fingerprint"]
        except (OSError, ValueError, KeyError):
            continue
        doomed = {text_key(fingerprint, t) for t in texts}
        for shard in sorted(space.glob("shard-*.safetensors")):
            data = shard.read_bytes()
            if hashlib.sha256(data).hexdigest() not in shard.name:
                continue  # a damaged shard: the cache sets it aside itself and never returns it
            tensors = load(data)
            keys = tensors["keys"]
            hit = np.array([bytes(k) in doomed for k in keys], dtype=bool)
            if not hit.any():
                continue
            kept = {"keys": np.ascontiguousarray(keys[~hit]), "vectors": np.ascontiguousarray(tensors["vectors"][~hit])}
            removed += int(hit.sum())
            if len(kept["keys"]):
                new = save(kept, metadata={"fingerprint": fingerprint, "rows": str(len(kept["keys"]))})
                target = space / f"shard-{hashlib.sha256(new).hexdigest()}.safetensors"
                tmp = target.with_name(".tmp-" + target.name)
                with open(tmp, "wb") as f:
                    f.write(new)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            shard.unlink()
    if removed:
        logger.info("forgot %d cached text vectors", removed)
    return removed


def graph_without(kg: KnowledgeGraph, user: str) -> KnowledgeGraph:
    """The graph without one user: the node's id becomes a tombstone, its other columns empty, and
    every edge touching it is dropped."""
    import pandas as pd

    label = kg.schema.user_label
    users = kg.nodes[label].copy()
    mine = users["id"].astype(str) == user
    if not mine.any():
        return kg
    users.loc[mine, "id"] = tombstone()
    for col in users.columns:
        if col not in ("id", "_line"):
            users.loc[mine, col] = None
    edges = {}
    for et, df in kg.edges.items():
        drop = pd.Series(False, index=df.index)
        if et[0] == label:
            drop |= df["src"].astype(str) == user
        if et[2] == label:
            drop |= df["dst"].astype(str) == user
        if drop.any():
            edges[et] = df.loc[~drop].reset_index(drop=True)
    return kg.replace(nodes={label: users}, edges=edges)


# -- the running recommender -------------------------------------------------------------------
def forget_in_memory(recommender: Recommender, user: str) -> bool:
    """Remove the user from a running :class:`~kgrec.serving.Recommender` (:meth:`Recommender.forget`).
    Returns whether it knew the user."""
    return recommender.forget(user)


# -- all of it ---------------------------------------------------------------------------------
def forget_user(user: str, *, store: Store | None = None, graph: str | None = None,
                recommender: Recommender | None = None,
                run_dirs: Iterable[str | os.PathLike] = (), vector_dirs: Iterable[str | os.PathLike] = (),
                cache: bool = True,
                cache_root: str | os.PathLike | None = None, kg: KnowledgeGraph | None = None,
                missing_ok: bool = False) -> ForgetReport:
    """Remove a user's node, interactions, profile and vectors everywhere kgrec keeps them.

    Args:
        user: the user's id.
        store: an open store to delete the user from (default: None = none).
        graph: the graph in the store (default: the recommender's, else the store's default).
        recommender: a running recommender to remove the user from (default: None).
        run_dirs: run directories to rewrite without the user (default: none).
        vector_dirs: saved node-vector folders (``kgrec embed --save``) to rewrite (default: none).
        cache: remove the user document's vectors from the text vector cache (default: True).
        cache_root: the cache folder (default: ``KGREC_HOME/cache/vectors``).
        kg: the graph to build the user's document from (default: the recommender's graph, else
            the store's graph is read when there is a cache to clean).
        missing_ok: a user found nowhere is not an error (default: False).

    Raises:
        UnknownUserError: the user was found nowhere (unless ``missing_ok``).
    """
    user = _check_user(str(user))
    if graph is None and recommender is not None:
        graph = recommender.graph_name
    texts: list[str] = []
    if cache:
        source = kg if kg is not None else recommender.kg if recommender is not None else None
        if source is None and store is not None:
            try:
                source = store.read(graph=graph)
            except KgrecError as e:
                logger.warning("cannot read the graph to find the user's cached document: %s", e)
        if source is not None:
            doc = _user_document(source, user)
            texts = [doc] if doc else []
    user_label = None
    if recommender is not None:
        user_label = recommender.user_label
    elif kg is not None:
        user_label = kg.schema.user_label
    elif store is not None:
        user_label = store.schema(graph=graph).user_label
    vector_dirs = list(vector_dirs)
    if vector_dirs and user_label is None:
        raise InputError("forgetting in saved node vectors needs the user label: pass store=, kg= or recommender=")
    rewritten_vectors = []
    for d in vector_dirs:
        knew, document = forget_in_vectors_dir(d, user, user_label=user_label)
        if knew:
            rewritten_vectors.append(str(d))
            if document:
                texts.append(document)
    nodes = edges = 0
    compacted = False
    if store is not None:
        nodes, edges = forget_in_store(store, user, graph=graph)
    rewritten = tuple(str(d) for d in run_dirs if forget_in_run_dir(d, user))
    in_memory = forget_in_memory(recommender, user) if recommender is not None else False
    if recommender is not None and recommender.run.path is not None:
        path = str(recommender.run.path)
        if path not in rewritten and path not in {str(d) for d in run_dirs} and in_memory:
            logger.info("the recommender's run directory %s still holds the user; pass it in run_dirs", path)
    vectors = forget_in_cache(sorted(set(texts)), root=cache_root) if texts and cache else 0
    if store is not None and nodes:
        compacted = compact_store(store)  # last: every write above is in the files it rewrites
    report = ForgetReport(user, nodes, edges, compacted, rewritten, tuple(rewritten_vectors), vectors, in_memory)
    if not report.found and not missing_ok:
        raise UnknownUserError(f"user {user!r} is not in the store, the runs, the cache or the recommender")
    return report
