"""Live events on lastfm: throughput, event → changed recommendation latency, and exactly-once under
kill -9 of the consumer or of the store.

Needs the lastfm graph in the store (``kgrec ingest lastfm``) and a run trained on it. Every figure
goes to stdout as one JSON line; benchmarks/notes/live.md has them beside their commands.

    python benchmarks/live.py throughput RUN_DIR [--events 50000] [--workers 1]
    python benchmarks/live.py latency RUN_DIR [--samples 200]
    python benchmarks/live.py kill-consumer RUN_DIR [--events 100000] [--every 2:6]
    python benchmarks/live.py kill-store RUN_DIR [--events 100000] [--every 2:6]
    python benchmarks/live.py clean          # delete every streamed interaction from the lastfm graph

Each command deletes the interactions it streamed in when it ends, so the graph stays the ingested
one between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

GRAPH = "lastfm"
COUNT_STREAMED = ("MATCH (:User)-[r:LISTENED_TO]->(:Artist) WHERE r.event_id STARTS WITH $prefix "
                  "RETURN count(r) AS n")


REMOVE_STREAMED = ("MATCH (:User)-[r:LISTENED_TO]->(:Artist) WHERE r.event_id STARTS WITH $prefix "
                   "WITH r LIMIT 50000 DELETE r RETURN count(r) AS n")


def remove_streamed(store, prefix: str = "") -> int:
    """Delete the interactions a benchmark streamed in (all streamed ones for the empty prefix), so
    one run does not grow the graph the next run measures."""
    graph, total = store.client.select_graph(GRAPH), 0
    while n := int(graph.query(REMOVE_STREAMED, {"prefix": prefix}).result_set[0][0]):
        total += n
    return total


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def fresh_pairs(rec, n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` distinct (user, artist) pairs that are not edges yet."""
    rng = random.Random(seed)
    users, items = rec.users(), rec.items()
    seen = {u: {i.id for i in rec.seen(u)} for u in users}
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < n:
        u, i = rng.choice(users), rng.choice(items)
        if i not in seen[u]:
            pairs.add((u, i))
    out = sorted(pairs)
    rng.shuffle(out)
    return out


def events_for(pairs, prefix: str):
    from kgrec.serving.events import InteractionEvent

    return [InteractionEvent(id=f"{prefix}{n:07d}", user=u, item=i, weight=1) for n, (u, i) in enumerate(pairs)]


def load(run_dir: str):
    from kgrec.kg.stores import open_store
    from kgrec.serving import Recommender

    store = open_store()
    t = time.perf_counter()
    rec = Recommender.load(run_dir, store=store, graph=GRAPH)
    return store, rec, time.perf_counter() - t


def publish_all(transport, events, batch: int = 5000) -> float:
    t = time.perf_counter()
    for start in range(0, len(events), batch):
        transport.publish(events[start:start + batch])
    return time.perf_counter() - t


def streamed(store, prefix: str) -> int:
    return int(store.query(COUNT_STREAMED, {"prefix": prefix}, graph=GRAPH, max_rows=1).scalar())


# -- throughput ----------------------------------------------------------------------------------
def throughput(args) -> None:
    from kgrec.serving.events import Consumer, ConsumerConfig, EventApplier, open_transport, run_workers

    store, rec, seconds = load(args.run_dir)
    emit(step="load", seconds=round(seconds, 1))
    prefix = f"tp{int(time.time())}-"
    events = events_for(fresh_pairs(rec, args.events, args.seed), prefix)
    transport = open_transport(store, graph=GRAPH)
    transport.delete()
    seconds = publish_all(transport, events)
    emit(step="publish", events=len(events), seconds=round(seconds, 2), events_per_second=round(len(events) / seconds))
    applier = EventApplier(rec)
    config = ConsumerConfig(group="bench", block_ms=20, **({} if args.batch is None else {"batch": args.batch}))
    t = time.perf_counter()
    consumers = run_workers(lambda i: Consumer(transport, applier, config=config, name=f"bench-{i}"), args.workers,
                            until_idle=True)
    elapsed = time.perf_counter() - t
    applied = sum(c.stats.applied for c in consumers)
    emit(step="apply", events=applied, workers=args.workers, batch=config.batch, seconds=round(elapsed, 2),
         events_per_second=round(applied / elapsed), stored=streamed(store, prefix),
         changed_users=sum(c.stats.changed_users for c in consumers))
    transport.delete()
    remove_streamed(store, prefix)


# -- latency -------------------------------------------------------------------------------------
def latency(args) -> None:
    import httpx
    import numpy as np

    token = "bench-token"
    port = args.port
    env = {**os.environ, "KGREC_API_TOKEN": token}
    server = subprocess.Popen(["kgrec", "serve", args.run_dir, "--port", str(port), "--consume",
                               "--feedback-fsync", "store"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"kgrec serve did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.5)
            users = http.get("/ui/users", params={"limit": 10_000}).json()["users"]
            rng = random.Random(args.seed)
            auth = {"Authorization": f"Bearer {token}"}
            samples = []
            for n in range(args.samples):
                user = rng.choice(users)
                top = http.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": "false"}).json()
                item = top["recommendations"][0]["item"]["id"]
                t0 = time.perf_counter()
                r = http.post("/v1/events", json={"events": [{"type": "interaction", "user": user, "item": item}]},
                              headers=auth)
                assert r.status_code == 202, r.text
                while True:
                    now = [x["item"]["id"] for x in http.get(f"/v1/users/{user}/recommendations",
                                                              params={"k": 10, "explain": "false"}).json()
                           ["recommendations"]]
                    if item not in now:
                        break
                    if time.perf_counter() - t0 > 30:
                        raise SystemExit(f"user {user}: item {item} still recommended after 30 s")
                samples.append(time.perf_counter() - t0)
            ms = np.array(samples) * 1000
            emit(step="latency", samples=len(ms), p50_ms=round(float(np.percentile(ms, 50)), 1),
                 p95_ms=round(float(np.percentile(ms, 95)), 1), p99_ms=round(float(np.percentile(ms, 99)), 1),
                 max_ms=round(float(ms.max()), 1))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


# -- kill -9 ---------------------------------------------------------------------------------------
def _consumer(run_dir: str, log) -> subprocess.Popen:
    return subprocess.Popen(["kgrec", "events", "consume", run_dir, "--graph", GRAPH, "--claim-idle", "1",
                             "--batch", "2000"], stdout=log, stderr=subprocess.STDOUT, text=True)


def _wait_consuming(logfile: Path, offset: int, proc, timeout: float = 600) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = logfile.read_text()
        if "consuming kgrec:events:" in text[offset:]:
            return len(text)
        if proc.poll() is not None:
            return len(text)
        time.sleep(0.2)
    raise SystemExit("the consumer did not start")


def kill_run(args, *, target: str) -> None:
    from kgrec.kg.stores.embedded import EmbeddedStore
    from kgrec.serving.events import open_transport

    store, rec, _ = load(args.run_dir)
    prefix = f"k{target[0]}{int(time.time())}-"
    pairs = fresh_pairs(rec, args.events, args.seed)
    events = events_for(pairs, prefix)
    duplicates = events[: len(events) // 20]  # a retrying producer: 5% of the events published twice
    del rec
    transport = open_transport(store, graph=GRAPH)
    transport.delete()
    low, high = (float(x) for x in args.every.split(":"))
    rng = random.Random(args.seed)
    logfile = Path(args.log)
    kills = restarts = 0
    t0 = time.perf_counter()
    with open(logfile, "w") as log:
        proc = _consumer(args.run_dir, log)
        offset = _wait_consuming(logfile, 0, proc)
        # publish while the kills go on, in chunks, retrying a chunk the store's death interrupted
        queue = [events[i:i + 2000] for i in range(0, len(events), 2000)] + [duplicates]
        next_kill = time.monotonic() + rng.uniform(low, high)
        while True:
            if queue:
                chunk = queue[0]
                try:
                    transport.publish(chunk)
                    queue.pop(0)
                except Exception as e:  # noqa: BLE001 (a benchmark: the store is being killed on purpose)
                    emit(step="publish-retry", error=str(e)[:120])
                    time.sleep(0.5)
            if time.monotonic() >= next_kill:
                if target == "consumer":
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    kills += 1
                    proc = _consumer(args.run_dir, log)
                    restarts += 1
                    log.flush()
                    offset = _wait_consuming(logfile, offset, proc)
                else:
                    pid = EmbeddedStore("embedded").pid()
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                        kills += 1
                next_kill = time.monotonic() + rng.uniform(low, high)
            if not queue:
                try:
                    s = transport.status("kgrec")
                    if s.pending == 0 and s.lag == 0 and kills >= args.min_kills:
                        break
                except Exception:  # noqa: BLE001
                    pass
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    from kgrec.kg.stores import open_store

    check = open_store()
    count = streamed(check, prefix)
    emit(step=f"kill-{target}", published=len(events) + len(duplicates), distinct=len(events), kills=kills,
         stored=count, lost=len(events) - count if count <= len(events) else 0,
         doubled=count - len(events) if count > len(events) else 0, seconds=round(time.perf_counter() - t0, 1),
         dead_letters=len(transport.dead_letters(count=1000)))
    transport.delete()
    remove_streamed(check, prefix)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["throughput", "latency", "kill-consumer", "kill-store", "clean"])
    p.add_argument("run_dir", nargs="?")
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--batch", type=int, default=None, help="consumer batch (default: the consumer's, 5000)")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--port", type=int, default=8731)
    p.add_argument("--every", default="2:6", help="seconds between kills, uniform in LOW:HIGH")
    p.add_argument("--min-kills", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log", default="/tmp/kgrec-live-kill.log")
    args = p.parse_args()
    if args.what == "clean":
        from kgrec.kg.stores import open_store

        emit(step="clean", removed=remove_streamed(open_store()))
        return
    if args.run_dir is None:
        p.error(f"{args.what} needs RUN_DIR")
    if args.what == "throughput":
        throughput(args)
    elif args.what == "latency":
        latency(args)
    else:
        kill_run(args, target=args.what.split("-")[1])


if __name__ == "__main__":
    main()
