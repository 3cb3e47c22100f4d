"""A bounded load test of ``GET /v1/users/{id}/recommendations?explain=true`` on loopback.

Starts ``kgrec serve RUN --store URL`` in a subprocess (so that its memory is its own), warms it up
with one pass over the users, then sends a fixed number of requests from a few client threads and
stops by itself after that count or after ``--max-seconds``, whichever comes first. Reports
latency percentiles, throughput, errors (anything but 200) and the service's resident memory after
the warm-up and at the end (sampled every 0.5 s).

Example (the figures in benchmarks/notes/reliability.md)::

    python benchmarks/reliability_load.py --run RUN_DIR --store embedded:/tmp/x --graph lastfm \\
        --requests 3000 --concurrency 8 --max-seconds 300 --json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOKEN = "load-test-token"


@dataclass(frozen=True)
class LoadResult:
    """What one load run measured (latencies in milliseconds, memory in MiB)."""

    requests: int
    errors: int
    seconds: float
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    concurrency: int
    warmup: int
    rss_after_warmup_mib: float
    rss_end_mib: float
    rss_max_mib: float
    rss_growth_mib: float
    stopped_by: str  # "count" or "time"
    error_samples: tuple[str, ...] = ()
    loadavg_1m_start: float = 0.0
    loadavg_1m_end: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


class ServiceProcess:
    """``kgrec serve`` in a subprocess on a free loopback port."""

    def __init__(self, run_dir: str | os.PathLike, store: str, graph: str | None = None, *, timeout: float = 300,
                 env: dict[str, str] | None = None):
        import httpx

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-c", "from kgrec.cli import main; main()", "serve", str(run_dir), "--store", store,
                   "--port", str(self.port)]
        if graph:
            command += ["--graph", graph]
        self.log = tempfile.NamedTemporaryFile(prefix="kgrec-load-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "KGREC_API_TOKEN": TOKEN, **(env or {})})
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kgrec serve exited with {self.proc.returncode}: {self.output()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"kgrec serve did not answer within {timeout}s")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        os.unlink(self.log.name)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run_users(run_dir: str | os.PathLike) -> list[str]:
    """The user ids of a run directory (from its id maps)."""
    maps = json.loads((Path(run_dir) / "id_maps.json").read_text(encoding="utf-8"))
    run = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    entry = maps[run["user_label"]]
    return list(entry["ids"] if isinstance(entry, dict) else entry)


def run_load(url: str, users: list[str], *, pid: int, requests: int = 1000, concurrency: int = 4,
             max_seconds: float = 60.0, warmup: int | None = None, k: int = 10) -> LoadResult:
    """Warm up (default: one request per user, at least 32 per thread) from ``concurrency`` threads,
    then ``requests`` requests from ``concurrency`` threads, stopping after ``max_seconds`` at the
    latest."""
    import httpx
    import psutil

    proc = psutil.Process(pid)
    warmup = max(len(users), 32 * concurrency) if warmup is None else warmup
    path = "/v1/users/{}/recommendations"
    params = {"k": k, "explain": "true"}
    # Warm up with the load's own concurrency: the service's worker threads (and their allocator
    # arenas) are created once, on the first concurrent requests; counted after warm-up they read as
    # growth, which is not what "flat memory" is about (a leak grows with every request).
    warm_counter = iter(range(warmup))
    warm_lock = threading.Lock()

    def warm() -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while True:
                with warm_lock:
                    i = next(warm_counter, None)
                if i is None:
                    return
                c.get(path.format(users[i % len(users)]), params=params)

    warmers = [threading.Thread(target=warm) for _ in range(concurrency)]
    for t in warmers:
        t.start()
    for t in warmers:
        t.join()
    rss_warm = proc.memory_info().rss / 2**20
    rss_max = [rss_warm]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    stop = threading.Event()
    started = time.perf_counter()
    deadline = started + max_seconds
    stopped_by = ["count"]

    def sample_memory() -> None:
        while not stop.wait(0.5):
            try:
                rss_max[0] = max(rss_max[0], proc.memory_info().rss / 2**20)
            except psutil.Error:
                return

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while True:
                if time.perf_counter() > deadline:
                    stopped_by[0] = "time"
                    return
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t = time.perf_counter()
                try:
                    r = c.get(path.format(users[i % len(users)]), params=params)
                    ok, what = r.status_code == 200, f"HTTP {r.status_code}: {r.text[:200]}"
                    if ok and len(r.json()["recommendations"]) == 0:
                        ok, what = False, "an empty list"
                except httpx.HTTPError as e:
                    ok, what = False, f"{type(e).__name__}: {e}"
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    latencies.append(dt)
                    if not ok:
                        errors.append(what)

    load_start = os.getloadavg()[0]
    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join(timeout=2)
    rss_end = proc.memory_info().rss / 2**20
    lat = sorted(latencies)
    return LoadResult(
        requests=len(lat), errors=len(errors), seconds=round(seconds, 2), throughput=round(len(lat) / seconds, 1),
        p50_ms=round(statistics.median(lat), 1) if lat else float("nan"), p90_ms=round(_percentile(lat, 0.90), 1),
        p99_ms=round(_percentile(lat, 0.99), 1), max_ms=round(lat[-1], 1) if lat else float("nan"),
        concurrency=concurrency, warmup=warmup, rss_after_warmup_mib=round(rss_warm, 1), rss_end_mib=round(rss_end, 1),
        rss_max_mib=round(max(rss_max[0], rss_end), 1), rss_growth_mib=round(rss_end - rss_warm, 1),
        stopped_by=stopped_by[0], error_samples=tuple(errors[:5]), loadavg_1m_start=round(load_start, 2),
        loadavg_1m_end=round(os.getloadavg()[0], 2))


def run_feedback(url: str, items: list[str], *, requests: int = 200, prefix: str = "load-feedback") -> dict:
    """``requests`` sequential ``POST /v1/feedback`` (a new user each, positive) and their latency."""
    import httpx

    latencies, errors = [], 0
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        stamp = int(time.time())
        for i in range(requests):
            t = time.perf_counter()
            r = client.post("/v1/feedback", json={"user": f"{prefix}-{stamp}-{i}", "item": items[i % len(items)]})
            latencies.append((time.perf_counter() - t) * 1000)
            errors += r.status_code != 200
    lat = sorted(latencies)
    return {"feedback_requests": len(lat), "feedback_errors": errors,
            "feedback_p50_ms": round(statistics.median(lat), 1), "feedback_p99_ms": round(_percentile(lat, 0.99), 1)}


def run_items(run_dir: str | os.PathLike) -> list[str]:
    """The item ids of a run directory."""
    maps = json.loads((Path(run_dir) / "id_maps.json").read_text(encoding="utf-8"))
    run = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    entry = maps[run["item_label"]]
    return list(entry["ids"] if isinstance(entry, dict) else entry)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a run directory")
    p.add_argument("--store", required=True, help="the store URL holding the run's graph")
    p.add_argument("--graph", default=None, help="the graph name in the store (default: the run's)")
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-seconds", type=float, default=120.0)
    p.add_argument("--warmup", type=int, default=None, help="warm-up requests, sent at the load's concurrency (default: one per user, at least 32 per thread)")
    p.add_argument("--users", type=int, default=500, help="distinct users to cycle through (default: 500)")
    p.add_argument("--feedback", type=int, default=0, help="then this many sequential POST /v1/feedback (default: 0)")
    p.add_argument("--fsync", default=None, help="KGREC_FEEDBACK_FSYNC for the service (default: its default, always)")
    p.add_argument("--json", action="store_true", help="print JSON")
    args = p.parse_args(argv)
    users = run_users(args.run)[: args.users]
    env = {"KGREC_FEEDBACK_FSYNC": args.fsync} if args.fsync else None
    feedback: dict = {}
    with ServiceProcess(args.run, args.store, args.graph, env=env) as service:
        result = run_load(service.url, users, pid=service.pid, requests=args.requests, concurrency=args.concurrency,
                          max_seconds=args.max_seconds, warmup=args.warmup)
        if args.feedback:
            feedback = run_feedback(service.url, run_items(args.run), requests=args.feedback)
            feedback["fsync"] = args.fsync or "always"
    out = {**result.to_dict(), **feedback, "users": len(users), "cpus": os.cpu_count()}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:>22}: {value}")
    return 0 if result.errors == 0 and not feedback.get("feedback_errors") else 1


if __name__ == "__main__":
    sys.exit(main())
