"""The real encoder (packaged all-MiniLM-L6-v2) on real documents."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kgrec.errors import ConfigError, ModelLoadError
from kgrec.text import TextEncoder
from kgrec.text.documents import node_documents
from kgrec.text.encoder import default_model_path

TEXTS = ["artist: Opeth. tags: progressive metal, death metal.", "tag: pop.", "a",
         "user. listened to: " + ", ".join(f"band {i}" for i in range(200))]  # longer than max_length


def test_vectors_are_unit_length_float32_and_deterministic(text_encoder):
    a = text_encoder.encode(TEXTS)
    assert a.shape == (4, 384) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, text_encoder.encode(TEXTS))
    # input order is kept although batches run longest first
    np.testing.assert_allclose(text_encoder.encode(TEXTS[::-1]), a[::-1], atol=1e-6)
    # a text's vector does not depend on its batch companions (padding is masked out)
    alone = np.stack([text_encoder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(alone, a, atol=1e-5)
    assert text_encoder.encode([]).shape == (0, 384)


def test_a_model_named_by_path_gives_the_same_vectors(text_encoder):
    by_path = TextEncoder(str(default_model_path()), device="cpu", batch_size=2)
    np.testing.assert_allclose(by_path.encode(TEXTS), text_encoder.encode(TEXTS), atol=1e-5)
    assert by_path.model_id == str(default_model_path().resolve())


def test_fingerprint_needs_no_model_and_follows_what_changes_vectors():
    enc = TextEncoder()
    fp = enc.fingerprint
    assert not enc.is_loaded
    assert "sentence-transformers/all-MiniLM-L6-v2@sha256:" in fp and "pooling=mean" in fp
    assert TextEncoder(batch_size=7).fingerprint == fp  # batching does not change vectors
    assert TextEncoder(max_length=64).fingerprint != fp


def test_metal_bands_are_closer_to_each_other_than_to_a_pop_singer(lastfm_kg, text_encoder):
    docs = node_documents(lastfm_kg, labels=["Artist"])["Artist"]
    names = lastfm_kg.nodes["Artist"]["name"].tolist()
    pick = {n: docs[names.index(n)] for n in ("Opeth", "Katatonia", "Britney Spears", "Madonna")}
    v = dict(zip(pick, text_encoder.encode(list(pick.values()))))
    metal = float(v["Opeth"] @ v["Katatonia"])
    assert metal > float(v["Opeth"] @ v["Britney Spears"]) + 0.1
    assert metal > float(v["Katatonia"] @ v["Madonna"]) + 0.1
    assert float(v["Britney Spears"] @ v["Madonna"]) > float(v["Britney Spears"] @ v["Opeth"])


def test_an_unknown_model_fails_fast_with_a_clear_message():
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        TextEncoder("no/such-model").encode(["x"])
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert "'no/such-model'" in message and "HF_HUB_OFFLINE" in message
    with pytest.raises(ModelLoadError, match="no such directory"):
        TextEncoder("/nonexistent/models/minilm").encode(["x"])
    with pytest.raises(ModelLoadError):
        _ = TextEncoder("no/such-model").fingerprint


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="batch_size"):
        TextEncoder(batch_size=0)
    with pytest.raises(ConfigError, match="device"):
        TextEncoder(device="tpu")


def test_the_encoder_neither_reads_nor_sets_environment_variables(monkeypatch):
    """Downloads are an option of the encoder (``download=``; the ``kgrec`` command sets it from
    ``HF_HUB_OFFLINE`` at the edge), not an environment variable set deep in the text layer."""
    import os

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = dict(os.environ)
    start = time.perf_counter()
    with pytest.raises(ModelLoadError, match="downloads are off"):
        TextEncoder("no/such-model").load()
    assert time.perf_counter() - start < 10
    assert dict(os.environ) == before  # nothing set behind the caller's back
    assert TextEncoder().download is False and TextEncoder(download=True).download is True
    # the packaged model loads from its folder either way
    assert TextEncoder(device="cpu").dim == 384
