"""The CPU peak-memory figure of training: kernel-kept peaks, one figure per run."""

from __future__ import annotations

import sys

import pytest
import torch

from kgrec.gnn.train import _Memory

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc (Linux)")


@linux
def test_a_short_lived_peak_is_counted_without_sampling():
    memory = _Memory(torch.device("cpu"))
    assert memory.kernel_peak
    big = torch.ones(300 * 2**20 // 4)  # 300 MiB, touched, freed before anything samples
    del big
    assert 280 <= memory.peak_mb() <= 400


@linux
def test_each_run_gets_its_own_figure():
    first = _Memory(torch.device("cpu"))
    big = torch.ones(300 * 2**20 // 4)
    del big
    assert first.peak_mb() >= 280
    second = _Memory(torch.device("cpu"))  # a later run that allocates little
    small = torch.ones(2**20)
    del small
    assert second.peak_mb() < 50
