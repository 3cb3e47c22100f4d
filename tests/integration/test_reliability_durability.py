"""Durability and faults through the real service.

- Feedback POSTed to ``kgrec serve`` (a subprocess on loopback, embedded store) is acknowledged only
  once the store has it durably (``appendfsync always``); killing the embedded server *and* the
  service with SIGKILL in the middle of a stream of feedback, then starting the service again,
  loses nothing that was acknowledged.
- While the store is down the service answers 503 with a clear message, keeps serving
  recommendations from memory, restarts the embedded server itself and recovers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore, _pid_alive

REPO = Path(__file__).resolve().parents[2]
TOKEN = "reliability-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EDGE = "MATCH (u:User {id: $u})-[r:LISTENED_TO]->(a:Artist {id: $i}) RETURN count(r) AS n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def store_dir(lastfm_small_kg):
    """A fresh embedded store (short path for the unix socket) holding the 60-user subgraph."""
    folder = tempfile.mkdtemp(prefix="kgrec-rel-", dir="/tmp")
    with open_store(f"embedded:{folder}") as s:
        s.write(lastfm_small_kg, graph=lastfm_small_kg.name)
    yield folder
    EmbeddedStore(f"embedded:{folder}").stop()
    shutil.rmtree(folder, ignore_errors=True)


class Service:
    """``kgrec serve RUN --store embedded:DIR`` in a subprocess."""

    def __init__(self, run_dir: Path, store_dir: str, graph: str, *, env: dict | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-c", "from kgrec.cli import main; main()", "serve", str(run_dir),
                   "--store", f"embedded:{store_dir}", "--graph", graph, "--port", str(self.port)]
        self.log = tempfile.NamedTemporaryFile(prefix="kgrec-serve-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "KGREC_API_TOKEN": TOKEN, **(env or {})})

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"kgrec serve exited with {self.proc.returncode}: {self.output()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"kgrec serve did not answer within {timeout}s: {self.output()[-3000:]}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        os.unlink(self.log.name)


@pytest.mark.slow  # two starts of `kgrec serve` in subprocesses: about 1-2 minutes on 2 busy cores
def test_acknowledged_feedback_survives_kill_9_of_store_and_service(serving_run, lastfm_small_kg, store_dir):
    graph = lastfm_small_kg.name
    items = lastfm_small_kg.nodes["Artist"]["id"].astype(str).tolist()
    service = Service(serving_run.path, store_dir, graph)
    acked: list[tuple[str, str]] = []
    try:
        service.wait_ready()
        embedded = EmbeddedStore(f"embedded:{store_dir}")
        assert embedded.appendfsync_now() == "always"  # the service asked for it on startup
        stop = threading.Event()

        def post_feedback() -> None:
            with httpx.Client(base_url=service.url, headers=AUTH, timeout=10) as client:
                i = 0
                while not stop.is_set():
                    user, item = f"durable-{i}", items[(7 * i) % len(items)]
                    i += 1
                    try:
                        r = client.post("/v1/feedback", json={"user": user, "item": item, "weight": 3})
                    except httpx.HTTPError:
                        continue  # in flight when the kill came: not acknowledged
                    if r.status_code == 200 and r.json()["stored"]:
                        acked.append((user, item))

        poster = threading.Thread(target=post_feedback)
        poster.start()
        deadline = time.monotonic() + 60
        while len(acked) < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        store_pid = embedded.pid()
        # both at once, while feedback keeps arriving
        os.kill(store_pid, signal.SIGKILL)
        service.kill()
        stop.set()
        poster.join(timeout=30)
        end = time.monotonic() + 10
        while _pid_alive(store_pid) and time.monotonic() < end:
            time.sleep(0.05)
        assert not _pid_alive(store_pid)
        assert len(acked) >= 30, f"only {len(acked)} feedbacks acknowledged before the kill"
    finally:
        service.stop()

    restarted = Service(serving_run.path, store_dir, graph)  # restarts the store, which replays its AOF
    try:
        restarted.wait_ready()
        with httpx.Client(base_url=restarted.url, headers=AUTH, timeout=30) as client:
            lost = []
            for user, item in acked:
                r = client.post("/v1/query", json={"cypher": EDGE, "parameters": {"u": user, "i": item}})
                assert r.status_code == 200, r.text
                if r.json()["rows"] != [[1]]:
                    lost.append((user, item))
        assert lost == [], f"{len(lost)} of {len(acked)} acknowledged feedbacks lost: {lost[:5]}"
        print(f"\nkill -9 of store and service: {len(acked)} feedbacks acknowledged, {len(lost)} lost")
    finally:
        restarted.stop()
    with open_store(f"embedded:{store_dir}") as s:  # and directly in the store
        n = s.query("MATCH (u:User)-[r:LISTENED_TO]->() WHERE u.id STARTS WITH 'durable-' RETURN count(r)",
                    graph=graph).scalar()
        assert n >= len(acked)


def test_feedback_fsync_setting_is_configurable_and_never_weakens_the_server(store_dir, recommender):
    from kgrec.serving.http import StoreKeeper, create_app

    from kgrec.errors import ConfigError

    embedded = EmbeddedStore(f"embedded:{store_dir}")
    assert embedded.appendfsync_now() == "everysec"
    StoreKeeper(embedded, feedback_fsync="everysec").prepare()
    assert embedded.appendfsync_now() == "everysec"
    StoreKeeper(embedded, feedback_fsync="always").prepare()
    assert embedded.appendfsync_now() == "always"
    assert embedded.require_appendfsync("no") == "always"  # another process relies on the stronger one
    with pytest.raises(ConfigError, match="sometimes"):
        create_app(recommender, token="t", feedback_fsync="sometimes")


def test_store_down_gives_503_then_the_service_restarts_it(serving_run, lastfm_small_kg, store_dir):
    from kgrec.serving import Recommender
    from kgrec.serving.http import BackgroundServer, create_app

    store = open_store(f"embedded:{store_dir}")
    rec = Recommender.load(serving_run.path, store=store, graph=lastfm_small_kg)
    user = min(rec.users())
    items = rec.items()
    app = create_app(rec, token=TOKEN)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
        assert client.get("/healthz").json()["store"] == "up"
        pid = store.pid()
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while _pid_alive(pid):
            time.sleep(0.02)
        down = client.post("/v1/feedback", json={"user": "during-outage", "item": items[0]})
        assert down.status_code == 503
        detail = down.json()["detail"]
        assert "graph store is unavailable" in detail and "restarting the embedded store" in detail
        assert down.headers["retry-after"]
        # reads do not need the store: served from memory meanwhile
        assert client.get(f"/v1/users/{user}/recommendations", params={"k": 3}).status_code == 200
        deadline, statuses = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            r = client.post("/v1/feedback", json={"user": "after-outage", "item": items[1]})
            statuses.append(r.status_code)
            if r.status_code == 200:
                break
            assert r.status_code == 503, r.text
            time.sleep(0.2)
        assert statuses[-1] == 200, f"did not recover within 60 s: {statuses[-5:]}"
        print(f"\noutage: {statuses.count(503) + 1} answers 503, feedback accepted again {time.monotonic() - killed_at:.1f} s after the kill")
        assert app.state.keeper.restarts >= 1
        assert store.pid() != pid and _pid_alive(store.pid())
        assert client.get("/healthz").json()["store"] == "up"
        assert store.appendfsync_now() == "always"  # the restarted server is durable again
        check = client.post("/v1/query", json={"cypher": EDGE, "parameters": {"u": "during-outage", "i": items[0]}})
        assert check.json()["rows"] == [[0]]  # the refused feedback was not half-written
        check = client.post("/v1/query", json={"cypher": EDGE, "parameters": {"u": "after-outage", "i": items[1]}})
        assert check.json()["rows"] == [[1]]
    store.close()


def test_durability_is_reapplied_after_another_process_restarts_the_store(tmp_path):
    from kgrec.serving.http import StoreKeeper

    folder = tempfile.mkdtemp(prefix="kgrec-keep-", dir="/tmp")
    try:
        store = open_store(f"embedded:{folder}")
        keeper = StoreKeeper(store, feedback_fsync="always")
        keeper.prepare()
        assert store.appendfsync_now() == "always"
        # someone else stops the server and starts it with the default setting
        EmbeddedStore(f"embedded:{folder}").stop()
        EmbeddedStore(f"embedded:{folder}").ensure_running()
        assert store.appendfsync_now() == "everysec"
        keeper.ensure_durable()  # what every feedback request does first
        assert store.appendfsync_now() == "always"
        store.close()
    finally:
        EmbeddedStore(f"embedded:{folder}").stop()
        shutil.rmtree(folder, ignore_errors=True)
