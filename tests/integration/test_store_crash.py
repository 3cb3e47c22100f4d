"""Kill and re-run: an ingest killed half-way (the writer, or the embedded server itself, with
SIGKILL) and then run again ends in the same state as a clean ingest. Writes are idempotent
upserts and the embedded server replays its append-only file, so nothing needs repair.

The default run uses the 60-user lastfm subgraph through the Python API; ``-m slow`` runs the
full ``kgrec ingest lastfm`` in a subprocess."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgrec.errors import KgrecError
from kgrec.kg import KnowledgeGraph
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore, _pid_alive

REPO = Path(__file__).resolve().parents[2]
WRITER = ("import pickle, sys\n"
          "from kgrec.kg.stores import open_store\n"
          "kg = pickle.load(open(sys.argv[1], 'rb'))\n"
          "open_store(sys.argv[2], batch_size=int(sys.argv[3])).write(kg, graph=sys.argv[4])\n")


@pytest.fixture()
def crash_dir(tmp_path):
    path = tmp_path / "crash"
    yield path
    EmbeddedStore(f"embedded:{path}").stop()


def _edges_so_far(url: str, graph: str) -> int:
    try:
        with open_store(url, retries=0) as s:
            return int(s.query("MATCH ()-[r]->() RETURN count(r) AS n", graph=graph).scalar())
    except KgrecError:
        return 0  # not started writing yet (no graph), or the server is being killed


def _kill_half_way(proc: subprocess.Popen, url: str, graph: str, total_edges: int, victim: str,
                   timeout: float = 600) -> int:
    """Wait until about 40% of the edges are in, then SIGKILL the writer or the server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the writer ended (status {proc.returncode}) before it was killed: {err[-2000:]}")
        n = _edges_so_far(url, graph)
        if n >= 0.4 * total_edges:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the write did not get 40% of the way within the time limit")
    pid = proc.pid if victim == "writer" else EmbeddedStore(url).pid()
    os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=120)
    end = time.monotonic() + 30
    while _pid_alive(pid) and time.monotonic() < end:
        time.sleep(0.05)
    assert not _pid_alive(pid)
    assert proc.returncode != 0
    return n


def _assert_equals_clean_ingest(url: str, graph: str, kg: KnowledgeGraph) -> None:
    with open_store(url) as store:
        assert store.state(graph=graph) == "complete"
        stats, expected = store.stats(graph=graph), kg.stats(degrees=False)
        assert stats.nodes == expected.nodes
        assert stats.edges == expected.edges
        assert store.read(graph=graph).differences(kg) == []


@pytest.mark.parametrize("victim", ["writer", "server"])
def test_killed_ingest_then_rerun_equals_clean_ingest(victim, lastfm_small_kg, crash_dir, tmp_path):
    url, graph, kg = f"embedded:{crash_dir}", "lastfm", lastfm_small_kg
    with open_store(url):  # the server runs before the writer starts, so the test knows its pid
        pass
    pickled = tmp_path / "kg.pkl"
    pickled.write_bytes(pickle.dumps(kg))
    batch = 300
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(pickled), url, str(batch), graph], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at = _kill_half_way(proc, url, graph, kg.num_edges(), victim)
    assert 0 < killed_at < kg.num_edges()
    # A killed server may lose the one batch it had applied but not yet appended to its AOF: FalkorDB
    # answers reads from its own threads, so the test's reader can count a batch before the append
    # (which comes before the writer's acknowledgement). Unacknowledged, it is the writer's to redo,
    # and the re-run below does. Seen once in CI rehearsal: counted 24,493 edges, replayed 24,193.
    lost = batch if victim == "server" else 0
    with open_store(url) as store:  # restarts a killed server, which replays its AOF
        assert store.state(graph=graph) == "writing"  # a cut-off write is visible as such
        partial = store.stats(graph=graph).num_edges
        assert killed_at - lost <= partial < kg.num_edges()
        store.write(kg, graph=graph)
    _assert_equals_clean_ingest(url, graph, kg)


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["writer", "server"])
def test_killed_cli_ingest_of_lastfm_then_rerun_equals_clean_ingest(victim, lastfm_kg, crash_dir):
    url, graph = f"embedded:{crash_dir}", "lastfm"
    with open_store(url):
        pass
    command = [sys.executable, "-c", "from kgrec.cli import main; main()", "ingest", "lastfm", "--store", url,
               "--batch-size", "2000", "--no-progress"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at = _kill_half_way(proc, url, graph, lastfm_kg.num_edges(), victim)
    assert 0 < killed_at < lastfm_kg.num_edges()
    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    _assert_equals_clean_ingest(url, graph, lastfm_kg)
