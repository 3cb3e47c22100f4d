"""The embedded FalkorDB's life: start, reuse, stop, recover from a stale pid or a killed server,
start-up failures that show the log, thread safety, and the single-graph default."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from kgrec.errors import ConfigError, StoreUnavailableError, UnknownGraphError
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore, _pid_alive
from tests.fixtures.store import make_tiny_kg

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def store_dir(tmp_path):
    """A data directory for a private embedded server, stopped after the test."""
    path = tmp_path / "s"
    yield path
    EmbeddedStore(f"embedded:{path}").stop()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_start_creates_a_private_data_dir_and_a_socket(store_dir):
    store = open_store(f"embedded:{store_dir}")
    try:
        assert stat.S_IMODE(store_dir.stat().st_mode) == 0o700
        assert store.socket_path.is_socket()
        assert stat.S_IMODE(store.socket_path.stat().st_mode) == 0o700
        assert (store_dir / "appendonlydir").is_dir()  # persisted with AOF
        pid = store.pid()
        assert pid and _pid_alive(pid)
        status = store.status()
        assert status.running and status.pid == pid and status.graphs == ()
        assert status.version and status.used_memory
    finally:
        store.close()


def test_a_second_open_reuses_the_running_server(store_dir, tiny_kg):
    first = open_store(f"embedded:{store_dir}")
    first.write(tiny_kg)
    pid = first.pid()
    second = open_store(f"embedded:{store_dir}")
    assert second.pid() == pid
    assert second.graphs() == [tiny_kg.name]
    # another process reuses it too, and sees the same data
    code = ("from kgrec.kg.stores import open_store; s = open_store('embedded:%s'); "
            "print(s.pid(), s.stats().num_edges)" % store_dir)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == [str(pid), str(tiny_kg.num_edges())]
    first.close()
    assert second.stats().num_edges == tiny_kg.num_edges()  # closing one client leaves the server up
    second.close()


def test_stop_shuts_down_cleanly_and_data_survives(store_dir, tiny_kg):
    store = open_store(f"embedded:{store_dir}")
    store.write(tiny_kg)
    pid = store.pid()
    assert store.stop() is True
    assert not _pid_alive(pid)
    assert not store.socket_path.exists() and not store.pid_path.exists()
    assert "ready to exit" in store.log_tail(5).lower()
    assert store.stop() is False  # nothing left to stop
    assert not store.status().running
    again = open_store(f"embedded:{store_dir}")
    assert again.pid() != pid
    assert again.read().equals(tiny_kg)
    again.close()


def test_stale_pid_and_socket_files_are_cleared(store_dir, tiny_kg):
    store = open_store(f"embedded:{store_dir}")
    store.write(tiny_kg)
    store.stop()
    store.pid_path.write_text(f"{_dead_pid()}\n")
    store.socket_path.write_text("not a socket")
    again = open_store(f"embedded:{store_dir}")
    assert again.socket_path.is_socket()
    assert again.read().equals(tiny_kg)
    again.close()


def test_a_pid_file_naming_another_program_is_stale(store_dir):
    store = EmbeddedStore(f"embedded:{store_dir}")
    store_dir.mkdir(mode=0o700)
    store.pid_path.write_text(f"{os.getpid()}\n")  # alive, but not a redis-server
    store.open()
    assert store.pid() != os.getpid()
    store.close()


def test_a_killed_server_is_restarted_with_its_data(store_dir, tiny_kg):
    # appendfsync always: with everysec a busy disk may postpone the AOF write of the last batch
    # (the one that marks the graph complete) past the kill, and read() rightly refuses the graph
    store = open_store(f"embedded:{store_dir}", appendfsync="always")
    store.write(tiny_kg)
    pid = store.pid()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(StoreUnavailableError):
        store.stats()
    store.close()
    again = open_store(f"embedded:{store_dir}")
    assert again.pid() != pid
    assert again.read().equals(tiny_kg)  # replayed from the append-only file
    again.close()


def test_start_failure_shows_the_log_tail(store_dir):
    store = EmbeddedStore(f"embedded:{store_dir}", module_args=("THREAD_COUNT", "not-a-number"), start_timeout=20)
    with pytest.raises(StoreUnavailableError) as info:
        store.open()
    message = str(info.value)
    assert "log" in message and str(store.log_path) in message
    assert "THREAD_COUNT" in message or "module" in message.lower()


def test_socket_path_too_long_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="shorter"):
        open_store(f"embedded:{tmp_path / ('d' * 120)}")


def test_unreachable_falkordb_is_unavailable(tmp_path):
    with pytest.raises(StoreUnavailableError):
        open_store(f"unix://{tmp_path}/none.sock")


def test_concurrent_opens_start_one_server(store_dir):
    code = "from kgrec.kg.stores import open_store; print(open_store('embedded:%s').pid())" % store_dir
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
             for _ in range(3)]
    pids = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(pids) == 1


def test_threads_share_one_store(store_dir, tiny_kg):
    store = open_store(f"embedded:{store_dir}")
    store.write(tiny_kg)
    errors, results = [], []

    def work(k: int) -> None:
        try:
            for j in range(10):
                results.append(store.query("MATCH (u:User {id: $u})-[r:RATED]->() RETURN count(r) AS n",
                                           {"u": "u1"}).scalar())
                store.add_interaction(f"t{k}", "i0", properties={"rating": float(j)})
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [2] * 80
    assert store.stats().nodes["User"] == tiny_kg.num_nodes("User") + 8
    store.close()


def test_the_only_graph_is_the_default(store_dir, tiny_kg, monkeypatch):
    monkeypatch.delenv("KGREC_GRAPH", raising=False)
    store = open_store(f"embedded:{store_dir}")
    with pytest.raises(UnknownGraphError, match="holds no graph"):
        store.read()
    store.write(tiny_kg)
    assert store.read().equals(tiny_kg)  # no graph= needed
    store.write(make_tiny_kg("second"))
    with pytest.raises(UnknownGraphError, match="several graphs"):
        store.stats()
    monkeypatch.setenv("KGREC_GRAPH", "second")
    assert store.stats().name == "second"
    pinned = open_store(f"embedded:{store_dir}", graph=tiny_kg.name)
    assert pinned.stats().name == tiny_kg.name
    pinned.close()
    store.close()


def test_appendfsync_always_is_used(store_dir, tiny_kg):
    store = open_store(f"embedded:{store_dir}", appendfsync="always")
    import redis

    client = redis.Redis(unix_socket_path=str(store.socket_path), decode_responses=True)
    assert client.config_get("appendfsync") == {"appendfsync": "always"}
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    client.close()
    store.write(tiny_kg)
    assert store.stats().num_edges == tiny_kg.num_edges()
    store.close()


def test_write_records_its_state(store_dir, tiny_kg):
    store = open_store(f"embedded:{store_dir}")
    store.write(tiny_kg)
    assert store.state() == "complete"
    store.upsert_nodes("Tag", pd.DataFrame({"id": ["jazz"]}))
    assert store.state() == "complete"
    store.close()


def test_a_large_edge_type_is_read_in_pages_that_add_up_to_the_whole(store_dir, monkeypatch):
    """Past READ_PAGE_ROWS edges of one type the read goes in source-id pages (bounded client
    memory); the pages together are exactly the one-reply read: every edge once, same values."""
    from kgrec.kg.sources.synthetic import synthetic
    from kgrec.kg.stores import falkordb

    kg = synthetic(num_users=300, num_items=80, interactions_per_user=12, name="paged")
    store = open_store(f"embedded:{store_dir}")
    try:
        store.write(kg, graph="paged")
        whole = store.read(graph="paged")
        pages = []
        read_frame = type(store)._read_frame
        monkeypatch.setattr(type(store), "_read_frame",
                            lambda self, *a, **k: pages.append(k.get("params")) or read_frame(self, *a, **k))
        monkeypatch.setattr(falkordb, "READ_PAGE_ROWS", 500)
        paged = store.read(graph="paged")
    finally:
        store.close()
    inter = tuple(kg.schema.interaction)
    assert sum(p is not None for p in pages) >= kg.num_edges(inter) // 500  # it did page
    for edge_type, df in whole.edges.items():
        key = ["src", "dst"]
        a = df.sort_values(key).reset_index(drop=True)
        b = paged.edges[edge_type].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
    assert len(paged.edges[inter]) == kg.num_edges(inter)
