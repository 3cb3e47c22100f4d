"""Peak memory of a step of work: the figure training runs and benchmarks report.

:class:`PeakMemory` measures the peak that a piece of work adds on top of what the process held
when the meter started: CUDA's peak allocation on a CUDA device; on the CPU the peak resident set
of the process, which on Linux the kernel keeps itself (``VmHWM`` in ``/proc/self/status``, so a
short-lived peak that no sampling would see is still counted). Starting a meter resets that
kernel peak (``/proc/self/clear_refs`` 5) after handing back to the system the C heap that earlier
work freed (``malloc_trim``), so each run of a benchmark gets a figure of its own. Where the kernel
peak is not available the resident set is sampled at each :meth:`PeakMemory.sample` (a lower bound).

Example::

    with PeakMemory() as meter:
        step()
    meter.peak_mb          # what step() added at its peak, MiB
    meter.peak_rss_mb      # the process's whole resident set at that peak (CPU), MiB
"""

from __future__ import annotations

from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")


def status_mb(key: str) -> float:
    """A ``kB`` line of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MiB; 0 where there is no /proc."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakMemory:
    """The peak memory that work adds after the meter starts (see the module docstring).

    Args:
        device: where the work runs (default: the CPU).
    """

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.kernel_peak = False
        self.start = 0.0
        self.peak = 0.0
        self.restart()

    def restart(self) -> PeakMemory:
        """Start (again): the figures count from now."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            _trim_heap()
            self.kernel_peak = _reset_peak_rss()
            self.start = status_mb("VmRSS")
        self.peak = self.start
        return self

    def __enter__(self) -> PeakMemory:
        return self.restart()

    def __exit__(self, *exc) -> None:
        self.sample()

    def sample(self) -> None:
        """Note the current size where the kernel keeps no peak (call it inside long loops)."""
        if self.device.type != "cuda" and not self.kernel_peak:
            self.peak = max(self.peak, status_mb("VmRSS"))

    @property
    def peak_rss_mb(self) -> float:
        """The whole process's peak since the start (CUDA: peak allocated), MiB."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return status_mb("VmHWM") if self.kernel_peak else self.peak

    @property
    def peak_mb(self) -> float:
        """What the work added at its peak: the peak minus the size at the start, MiB."""
        return max(0.0, self.peak_rss_mb - self.start)


def _trim_heap() -> None:
    """Return freed C-heap memory to the system (glibc ``malloc_trim``), after a garbage collection."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak resident set of this process to its current size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
