"""Bounded load on loopback: ``kgrec serve`` in a subprocess, ``GET /v1/users/{id}/recommendations
?explain=true`` from client threads, a fixed request count and a time limit. No errors, and the
service's memory stays flat (resident size after warm-up vs at the end).

The default run sends a short burst (about half a minute); ``-m slow`` a longer one. The figures
in benchmarks/notes/reliability.md come from ``benchmarks/reliability_load.py`` on the full lastfm
run."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kgrec.kg.stores import open_store

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("reliability_load", REPO / "benchmarks" / "reliability_load.py")
load = importlib.util.module_from_spec(spec)
sys.modules["reliability_load"] = load
spec.loader.exec_module(load)

FLAT_MIB = 25.0  # resident memory may move by allocator noise, not by a leak


@pytest.fixture(scope="module")
def service(serving_run, lastfm_small_kg):
    folder = tempfile.mkdtemp(prefix="kgrec-load-", dir="/tmp")
    url = f"embedded:{folder}"
    with open_store(url) as s:
        s.write(lastfm_small_kg, graph=lastfm_small_kg.name)
    with load.ServiceProcess(serving_run.path, url, lastfm_small_kg.name) as svc:
        yield svc
    from kgrec.kg.stores.embedded import EmbeddedStore

    EmbeddedStore(url).stop()
    shutil.rmtree(folder, ignore_errors=True)


def _check(result, *, requests: int, max_seconds: float, started: float) -> None:
    assert result.errors == 0, result.error_samples
    assert time.monotonic() - started < max_seconds + 60  # stops by itself
    assert result.requests == requests or result.stopped_by == "time"
    assert result.requests >= 50
    assert result.p50_ms <= result.p99_ms <= result.max_ms
    assert result.rss_growth_mib <= FLAT_MIB, (result.rss_after_warmup_mib, result.rss_end_mib)


def test_short_load_has_no_errors_and_flat_memory(service, serving_run):
    users = load.run_users(serving_run.path)
    started = time.monotonic()
    result = load.run_load(service.url, users, pid=service.pid, requests=400, concurrency=4, max_seconds=30)
    print("\nshort load:", result.to_dict())
    _check(result, requests=400, max_seconds=30, started=started)


@pytest.mark.slow
def test_long_load_has_no_errors_and_flat_memory(service, serving_run):
    users = load.run_users(serving_run.path)
    started = time.monotonic()
    result = load.run_load(service.url, users, pid=service.pid, requests=4000, concurrency=8, max_seconds=240)
    print("\nlong load:", result.to_dict())
    _check(result, requests=4000, max_seconds=240, started=started)
