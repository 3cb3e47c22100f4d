"""Store write and read-back throughput: lastfm into the embedded FalkorDB at several batch sizes,
and into Neo4jStore over FalkorDB's experimental Bolt endpoint (50-row, <=3.5 KB requests; the
60-user lastfm subgraph, with ' and \\ replaced, which that endpoint refuses).

Usage:
    KGREC_DATA_HOME=../shared/data python benchmarks/ingest.py embedded [--batch-sizes 1000 5000 20000] [--runs 1]
    KGREC_DATA_HOME=../shared/data python benchmarks/ingest.py bolt [--users-step 32]
    KGREC_DATA_HOME=../shared/data python benchmarks/ingest.py restart [--query-text] [--users-step 32]

Each run writes into a fresh server in a temporary directory (so an index or a cache of an earlier
run does not help), then rewrites the same graph (the idempotent upsert path), then reads it back
and checks ``read().equals(kg)``. Prints one markdown table row per run.
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=["embedded", "bolt", "restart"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--users-step", type=int, default=32,
                        help="bolt, restart: every n-th user (default 32: 60 users)")
    parser.add_argument("--query-text", action="store_true",
                        help="restart: FalkorDB's default AOF replication (query text) instead of effects")
    parser.add_argument("--timeout", type=float, default=300, help="restart: seconds to wait (default 300)")
    args = parser.parse_args()
    {"embedded": embedded, "bolt": bolt, "restart": restart}[args.target](args)
