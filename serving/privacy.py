"""Forgetting a user: ``forget_user`` removes a user's node, interactions, profile and vectors from
every place kgrec keeps them.

=====================  ==========================================================================
where                  what is removed
=====================  ==========================================================================
store                  the user node and every edge touching it (interactions, ``INTERESTED_IN``
                       profile tags, ``FRIEND_OF``, ``TAGGED`` ...) and the node's ``embedding``
                       vector property, with :meth:`Store.delete_nodes`
run directories        the user's id in ``id_maps.json`` becomes a random tombstone, the user's
                       rows of ``node.<User>`` (vectors) and of every per-user weight table
                       (``emb.<User>.weight`` ...) become zeros, the user's train / valid / test
                       pairs are dropped; the manifest is rewritten (the run still verifies)
saved node vectors     (``kgrec embed --save DIR``) the user's id becomes a tombstone, its vector
                       row zeros and its stored document empty
text vector cache      the vectors of the user's text document (as saved with the node vectors, and (:func:`kgrec.text.documents.user_documents`
                       as built with the default templates) under every model fingerprint
running recommender    the user's vector, id, history, feedback and every edge in the serving
                       index; the user can no longer be recommended to or appear in a path
=====================  ==========================================================================

The model's shared parameters (projections, item vectors) were trained with the user's data among
everyone else's; forgetting does not retrain them (retrain to remove that influence too).

Example::

    from kgrec.serving.privacy import forget_user
    report = forget_user("42", store=store, run_dirs=[run_dir], recommender=rec)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kgrec.kg import KnowledgeGraph
from kgrec.kg.schema import check_label

from kgrec.errors import InputError, KgrecError, UnknownUserError

logger = logging.getLogger(__name__)

__all__ = ["ForgetReport", "forget_in_cache", "forget_in_memory", "forget_in_run", "forget_in_run_dir",
           "forget_in_store", "forget_in_vectors_dir", "forget_user", "tombstone"]


@dataclass(frozen=True)
class ForgetReport:
    """What :func:`forget_user` removed.

    Args:
        user: the user id.
        nodes: user nodes deleted from the store (0 or 1).
        edges: edges deleted from the store with the node.
        run_dirs: run directories rewritten (those that knew the user).
        vector_dirs: saved node-vector folders rewritten (those that knew the user).
        cache_vectors: vectors removed from the text vector cache.
        in_memory: whether the running recommender knew the user.
    """

    user: str
    nodes: int = 0
    edges: int = 0
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
    if not isinstance(user, str) or not user.strip():
        raise InputError(f"user id {user!r} is empty")
    if "\x00" in user or len(user) > 256:
        raise InputError(f"user id {user[:40]!r}... is not a valid id (NUL or over 256 characters)")
    return user


# -- the store ---------------------------------------------------------------------------------
def forget_in_store(store: Any, user: str, *, graph: str | None = None) -> tuple[int, int]:
    """Delete the user node and its edges. Returns ``(nodes, edges)`` deleted."""
    schema = store.schema(graph=graph)
    label = check_label(schema.user_label)
    before = store.stats(graph=graph).num_edges
    nodes = int(store.delete_nodes(label, [user], graph=graph))
    after = store.stats(graph=graph).num_edges if nodes else before
    logger.info("forgot user %r in the store: %d node, %d edges", user, nodes, before - after)
    return nodes, before - after


# -- runs --------------------------------------------------------------------------------------
def _per_user(name: str, array: np.ndarray, label: str, num_users: int) -> bool:
    parts = name.replace(".", " ").replace("_", " ").split()
    return array.ndim >= 1 and array.shape[0] == num_users and (label in parts or "user" in name.lower())


def forget_in_run(run: Any, user: str) -> tuple[Any, bool]:
    """A copy of a :class:`kgrec.gnn.Run` without the user (see the module docs); ``(run, knew)``."""
    from kgrec.gnn.data import IdMap

    label = run.user_label
    id_map = run.id_maps[label]
    if user not in id_map:
        return run, False
    row = id_map.index(user)
    ids = list(id_map.ids)
    ids[row] = tombstone()
    id_maps = {**run.id_maps, label: IdMap(label, ids, role=id_map.role)}
    num_users = len(ids)

    def zero_row(tensors):
        out = {}
        for name, value in tensors.items():
            value = np.asarray(value)
            if _per_user(name, value, label, num_users):
                value = value.copy()
                value[row] = 0
            out[name] = value
        return out

    node_vectors = dict(run.node_vectors)
    if label in node_vectors:
        vectors = np.array(node_vectors[label], copy=True)
        vectors[row] = 0
        node_vectors[label] = vectors
    weights = zero_row(run.weights)
    split = run.split
    changes: dict[str, Any] = {}
    for part in ("train", "valid", "test"):
        pairs = np.asarray(getattr(split, part))
        keep = pairs[0] != row
        changes[part] = pairs[:, keep]
        labels = getattr(split, f"{part}_labels")
        if labels is not None:
            changes[f"{part}_labels"] = np.asarray(labels)[keep]
    split = dataclasses.replace(split, **changes)
    fold, cold = run.fold, run.cold
    if cold is not None and label in getattr(cold, "basis", {}):
        basis = dict(cold.basis)
        basis[label] = zero_row({label: basis[label]})[label] if np.asarray(basis[label]).shape[0] == num_users \
            else basis[label]
        cold = dataclasses.replace(cold, basis=basis)
    return dataclasses.replace(run, id_maps=id_maps, node_vectors=node_vectors, weights=weights, split=split,
                               cold=cold, fold=fold), True


def forget_in_run_dir(run_dir: str | os.PathLike, user: str) -> bool:
    """Rewrite a run directory without the user (verified before, manifest rewritten after).
    Returns whether the run knew the user."""
    from kgrec.gnn import Run

    run = Run.load(run_dir)
    forgotten, knew = forget_in_run(run, user)
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


# -- the running recommender -------------------------------------------------------------------
def _drop_from_index(index: Any, label: str, row: int) -> None:
    """Remove every edge touching one node from a :class:`GraphIndex` (both directions), and its id."""
    key = index.key(label, row)
    for lab, adj in index._adj.items():
        n = len(adj.indptr) - 1
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(adj.indptr))
        keep = adj.key != key
        if lab == label:
            keep &= rows != row
        if not keep.all():
            counts = np.bincount(rows[keep], minlength=n)
            adj.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            adj.key, adj.step = adj.key[keep], adj.step[keep]
            if adj.logsup is not None:
                adj.logsup = adj.logsup[keep]
        if lab == label:
            adj.extra.pop(int(row), None)
        for r in list(adj.extra):
            kept = [(k, s) for k, s in adj.extra[r] if k != key]
            if kept:
                adj.extra[r] = kept
            else:
                del adj.extra[r]  # the index expects no empty overlay lists
    old = index._ids[label][row]
    index._rows[label].pop(old, None)
    stone = tombstone()
    index._ids[label][row] = stone
    index._names[label][row] = stone


def _graph_without(kg: KnowledgeGraph, user: str, stone: str) -> KnowledgeGraph:
    label = kg.schema.user_label
    users = kg.nodes[label].copy()
    mine = users["id"].astype(str) == user
    if not mine.any():
        return kg
    users.loc[mine, "id"] = stone
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


def forget_in_memory(recommender: Any, user: str) -> bool:
    """Remove the user from a running :class:`~kgrec.serving.Recommender`: vector, id, history,
    feedback and every edge of the serving index. Returns whether it knew the user."""
    rec = recommender
    with rec._lock:
        label = rec.user_label
        row = rec.index.row(label, user)
        run, knew_run = forget_in_run(rec.run, user)
        if row is None and not knew_run:
            return False
        if row is not None:
            _drop_from_index(rec.index, label, row)
            if row < len(rec._users):
                rec._users[row] = 0.0
                rec._has_user[row] = False
                rec._run_row[label][row] = -1
            rec.unit.set(label, row, np.zeros(rec._users.shape[1], dtype=np.float32))
            rec._added.pop(row, None)
            rec._disliked.pop(row, None)
            rec._name_rows.pop(label, None)
        rec.run = run
        rec.kg = _graph_without(rec.kg, user, tombstone())
        logger.info("forgot user %r in the running recommender", user)
        return True


# -- all of it ---------------------------------------------------------------------------------
def forget_user(user: str, *, store: Any = None, graph: str | None = None, recommender: Any = None,
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
        source = kg if kg is not None else getattr(recommender, "kg", None)
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
    if store is not None:
        nodes, edges = forget_in_store(store, user, graph=graph)
    rewritten = tuple(str(d) for d in run_dirs if forget_in_run_dir(d, user))
    in_memory = forget_in_memory(recommender, user) if recommender is not None else False
    if recommender is not None and getattr(recommender.run, "path", None) is not None:
        path = str(recommender.run.path)
        if path not in rewritten and path not in {str(d) for d in run_dirs} and in_memory:
            logger.info("the recommender's run directory %s still holds the user; pass it in run_dirs", path)
    vectors = forget_in_cache(sorted(set(texts)), root=cache_root) if texts and cache else 0
    report = ForgetReport(user, nodes, edges, rewritten, tuple(rewritten_vectors), vectors, in_memory)
    if not report.found and not missing_ok:
        raise UnknownUserError(f"user {user!r} is not in the store, the runs, the cache or the recommender")
    return report
