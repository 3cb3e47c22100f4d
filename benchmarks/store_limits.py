"""Measure the store's analyst-query limits and compaction (figures in benchmarks/notes/stores.md).

    python benchmarks/store_limits.py memory  [--rows 3000000]      # client peak memory of a big UNWIND
    python benchmarks/store_limits.py timeout [--timeout 2]         # time to the error of a cartesian query
    python benchmarks/store_limits.py compact                       # store files before/after compact()

Every sub-command starts its own embedded store (and rdf store) in a temporary folder and prints
one JSON line per measurement. ``memory`` and ``timeout`` use only ``store.query(text)`` when run
with ``--plain``, so the same script measures an older kgrec too (for example main's virtualenv:
``/work/main/.venv/bin/python benchmarks/store_limits.py memory --plain``); there a query has no time
limit, so ``timeout --plain`` gives up after ``--give-up`` seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tiny_store(folder: str, crowd: int = 0):
    import pandas as pd

    from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
    from kgrec.kg.stores import open_store

    store = open_store(f"embedded:{folder}")
    schema = Schema((NodeType("User"), NodeType("Item"), NodeType("N")), (RelationType("User", "RATED", "Item"),),
                    "User", "Item", ("User", "RATED", "Item"))
    kg = KnowledgeGraph(schema, {"User": pd.DataFrame({"id": ["u"]}), "Item": pd.DataFrame({"id": ["i"]}),
                                 "N": pd.DataFrame({"id": [f"n{i}" for i in range(crowd)]})},
                        {("User", "RATED", "Item"): pd.DataFrame({"src": ["u"], "dst": ["i"]})}, name="bench")
    store.write(kg)
    return store


def memory(args) -> None:
    folder = tempfile.mkdtemp(prefix="kgb-", dir="/tmp")
    store = _tiny_store(folder)
    try:
        before = _maxrss_mib()
        started = time.perf_counter()
        result = store.query(f"UNWIND range(1, {args.rows}) AS i RETURN i")
        seconds = time.perf_counter() - started
        print(json.dumps({"measure": "unwind", "rows_asked": args.rows, "rows_back": len(result),
                          "truncated": getattr(result, "truncated", None), "seconds": round(seconds, 2),
                          "maxrss_before_mib": round(before), "maxrss_after_mib": round(_maxrss_mib()),
                          "python": sys.executable}))
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)


def timeout(args) -> None:
    folder = tempfile.mkdtemp(prefix="kgb-", dir="/tmp")
    store = _tiny_store(folder, crowd=1500)
    try:
        query = "MATCH (a:N), (b:N), (c:N) RETURN count(*) AS n"
        outcome: dict = {}

        def analyst():
            started = time.perf_counter()
            try:
                if args.plain:
                    store.query(query)
                else:
                    store.query(query, timeout=args.timeout)
                outcome["error"] = None
            except Exception as e:  # noqa: BLE001 - reported
                outcome["error"] = type(e).__name__
            outcome["seconds"] = time.perf_counter() - started

        thread = threading.Thread(target=analyst, daemon=True)
        thread.start()
        time.sleep(0.5)
        started = time.perf_counter()
        import pandas as pd

        write = threading.Thread(target=lambda: store.upsert_nodes("User", pd.DataFrame({"id": ["during"]})),
                                 daemon=True)
        write.start()
        write.join(args.give_up)
        write_seconds = None if write.is_alive() else time.perf_counter() - started
        thread.join(args.give_up)
        print(json.dumps({"measure": "cartesian", "backend": "embedded",
                          "timeout": None if args.plain else args.timeout,
                          "error": outcome.get("error", "still running"),
                          "seconds_to_error": round(outcome["seconds"], 2) if "seconds" in outcome else None,
                          "write_during_seconds": None if write_seconds is None else round(write_seconds, 2),
                          "python": sys.executable}))
        if not args.plain:
            _rdf_timeout(folder + "-rdf", args.timeout)
    finally:
        store.stop() if not args.plain else subprocess.run(["kill", "-9", str(store.pid())], check=False)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(folder + "-rdf", ignore_errors=True)


def _rdf_timeout(folder: str, seconds: float) -> None:
    import pandas as pd

    from kgrec.kg import KnowledgeGraph, NodeType, RelationType, Schema
    from kgrec.kg.stores import open_store

    schema = Schema((NodeType("User"), NodeType("Item"), NodeType("N")), (RelationType("User", "RATED", "Item"),),
                    "User", "Item", ("User", "RATED", "Item"))
    kg = KnowledgeGraph(schema, {"User": pd.DataFrame({"id": ["u"]}), "Item": pd.DataFrame({"id": ["i"]}),
                                 "N": pd.DataFrame({"id": [f"n{i}" for i in range(1500)]})},
                        {("User", "RATED", "Item"): pd.DataFrame({"src": ["u"], "dst": ["i"]})}, name="bench")
    with open_store(f"rdf:{folder}") as rdf:
        rdf.write(kg)
        started = time.perf_counter()
        try:
            rdf.sparql("SELECT (COUNT(*) AS ?n) WHERE { ?a a kgs:N . ?b a kgs:N . ?c a kgs:N }", timeout=seconds)
            error = None
        except Exception as e:  # noqa: BLE001 - reported
            error = type(e).__name__
        print(json.dumps({"measure": "cartesian", "backend": "rdf", "timeout": seconds, "error": error,
                          "seconds_to_error": round(time.perf_counter() - started, 2)}))


def compact(args) -> None:
    import pandas as pd

    from kgrec.kg.sources import load_dataset
    from kgrec.kg.stores import open_store

    kg = load_dataset("lastfm")
    secret = "zq81x-forget"
    for backend in ("embedded", "rdf"):
        folder = Path(tempfile.mkdtemp(prefix="kgb-", dir="/tmp"))
        store = open_store(f"{backend}:{folder}")
        try:
            store.write(kg)
            store.upsert_nodes("User", pd.DataFrame({"id": [secret]}))
            store.add_interaction(secret, kg.nodes[kg.schema.item_label]["id"].iat[0])
            store.delete_nodes("User", [secret])
            if backend == "rdf":
                store.ox_store().flush()
            size = _size(folder)
            holding = _holding(folder, secret)
            started = time.perf_counter()
            store.compact()
            seconds = time.perf_counter() - started
            print(json.dumps({"measure": "compact", "backend": backend, "graph": "lastfm",
                              "bytes_before": size, "bytes_after": _size(folder), "seconds": round(seconds, 1),
                              "files_with_id_before": holding, "files_with_id_after": _holding(folder, secret)}))
        finally:
            store.stop() if backend == "embedded" else store.close()
            shutil.rmtree(folder, ignore_errors=True)


_NOT_DATA = {"redis.log", "redis.pid", "redis.sock", "start.lock", "LOCK"}


def _size(folder: Path) -> int:
    """Bytes of the persistence files (not the server's log, pid, socket, or RocksDB's info logs)."""
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and p.name not in _NOT_DATA and not p.name.startswith("LOG"))


def _holding(folder: Path, needle: str) -> int:
    found = subprocess.run(["grep", "-rlaF", needle, str(folder)], capture_output=True, text=True)
    return len(found.stdout.split())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("memory")
    m.add_argument("--rows", type=int, default=3_000_000)
    m.add_argument("--plain", action="store_true")
    t = sub.add_parser("timeout")
    t.add_argument("--timeout", type=float, default=2.0)
    t.add_argument("--plain", action="store_true", help="no limits in the call (an older kgrec)")
    t.add_argument("--give-up", type=float, default=60.0)
    sub.add_parser("compact")
    args = parser.parse_args(argv)
    {"memory": memory, "timeout": timeout, "compact": compact}[args.command](args)


if __name__ == "__main__":
    main()
