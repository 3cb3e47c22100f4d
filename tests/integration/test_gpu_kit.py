"""benchmarks/gpu/pack_model.py: the text model packed to travel to a lent GPU machine, and unpacked there."""

from __future__ import annotations

import numpy as np
from safetensors.numpy import load_file, save_file

from benchmarks.gpu import pack_model


def test_matrices_come_back_within_half_a_step_of_their_row_and_vectors_exactly(tmp_path):
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((50, 384)).astype(np.float32)
    matrix[7] = 0.0  # a row of zeros has no scale to divide by
    vector = rng.standard_normal(384).astype(np.float32)
    source = tmp_path / "model"
    source.mkdir()
    save_file({"w": matrix, "b": vector}, source / pack_model.WEIGHTS)
    (source / "config.json").write_text("{}")

    pack_model.pack(source, tmp_path / "packed")
    pack_model.unpack(tmp_path / "packed", tmp_path / "unpacked")

    back = load_file(tmp_path / "unpacked" / pack_model.WEIGHTS)
    step = np.abs(matrix).max(axis=1, keepdims=True) / 127
    assert back["w"].dtype == np.float32 and back["w"].shape == matrix.shape
    assert (np.abs(back["w"] - matrix) <= step / 2 + 1e-7).all()
    assert not back["w"][7].any()
    assert np.array_equal(back["b"], vector)
    assert (tmp_path / "unpacked" / "config.json").read_text() == "{}"
    packed_size = (tmp_path / "packed" / pack_model.PACKED).stat().st_size
    assert packed_size < 0.3 * (source / pack_model.WEIGHTS).stat().st_size


def test_the_packed_copy_of_the_real_model_encodes_like_the_original(tmp_path, lastfm_kg):
    from kgrec.text.encoder import default_model_path

    pack_model.pack(default_model_path(), tmp_path / "packed")
    pack_model.unpack(tmp_path / "packed", tmp_path / "unpacked")
    names = lastfm_kg.items["name"].astype(str).tolist()[:200]
    assert pack_model.compare_encodings(default_model_path(), tmp_path / "unpacked", names) > 0.995
