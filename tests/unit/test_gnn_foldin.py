"""Fold-in and cold-start recipes: the numpy arithmetic that serving relies on, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.errors import InputError
from kgrec.gnn.foldin import ColdStart, FoldIn


def test_propagate_fold_in_by_hand():
    basis = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]], np.float32)
    fold = FoldIn("propagate", basis)
    # (row0 + row2) / sqrt(2)
    np.testing.assert_allclose(fold.apply(np.array([0, 2])), np.array([4.0, 4.0]) / np.sqrt(2), rtol=1e-6)
    with pytest.raises(InputError, match="out of range"):
        fold.apply(np.array([3]))


def test_fold_in_normalise_then_append_the_bias_column():
    """A model with a per-item score offset kept as one more column: the user's side of it is a constant
    1 after the cosine normalisation, so ``[u, 1] · [i, b] = cos(u, i) + b``."""
    basis = np.array([[3.0, 0.0], [0.0, 4.0]], np.float32)
    fold = FoldIn("propagate", basis, normalize=True, append=1.0)
    v = fold.apply(np.array([0, 1]))
    assert v.shape == (3,)
    np.testing.assert_allclose(v, [0.6, 0.8, 1.0], rtol=1e-6)
    again = FoldIn.from_tensors("propagate", fold.tensors(), fold.meta())
    np.testing.assert_array_equal(again.apply(np.array([0, 1])), v)
    # runs saved before these options existed load with neither
    old = FoldIn.from_tensors("propagate", fold.tensors())
    assert old.apply(np.array([0, 1])).shape == (2,)


def test_cold_start_by_hand_with_append():
    cold = ColdStart(np.eye(2, dtype=np.float32), np.array([1.0, 0.0], np.float32), 0.5,
                     {"Tag": np.array([[0.0, 2.0], [0.0, 6.0]], np.float32)}, {"Tag": 0.5}, normalize=False,
                     per_label=True, append=-0.25)
    v = cold.apply(np.array([1.0, 1.0]), {"Tag": np.array([0, 1])})
    # 0.5 * ([1, 1] + [1, 0]) + 0.5 * ([0, 8] / sqrt(2)), then the offset column
    expected = np.array([1.0, 0.5 + 0.5 * 8 / np.sqrt(2), -0.25])
    np.testing.assert_allclose(v, expected, rtol=1e-6)
    again = ColdStart.from_tensors(cold.meta(), cold.tensors())
    np.testing.assert_allclose(again.apply(np.array([1.0, 1.0]), {"Tag": np.array([0, 1])}), expected, rtol=1e-6)


@pytest.mark.parametrize("kind", ["propagate", "sum", "mean", "ridge", "constant"])
def test_fold_in_many_equals_one_at_a_time(kind):
    """The batched fold-in (the live consumer's) gives each user the vector the one-user path gives:
    duplicates counted twice, an empty history, normalise/append/scale and a tail block."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(30, 6)).astype(np.float32)
    post = rng.normal(size=(6, 4)) if kind == "ridge" else None
    constant = rng.normal(size=6).astype(np.float32) if kind == "constant" else None
    tail = FoldIn("sum", rng.normal(size=(30, 11)).astype(np.float32))
    fold = FoldIn(kind, basis, post, constant, normalize=kind != "sum", append=0.5, scale=1.7, tail=tail)
    lists = [np.array([3, 7, 7, 29]), np.array([], dtype=np.int64), np.array([0]), rng.integers(0, 30, 25)]
    many = fold.apply_many(lists)
    assert many.dtype == np.float32 and many.shape == (4, len(fold.apply(lists[0])))
    for row, items in zip(many, lists):
        np.testing.assert_allclose(row, fold.apply(items), rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="out of range"):
        fold.apply_many([np.array([30])])
