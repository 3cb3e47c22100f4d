"""Pseudonymisation: a graph with every user id replaced by a keyed hash (HMAC-SHA256), for exports
that must not carry real user ids (``kgrec export --pseudonymize``, key from ``KGREC_PSEUDONYM_KEY``)."""

from __future__ import annotations

import hashlib
import hmac
import os

import pandas as pd

from kgrec.errors import ConfigError

from .graph import KnowledgeGraph

PSEUDONYM_KEY_ENV = "KGREC_PSEUDONYM_KEY"


def pseudonym_key_from_env(env: str = PSEUDONYM_KEY_ENV) -> bytes:
    """The HMAC key of :func:`pseudonymize` from the environment variable ``env`` (UTF-8 bytes).

    Raises:
        ConfigError: the variable is missing, empty or shorter than 16 characters.
    """
    value = os.environ.get(env)
    if not value:
        raise ConfigError(f"pseudonymizing needs a secret key in the environment variable {env} (at least 16 "
                          f"characters; e.g. export {env}=$(openssl rand -hex 32)); it is not set")
    if len(value) < 16:
        raise ConfigError(f"{env} is {len(value)} characters long; use a secret of at least 16 characters")
    return value.encode("utf-8")


def pseudonymize(kg: KnowledgeGraph, key: bytes) -> KnowledgeGraph:
    """The same graph with every user id replaced by ``HMAC-SHA256(key, id)`` in hex.

    User nodes get the keyed hash as id and as name (a real name would undo the point); every edge
    that starts or ends at a user refers to the hash. Other labels and user texts are left alone.
    ``metadata["pseudonymized"]`` is set to True.
    """
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise ConfigError("pseudonymize_key must be non-empty bytes")
    user = kg.schema.user_label
    ids = kg.nodes[user]["id"]
    uniques = pd.unique(ids.dropna())
    mapping = {u: hmac.new(bytes(key), str(u).encode("utf-8"), hashlib.sha256).hexdigest() for u in uniques}
    nodes = dict(kg.nodes)
    users = kg.nodes[user].copy()
    users["id"] = ids.map(mapping).astype("string")
    users["name"] = users["id"]
    nodes[user] = users

    def _map(values: pd.Series) -> pd.Series:
        # ids that are not user nodes (a validation error elsewhere) are hashed the same way
        out = values.map(mapping)
        missing = out.isna() & values.notna()
        if missing.any():
            out[missing] = values[missing].map(
                lambda v: hmac.new(bytes(key), str(v).encode("utf-8"), hashlib.sha256).hexdigest())
        return out.astype("string")

    edges = {}
    for et, df in kg.edges.items():
        if user in (et[0], et[2]):
            df = df.copy()
            if et[0] == user:
                df["src"] = _map(df["src"])
            if et[2] == user:
                df["dst"] = _map(df["dst"])
        edges[et] = df
    return KnowledgeGraph(kg.schema, nodes, edges, name=kg.name, metadata={**kg.metadata, "pseudonymized": True},
                          sources=kg.sources)


__all__ = ["PSEUDONYM_KEY_ENV", "pseudonym_key_from_env", "pseudonymize"]
