"""The vector cache and saved NodeVectors: content addressing, checksums, atomic files."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from kgrec.errors import InputError, RunDirError
from kgrec.text import EmbedReport, NodeVectors, VectorCache
from kgrec.text.cache import text_key

FP = "test-model@sha256:abc|pooling=mean|normalize=l2|max_length=128"


def unit_rows(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def shards(cache: VectorCache) -> list:
    return sorted(cache.root.glob("*/shard-*.safetensors"))


def test_put_then_get_in_a_fresh_cache_object(tmp_path):
    texts = [f"text {i}" for i in range(50)]
    vectors = unit_rows(50)
    assert VectorCache(tmp_path).put(FP, texts, vectors, model_id="m") == 50
    fresh = VectorCache(tmp_path)  # as a second process would see it
    hit = fresh.get(FP, ["unknown", *texts[::-1]])
    assert hit.found.tolist() == [False] + [True] * 50
    np.testing.assert_array_equal(hit.vectors[1:], vectors[::-1])
    assert not hit.vectors[0].any()
    assert fresh.put(FP, texts, vectors) == 0  # nothing new: no new shard
    assert len(shards(fresh)) == 1
    assert not list(tmp_path.rglob(".tmp-*"))  # temporary files were renamed, none left behind


def test_keys_depend_on_model_fingerprint_and_text(tmp_path):
    cache = VectorCache(tmp_path)
    cache.put(FP, ["a"], unit_rows(1))
    assert cache.get(FP + "|other", ["a"]).num_found == 0
    assert cache.get(FP, ["a "]).num_found == 0
    assert text_key(FP, "a") != text_key(FP + "x", "a")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_shard_is_detected_logged_and_never_used(tmp_path, caplog, damage):
    texts = [f"t{i}" for i in range(20)]
    VectorCache(tmp_path).put(FP, texts, unit_rows(20))
    (path,) = shards(VectorCache(tmp_path))
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-5] ^= 0xFF  # a bit flip inside the vectors: the file still parses
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    cache = VectorCache(tmp_path)
    with caplog.at_level(logging.WARNING, logger="kgrec.text.cache"):
        hit = cache.get(FP, texts)
    assert hit.num_found == 0
    assert cache.rebuilt == 1
    assert "checksum mismatch" in caplog.text
    assert not path.exists() and path.with_name(path.name + ".corrupt").exists()
    # the caller re-encodes and puts: a new, valid shard
    again = unit_rows(20, seed=1)
    assert cache.put(FP, texts, again) == 20
    np.testing.assert_array_equal(VectorCache(tmp_path).get(FP, texts).vectors, again)


def test_many_small_writes_are_merged(tmp_path):
    cache = VectorCache(tmp_path, max_shards=3)
    all_texts, all_vectors = [], []
    for i in range(6):
        texts = [f"batch {i} text {j}" for j in range(5)]
        vectors = unit_rows(5, seed=i)
        cache.put(FP, texts, vectors)
        all_texts += texts
        all_vectors.append(vectors)
    assert len(shards(cache)) <= 3
    hit = VectorCache(tmp_path).get(FP, all_texts)
    assert hit.found.all()
    np.testing.assert_array_equal(hit.vectors, np.concatenate(all_vectors))


def test_sizes_are_checked(tmp_path):
    cache = VectorCache(tmp_path)
    cache.put(FP, ["a"], unit_rows(1, dim=8))
    with pytest.raises(InputError, match="size 4"):
        cache.put(FP, ["b"], unit_rows(1, dim=4))
    with pytest.raises(InputError, match="do not match"):
        cache.put(FP, ["b", "c"], unit_rows(1))


def node_vectors() -> NodeVectors:
    return NodeVectors(model_id="m", fingerprint=FP, dim=8,
                       vectors={"User": unit_rows(3), "Item": unit_rows(2, seed=1)},
                       ids={"User": ["u1", "u2", "u3"], "Item": ["i1", "i2"]},
                       documents={"User": ["a", "b", "c"], "Item": ["d", "e"]},
                       report=EmbedReport(encoded={"User": 3, "Item": 0}, cached={"User": 0, "Item": 2}, seconds=1.5,
                                          encode_seconds=1.0, unique_encoded=3))


def test_node_vectors_save_and_load(tmp_path):
    nv = node_vectors()
    nv.save(tmp_path / "run")
    back = NodeVectors.load(tmp_path / "run")
    assert back.model_id == "m" and back.fingerprint == FP and back.dim == 8
    assert back.ids == nv.ids and back.documents == nv.documents
    for label in nv.vectors:
        np.testing.assert_array_equal(back[label], nv[label])
    assert back.report.encoded == {"User": 3, "Item": 0}
    assert back.report.encoded_per_second == pytest.approx(3.0)


def test_node_vectors_refuse_a_tampered_or_missing_file(tmp_path):
    node_vectors().save(tmp_path)
    with pytest.raises(RunDirError, match="missing"):
        NodeVectors.load(tmp_path / "elsewhere")
    path = tmp_path / "node_vectors.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(RunDirError, match="checksum"):
        NodeVectors.load(tmp_path)
