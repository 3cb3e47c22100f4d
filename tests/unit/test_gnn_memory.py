"""Peak memory of a step (:class:`kgrec.gnn.memory.PeakMemory`, what training runs and the scale
benchmark report): short-lived peaks count, what was there before the meter started does not."""

from __future__ import annotations

import sys

import pytest
import torch

from kgrec.gnn.memory import PeakMemory

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc (Linux)")
MiB = 2**20


@linux
def test_a_freed_allocation_still_counts_in_the_peak():
    with PeakMemory() as meter:
        big = torch.ones(300 * MiB // 4)  # 300 MiB, every page touched, freed before the meter reads
        del big
    assert meter.kernel_peak
    assert meter.peak_mb >= 0.95 * 300
    assert meter.peak_rss_mb >= meter.start + 0.95 * 300


@linux
def test_memory_held_before_the_start_is_not_counted():
    held = torch.ones(300 * MiB // 4)  # allocated and touched before the meter starts
    with PeakMemory() as meter:
        small = torch.ones(8 * MiB // 4)
        del small
    assert meter.peak_mb < 100  # the 300 MiB held across the start are not the step's
    assert meter.peak_rss_mb >= 300  # but they are part of the process's peak
    del held


@linux
def test_each_meter_gets_its_own_figure():
    first = PeakMemory()
    big = torch.ones(300 * MiB // 4)
    del big
    first_peak = first.peak_mb
    second = PeakMemory()  # a later step that allocates little
    small = torch.ones(MiB // 4)
    del small
    assert first_peak >= 0.95 * 300
    assert second.peak_mb < first_peak / 3
