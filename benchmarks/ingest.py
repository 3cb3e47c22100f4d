"""Store write and read-back throughput: lastfm into the embedded FalkorDB at several batch sizes,
and into Neo4jStore over FalkorDB's experimental Bolt endpoint (50-row, <=3.5 KB requests; the
60-user lastfm subgraph, with ' and \\ replaced, which that endpoint refuses).

Usage:
    KGREC_DATA_HOME=../shared/data python benchmarks/ingest.py embedded [--batch-sizes 1000 5000 20000] [--runs 1]
    KGREC_DATA_HOME=../shared/data python benchmarks/ingest.py bolt [--users-step 32]
    KGREC_DATA_HOME=../shared/data python benchmarks/ingest.py restart [--query-text] [--users-step 32]
    python benchmarks/ingest.py stream [--users 100000 250000] [--chunk-rows 200000]

Each run writes into a fresh server in a temporary directory (so an index or a cache of an earlier
run does not help), then rewrites the same graph (the idempotent upsert path), then reads it back
and checks ``read().equals(kg)``. Prints one markdown table row per run.

``stream``: a synthetic graph written as generic files (``interactions.csv`` user_id,item_id,rating,
timestamp; ``items.csv`` item_id,name,genre) at each ``--users`` size, then ``kgrec ingest DIR`` into a
fresh embedded store twice, ``--no-stream`` (the whole file as frames, then ``store.write``) and
``--stream`` (chunks of ``--chunk-rows``), each under ``/usr/bin/time -f %M``: the client's peak
resident set (the kgrec process; the FalkorDB server is its own process, its peak is shown apart),
wall seconds and edges/s over the whole command; the two stored graphs are compared by their counts.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time

from kgrec.kg.sources import load_dataset
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore


def _free_bolt_port() -> int:
    for port in range(27687, 32767):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def _server_cpu(server) -> float:
    """CPU seconds the redis-server process (all its threads) has used so far."""
    from kgrec.kg.stores.embedded import _client

    client = _client(server.socket_path, decode=True)
    try:
        info = client.info("cpu")
    finally:
        client.close()
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _measure(store, kg, graph: str, server) -> dict:
    """Wall seconds of a first write, a rewrite and a read, and the CPU seconds of the first write
    (this process + the server): on a shared, busy machine the CPU figure is the steadier one."""
    cpu, scpu = time.process_time(), _server_cpu(server)
    t = time.perf_counter()
    report = store.write(kg, graph=graph)
    first = time.perf_counter() - t
    cpu, scpu = time.process_time() - cpu, _server_cpu(server) - scpu
    t = time.perf_counter()
    store.write(kg, graph=graph)
    again = time.perf_counter() - t
    t = time.perf_counter()
    back = store.read(graph=graph)
    read = time.perf_counter() - t
    assert back.differences(kg) == [], back.differences(kg)
    return {"rows": report.num_nodes + report.num_edges, "edges": report.num_edges, "first": first,
            "again": again, "read": read, "cpu": cpu, "server_cpu": scpu}


HEADER = ("| store | batch | first write | edges/s | CPU s (client + server) | rewrite (upsert) | edges/s | read() |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|")


def _row(name: str, batch: str, m: dict) -> str:
    return (f"| {name} | {batch} | {m['first']:.1f} s | {m['edges'] / m['first']:,.0f} | "
            f"{m['cpu']:.1f} + {m['server_cpu']:.1f} | {m['again']:.1f} s | {m['edges'] / m['again']:,.0f} | "
            f"{m['read']:.1f} s |")


def embedded(args) -> None:
    kg = load_dataset("lastfm", download=False)
    print(f"lastfm: {kg.num_nodes():,} nodes, {kg.num_edges():,} edges; load average {os.getloadavg()[0]:.1f}")
    print(HEADER)
    for batch in args.batch_sizes:
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="kgrec-bench-") as tmp:
                url = f"embedded:{tmp}/s"
                store = open_store(url, batch_size=batch)
                try:
                    runs.append(_measure(store, kg, "lastfm", store))
                finally:
                    store.stop()
        m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(_row("embedded", f"{batch:,}", m), flush=True)


def _bolt_safe(kg):
    """FalkorDB's Bolt endpoint refuses string parameters holding ' or \\ ("Guns N' Roses"): those
    characters become U+2019 and '/' here, which keeps the amount of data the same."""
    def fix(df):
        df = df.copy()
        for col in df.columns:
            if str(df[col].dtype) == "string":
                df[col] = df[col].str.replace("'", "\u2019", regex=False).str.replace("\\", "/", regex=False)
        return df

    nodes = {label: fix(df) for label, df in kg.nodes.items()}
    edges = {et: fix(df) for et, df in kg.edges.items()}
    return kg.replace(nodes=nodes, edges=edges)


def bolt(args) -> None:
    full = load_dataset("lastfm", download=False)
    users = sorted(full.users["id"].tolist(), key=lambda s: (len(s), s))[::args.users_step]
    kg = _bolt_safe(full.subgraph(users))
    print(f"lastfm seen from {len(users)} users: {kg.num_nodes():,} nodes, {kg.num_edges():,} edges; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="kgrec-bench-") as tmp:
        port = _free_bolt_port()
        server = EmbeddedStore(f"embedded:{tmp}/bolt", module_args=("BOLT_PORT", str(port)), appendonly=False)
        server.open()
        time.sleep(0.5)
        try:
            store = open_store(f"bolt://127.0.0.1:{port}", auth=("falkordb", ""), batch_size=50,
                               max_batch_bytes=3500, max_retry_time=0.0)
            m = _measure(store, kg, "lastfm", server)
            print(_row("Neo4jStore over FalkorDB Bolt", "50 (<=3.5 KB)", m), flush=True)
            store.close()
        finally:
            server.stop()


def restart(args) -> None:
    """Write a subgraph, kill -9 the server, time the restart (AOF replay) and check the data."""
    import signal

    full = load_dataset("lastfm", download=False)
    users = sorted(full.users["id"].tolist(), key=lambda s: (len(s), s))[::args.users_step]
    kg = full.subgraph(users)
    module_args = ("EFFECTS_THRESHOLD", "300") if args.query_text else ()
    mode = "query text (EFFECTS_THRESHOLD 300)" if args.query_text else "effects (kgrec default)"
    with tempfile.TemporaryDirectory(prefix="kgrec-bench-") as tmp:
        url = f"embedded:{tmp}/s"
        store = EmbeddedStore(url, module_args=module_args, start_timeout=args.timeout).open()
        store.write(kg, graph="lastfm")
        store.close()
        os.kill(store.pid(), signal.SIGKILL)
        time.sleep(0.5)
        t = time.perf_counter()
        again = EmbeddedStore(url, module_args=module_args, start_timeout=args.timeout)
        try:
            again.open()
            took = f"{time.perf_counter() - t:.2f} s"
            assert again.stats(graph="lastfm").num_edges == kg.num_edges()
        except Exception as e:  # noqa: BLE001 - a benchmark reports it
            took = f"not ready after {args.timeout:.0f} s ({type(e).__name__})"
        finally:
            again.stop()
    print(f"| {kg.num_edges():,} edges | {mode} | {took} |", flush=True)


def _write_generic(folder, users: int) -> int:
    """A synthetic graph (``users`` users, items = users / 10, about 20 interactions each) as generic
    files, block by block (the writer never holds the graph). Returns the interaction rows."""
    from kgrec.kg.sources import synthetic_stream

    folder.mkdir(parents=True, exist_ok=True)
    stream = synthetic_stream(num_users=users, num_items=max(100, users // 10), seed=0, name="bench")
    rows = 0
    with open(folder / "interactions.csv", "w", encoding="utf-8") as inter:
        inter.write("user_id,item_id,rating,timestamp\n")
        for k, chunk in enumerate(stream):
            if k == 0:
                items = chunk.nodes["Item"][["id", "name"]].rename(columns={"id": "item_id"})
                genres = chunk.edges[("Item", "HAS_GENRE", "Genre")].groupby("src")["dst"].agg("|".join)
                items["genre"] = items["item_id"].map(genres).fillna("")
                items.to_csv(folder / "items.csv", index=False)
                continue
            table = chunk.edges[("User", "INTERACTED", "Item")]
            table.rename(columns={"src": "user_id", "dst": "item_id", "weight": "rating"}).to_csv(
                inter, header=False, index=False)
            rows += len(table)
    return rows


def _server_hwm_mb(url: str) -> float | None:
    from pathlib import Path

    store = EmbeddedStore(url)
    try:
        for line in Path(f"/proc/{store.pid()}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, TypeError, ValueError):
        return None
    return None


def stream(args) -> None:
    import re
    import subprocess
    import sys
    from pathlib import Path

    print(f"load average {os.getloadavg()[0]:.1f} at the start; {os.cpu_count()} CPUs")
    print("| interactions | CSV | ingest | client peak RSS | wall | edges/s (whole command) | server peak RSS |\n"
          "|---:|---:|---|---:|---:|---:|---:|")
    for users in args.users:
        with tempfile.TemporaryDirectory(prefix="kgrec-bench-") as tmp:
            folder = Path(tmp) / "data"
            rows = _write_generic(folder, users)
            size = (folder / "interactions.csv").stat().st_size
            counts = {}
            for mode in ("--no-stream", "--stream"):
                url = f"embedded:{tmp}/{mode.strip('-')}"
                cmd = ["/usr/bin/time", "-f", "%M kB %e s", sys.executable, "-c", "from kgrec.cli import main; main()",
                       "ingest", str(folder), mode, "--chunk-rows", str(args.chunk_rows), "--store", url, "--graph",
                       "bench", "--no-progress"]
                load = os.getloadavg()[0]
                done = subprocess.run(cmd, capture_output=True, text=True)
                try:
                    if done.returncode != 0:
                        raise RuntimeError(done.stderr[-2000:])
                    kb, wall = re.findall(r"^(\d+) kB ([0-9.]+) s$", done.stderr, re.M)[-1]
                    with open_store(url) as store:
                        stats = store.stats(graph="bench")
                    counts[mode] = (stats.nodes, stats.edges)
                    hwm = _server_hwm_mb(url)
                finally:
                    EmbeddedStore(url).stop()
                edges = sum(counts[mode][1].values())
                print(f"| {rows:,} | {size / 2**20:,.0f} MiB | `{mode}` | {int(kb) / 1024:,.0f} MiB | {float(wall):.1f} s | "
                      f"{edges / float(wall):,.0f} | {hwm or float('nan'):,.0f} MiB | (load {load:.1f})", flush=True)
            assert counts["--stream"] == counts["--no-stream"], counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=["embedded", "bolt", "restart", "stream"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--users-step", type=int, default=32,
                        help="bolt, restart: every n-th user (default 32: 60 users)")
    parser.add_argument("--query-text", action="store_true",
                        help="restart: FalkorDB's default AOF replication (query text) instead of effects")
    parser.add_argument("--timeout", type=float, default=300, help="restart: seconds to wait (default 300)")
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 250_000],
                        help="stream: synthetic users per size (about 20 interactions each)")
    parser.add_argument("--chunk-rows", type=int, default=200_000, help="stream: rows per chunk")
    args = parser.parse_args()
    {"embedded": embedded, "bolt": bolt, "restart": restart, "stream": stream}[args.target](args)
