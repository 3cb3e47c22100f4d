"""`VectorCache`: a content-addressed store of text vectors on disk.

A vector's key is ``sha256(fingerprint + "\\0" + text)``, where the fingerprint names the model, its
revision or weights hash, the pooling and ``max_length`` (:attr:`TextEncoder.fingerprint`): the same
text under the same model is encoded once; another model (or another revision of its weights) gets
other keys, so changing the model invalidates nothing by hand.

Layout under ``root`` (default ``KGREC_HOME/cache/vectors``)::

    <sha256(fingerprint)[:16]>/
        model.json                         fingerprint, model id, dim (written once)
        shard-<sha256 of the file>.safetensors
                                           "keys" uint8 [n, 32] and "vectors" float32 [n, dim]

Each write adds one shard (or several of at most ``shard_rows`` rows): written to a temporary
file, flushed, then renamed into place under a name that carries the sha256 of its bytes. The
index (key → shard, row) is rebuilt in memory from the shards on first use; every shard is checked
against the checksum in its name, so a corrupted or truncated file is detected, logged, moved
aside (``*.corrupt``) and its vectors are treated as missing — the caller re-encodes them and
they land in a new shard. Nothing from a bad file is ever returned. When more than
``max_shards`` shards pile up, :meth:`VectorCache.put` merges them into one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgrec.config import cache_dir
from kgrec.errors import CacheCorruptError, InputError

logger = logging.getLogger(__name__)

_SHARD_PREFIX = "shard-"
_SHARD_SUFFIX = ".safetensors"


def text_key(fingerprint: str, text: str) -> bytes:
    """The 32-byte content address of ``text`` under ``fingerprint``."""
    return hashlib.sha256(fingerprint.encode("utf-8") + b"\0" + text.encode("utf-8")).digest()


@dataclass(frozen=True)
class CacheLookup:
    """What :meth:`VectorCache.get` found.

    Shapes:
        vectors: ``[n, dim]`` float32; rows where ``found`` is False are zeros.
        found: ``[n]`` bool.
    """

    vectors: np.ndarray
    found: np.ndarray

    @property
    def num_found(self) -> int:
        return int(self.found.sum())


@dataclass(frozen=True)
class CacheInfo:
    """What the cache holds for one fingerprint."""

    fingerprint: str
    path: Path
    shards: int
    vectors: int
    bytes: int
    dim: int | None


class _Space:
    """The vectors of one fingerprint: shard files and the in-memory index over them."""

    def __init__(self, path: Path, fingerprint: str):
        self.path = path
        self.fingerprint = fingerprint
        self.index: dict[bytes, tuple[int, int]] = {}
        self.matrices: list[np.ndarray] = []
        self.files: list[Path] = []
        self.dim: int | None = None
        self.loaded = False


class VectorCache:
    """Vectors of texts, keyed by model fingerprint and text, on disk.

    Args:
        root: the cache folder (default: ``KGREC_HOME/cache/vectors``).
        shard_rows: most rows in one shard file (default: 50,000).
        max_shards: shards per model before they are merged into one (default: 32).

    The constructor does no I/O; the first :meth:`get` or :meth:`put` of a fingerprint reads its
    shards (checking each one's checksum).
    """

    def __init__(self, root: str | os.PathLike | None = None, *, shard_rows: int = 50_000, max_shards: int = 32):
        self._root = Path(root) if root is not None else None
        self.shard_rows = int(shard_rows)
        self.max_shards = int(max_shards)
        self._spaces: dict[str, _Space] = {}
        self._lock = threading.RLock()
        self.rebuilt = 0  # corrupted shards found and set aside since this object was made

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = cache_dir("vectors")
        return self._root

    def _space(self, fingerprint: str) -> _Space:
        space = self._spaces.get(fingerprint)
        if space is None:
            digest = hashlib.sha256(fingerprint.encode("utf-8")).hexdigest()[:16]
            space = self._spaces[fingerprint] = _Space(self.root / digest, fingerprint)
        if not space.loaded:
            self._load(space)
        return space

    # -- reading -----------------------------------------------------------------------------------
    def _load(self, space: _Space) -> None:
        space.index.clear()
        space.matrices.clear()
        space.files.clear()
        space.loaded = True
        if not space.path.is_dir():
            return
        meta = space.path / "model.json"
        if meta.is_file():
            try:
                info = json.loads(meta.read_text(encoding="utf-8"))
                if info.get("fingerprint") != space.fingerprint:
                    logger.warning("vector cache %s belongs to another model (%s); ignoring it",
                                   space.path, info.get("fingerprint"))
                    return
                space.dim = int(info["dim"]) if info.get("dim") is not None else None
            except (OSError, ValueError, KeyError) as e:
                logger.warning("vector cache %s: unreadable model.json (%s); rewriting it", meta, e)
        for path in sorted(space.path.glob(f"{_SHARD_PREFIX}*{_SHARD_SUFFIX}")):
            try:
                keys, vectors = self._read_shard(path, space)
            except CacheCorruptError as e:
                self._set_aside(path, str(e))
                continue
            if space.dim is None:
                space.dim = vectors.shape[1]
            if vectors.shape[1] != space.dim:
                self._set_aside(path, f"vectors of size {vectors.shape[1]}, expected {space.dim}")
                continue
            n = len(space.matrices)
            space.matrices.append(vectors)
            space.files.append(path)
            _index_keys(space, keys, n)

    def _read_shard(self, path: Path, space: _Space) -> tuple[np.ndarray, np.ndarray]:
        from safetensors import SafetensorError
        from safetensors.numpy import load

        expected = path.name[len(_SHARD_PREFIX):-len(_SHARD_SUFFIX)]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise CacheCorruptError(f"{path}: cannot read: {e.strerror}") from e
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise CacheCorruptError(f"{path}: checksum mismatch ({len(data)} bytes, sha256 {actual[:12]}…)")
        try:
            tensors = load(data)
        except (SafetensorError, ValueError) as e:
            raise CacheCorruptError(f"{path}: not a valid safetensors file: {e}") from e
        keys, vectors = tensors.get("keys"), tensors.get("vectors")
        if (keys is None or vectors is None or keys.ndim != 2 or keys.shape[1] != 32 or vectors.ndim != 2
                or len(keys) != len(vectors) or vectors.dtype != np.float32):
            raise CacheCorruptError(f"{path}: unexpected contents")
        return keys, vectors

    def _set_aside(self, path: Path, reason: str) -> None:
        logger.warning("vector cache: %s; setting it aside and re-encoding its texts", reason)
        self.rebuilt += 1
        try:
            path.replace(path.with_name(path.name + ".corrupt"))
        except OSError:
            try:
                path.unlink()
            except OSError as e:  # pragma: no cover - read-only cache folder
                logger.warning("vector cache: cannot remove %s: %s", path, e.strerror)

    def get(self, fingerprint: str, texts: Sequence[str]) -> CacheLookup:
        """The cached vectors of ``texts`` under ``fingerprint``, and which were found."""
        with self._lock:
            space = self._space(fingerprint)
            n = len(texts)
            found = np.zeros(n, dtype=bool)
            if space.dim is None or not space.index:
                return CacheLookup(np.zeros((n, space.dim or 0), dtype=np.float32), found)
            out = np.zeros((n, space.dim), dtype=np.float32)
            lookup = space.index.get
            hits = [lookup(text_key(fingerprint, text)) for text in texts]
            found = np.fromiter((h is not None for h in hits), dtype=bool, count=n)
            places = np.array([h for h in hits if h is not None], dtype=np.int64).reshape(-1, 2)
            where = np.flatnonzero(found)
            for s, matrix in enumerate(space.matrices):
                mine = places[:, 0] == s
                if mine.any():
                    out[where[mine]] = matrix[places[mine, 1]]
            return CacheLookup(out, found)

    # -- writing -----------------------------------------------------------------------------------
    def put(self, fingerprint: str, texts: Sequence[str], vectors: np.ndarray, *, model_id: str = "") -> int:
        """Store vectors of ``texts`` (rows of ``vectors``); returns how many were new."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise InputError(f"vectors of shape {vectors.shape} do not match {len(texts)} texts")
        with self._lock:
            space = self._space(fingerprint)
            if space.dim is not None and vectors.shape[1] != space.dim:
                raise InputError(f"vectors of size {vectors.shape[1]}; this model's cache holds size {space.dim}")
            keys, rows, fresh = [], [], set()
            for i, text in enumerate(texts):
                key = text_key(fingerprint, text)
                if key not in space.index and key not in fresh:
                    fresh.add(key)
                    keys.append(key)
                    rows.append(i)
            if not keys:
                return 0
            space.path.mkdir(parents=True, exist_ok=True)
            if space.dim is None or not (space.path / "model.json").is_file():
                space.dim = vectors.shape[1]
                _atomic_write(space.path / "model.json", json.dumps(
                    {"fingerprint": fingerprint, "model_id": model_id, "dim": space.dim}, indent=1).encode())
            key_matrix = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
            new = vectors[rows]
            for start in range(0, len(keys), self.shard_rows):
                self._write_shard(space, key_matrix[start:start + self.shard_rows], new[start:start + self.shard_rows])
            if len(space.files) > self.max_shards:
                self._compact(space)
            return len(keys)

    def _write_shard(self, space: _Space, keys: np.ndarray, vectors: np.ndarray) -> None:
        from safetensors.numpy import save

        data = save({"keys": np.ascontiguousarray(keys), "vectors": np.ascontiguousarray(vectors)},
                    metadata={"fingerprint": space.fingerprint, "rows": str(len(keys))})
        digest = hashlib.sha256(data).hexdigest()
        path = space.path / f"{_SHARD_PREFIX}{digest}{_SHARD_SUFFIX}"
        _atomic_write(path, data)
        n = len(space.matrices)
        space.matrices.append(vectors.copy())
        space.files.append(path)
        _index_keys(space, keys, n)

    def _compact(self, space: _Space) -> None:
        """Merge every shard of a space into as few as ``shard_rows`` allows."""
        old = list(space.files)
        places = list(space.index.items())
        keys = np.frombuffer(b"".join(k for k, _ in places), dtype=np.uint8).reshape(len(places), 32)
        vectors = np.empty((len(places), space.dim or 0), dtype=np.float32)
        shard = np.fromiter((s for _, (s, _) in places), dtype=np.int64, count=len(places))
        row = np.fromiter((r for _, (_, r) in places), dtype=np.int64, count=len(places))
        for s, matrix in enumerate(space.matrices):
            mine = np.flatnonzero(shard == s)
            vectors[mine] = matrix[row[mine]]
        space.index.clear()
        space.matrices.clear()
        space.files.clear()
        for start in range(0, len(keys), self.shard_rows):
            self._write_shard(space, keys[start:start + self.shard_rows], vectors[start:start + self.shard_rows])
        kept = set(space.files)
        for path in old:
            if path not in kept:
                try:
                    path.unlink()
                except OSError:
                    pass
        logger.info("vector cache %s: merged %d shards into %d", space.path, len(old), len(space.files))

    # -- maintenance -------------------------------------------------------------------------------
    def info(self, fingerprint: str) -> CacheInfo:
        with self._lock:
            space = self._space(fingerprint)
            size = sum(p.stat().st_size for p in space.files if p.exists())
            return CacheInfo(fingerprint, space.path, len(space.files), len(space.index), size, space.dim)

    def reload(self) -> None:
        """Forget what is in memory; the next access reads the shards again."""
        with self._lock:
            for space in self._spaces.values():
                space.loaded = False

    def clear(self, fingerprint: str | None = None) -> None:
        """Delete the cached vectors of one fingerprint (or all of them)."""
        import shutil

        with self._lock:
            if fingerprint is None:
                if self.root.is_dir():
                    for child in self.root.iterdir():
                        if child.is_dir():
                            shutil.rmtree(child, ignore_errors=True)
                self._spaces.clear()
                return
            space = self._space(fingerprint)
            shutil.rmtree(space.path, ignore_errors=True)
            space.loaded = False


def _index_keys(space: _Space, keys: np.ndarray, shard: int) -> None:
    buf = np.ascontiguousarray(keys).tobytes()
    setdefault = space.index.setdefault
    for row in range(len(keys)):
        setdefault(buf[32 * row:32 * row + 32], (shard, row))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
