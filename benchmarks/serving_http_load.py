"""HTTP load on loopback: a bounded number of requests at a fixed concurrency, then it stops.

    python benchmarks/serving_http_load.py --run RUN_DIR [--requests 20000] [--concurrency 32] \
        [--explain-requests 2000] [--store URL]

Starts ``kgrec serve RUN_DIR`` on a free loopback port in a subprocess (one uvicorn worker), waits
for ``/healthz``, then sends ``--requests`` ``GET /v1/users/{random user}/recommendations?k=20&explain=false``
with ``--concurrency`` requests in flight (httpx, asyncio), then ``--explain-requests`` with
``explain=true``; reports throughput, latency percentiles and errors (any non-200 or transport
error), and the server's resident memory (VmRSS) before, between and after the loads (VmHWM = its
peak), stops the server and exits non-zero if there was any error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident set now (VmRSS) and at its peak (VmHWM), in MB, from /proc."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/PID/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(base: str, users: list[str], n: int, concurrency: int, explain: bool, seed: int) -> dict:
    import httpx

    rng = random.Random(seed)
    paths = [f"/v1/users/{rng.choice(users)}/recommendations?k=20&explain={'true' if explain else 'false'}"
             for _ in range(n)]
    latencies: list[float] = []
    errors: list[str] = []
    next_index = 0

    async with httpx.AsyncClient(base_url=base, timeout=60.0,
                                 limits=httpx.Limits(max_connections=concurrency,
                                                     max_keepalive_connections=concurrency)) as client:
        async def worker() -> None:
            nonlocal next_index
            while True:
                i = next_index
                if i >= n:
                    return
                next_index += 1
                t = time.perf_counter()
                try:
                    r = await client.get(paths[i])
                    if r.status_code != 200:
                        errors.append(f"{r.status_code} {paths[i]}: {r.text[:200]}")
                    else:
                        r.json()
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__} {paths[i]}: {e}")
                latencies.append(time.perf_counter() - t)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    a = np.asarray(latencies) * 1e3
    return {"requests": n, "concurrency": concurrency, "explain": explain, "seconds": wall,
            "throughput_rps": n / wall, "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max()), "errors": len(errors),
            "first_errors": errors[:5]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--explain-requests", type=int, default=2_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--store", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start-timeout", type=float, default=600.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import httpx

    port = free_port()
    cmd = [sys.executable, "-c", "from kgrec.cli import main; main()", "serve", str(args.run), "--host", "127.0.0.1",
           "--port", str(port)]
    if args.store:
        cmd += ["--store", args.store]
    server = subprocess.Popen(cmd, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    out: dict = {"command": " ".join(["python", "benchmarks/serving_http_load.py", *(argv or sys.argv[1:])])}
    try:
        deadline = time.monotonic() + args.start_timeout
        while True:
            if server.poll() is not None:
                print(server.stderr.read()[-4000:], file=sys.stderr)
                raise SystemExit(f"the server exited with {server.returncode}")
            try:
                health = httpx.get(base + "/healthz", timeout=2).json()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not answer /healthz in time")
                time.sleep(0.5)
        # users: ask the service for nothing private; take ids from the run's id map
        from kgrec.gnn import Run

        run = Run.load(args.run)
        users = list(run.id_maps[run.user_label].ids)
        out["health"] = health
        # warm-up (not counted): the first requests import and build what the rest reuse
        asyncio.run(load(base, users, 200, args.concurrency, True, args.seed + 2))
        out["memory_mb"] = {"before": memory_mb(server.pid)}
        # the server's CPU time per request: what the load average does not change much
        cpu = cpu_seconds(server.pid)
        out["plain"] = asyncio.run(load(base, users, args.requests, args.concurrency, False, args.seed))
        out["plain"]["server_cpu_ms_per_request"] = (cpu_seconds(server.pid) - cpu) * 1e3 / args.requests
        out["memory_mb"]["after_plain"] = memory_mb(server.pid)
        if args.explain_requests:
            cpu = cpu_seconds(server.pid)
            out["explain"] = asyncio.run(load(base, users, args.explain_requests, args.concurrency, True,
                                              args.seed + 1))
            out["explain"]["server_cpu_ms_per_request"] = (cpu_seconds(server.pid) - cpu) * 1e3 / args.explain_requests
            out["memory_mb"]["after_explain"] = memory_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    for key in ("plain", "explain"):
        if key in out:
            r = out[key]
            print(f"- {r['requests']:,} requests (explain={r['explain']}), {r['concurrency']} concurrent: "
                  f"{r['throughput_rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                  f"max {r['max_ms']:.0f} ms, errors {r['errors']}; server CPU {r['server_cpu_ms_per_request']:.2f} ms/request")
            for e in r["first_errors"]:
                print("    ", e)
    m = out.get("memory_mb", {})
    if m:
        print("- server memory (MB): " + ", ".join(f"{k} RSS {v['VmRSS']:.0f}" for k, v in m.items())
              + f"; peak {max(v['VmHWM'] for v in m.values()):.0f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 1 if any(out[k]["errors"] for k in ("plain", "explain") if k in out) else 0


if __name__ == "__main__":
    raise SystemExit(main())
