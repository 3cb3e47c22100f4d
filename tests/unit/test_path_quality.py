"""The smoothing behind LIR and SEP (issue 20): the replication study's EMA ranks, with ties equal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgrec.serving.path_quality import smoothed_rank


def test_smoothed_rank_follows_the_studys_ema_and_scaling():
    values = np.array([30.0, 10.0, 20.0, 50.0, 40.0])
    got = smoothed_rank(values)
    ema = pd.Series(np.sort(values)).ewm(span=5).mean().to_numpy()
    expected = (ema - ema.min()) / (ema.max() - ema.min())
    assert got[np.argsort(values)] == pytest.approx(expected)
    assert got[1] == 0.0 and got[3] == 1.0  # oldest / least connected 0, newest / most connected 1
    assert np.all(np.diff(got[np.argsort(values)]) > 0)


def test_ties_share_one_value_and_degenerate_inputs():
    got = smoothed_rank(np.array([5.0, 1.0, 5.0, 3.0, 5.0]))
    assert got[0] == got[2] == got[4] == 1.0 and got[1] == 0.0 and 0 < got[3] < 1
    assert smoothed_rank(np.array([7.0, 7.0])).tolist() == [1.0, 1.0]
    assert smoothed_rank(np.array([7.0])).tolist() == [1.0]
    assert smoothed_rank(np.array([])).shape == (0,)
    # the order of equal values does not matter (the study's order among ties did)
    a = smoothed_rank(np.array([1.0, 2.0, 2.0, 3.0]))
    b = smoothed_rank(np.array([2.0, 1.0, 3.0, 2.0]))
    assert sorted(a.tolist()) == sorted(b.tolist())
