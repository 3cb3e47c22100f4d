"""Time load_dataset() for every dataset (parse + build + validate), median of N runs.

Usage: KGREC_DATA_HOME=../shared/data python benchmarks/load_datasets.py [--runs 3]
"""

import argparse
import statistics
import time

from kgrec.kg.sources import load_dataset

CASES = [("lastfm", {}), ("lastfm-kgcn", {}), ("movielens-small", {}), ("synthetic", {}),
         ("synthetic", {"num_users": 100_000, "num_items": 5_000})]

parser = argparse.ArgumentParser()
parser.add_argument("--runs", type=int, default=3)
args = parser.parse_args()
print("| dataset | nodes | edges | load_dataset (median) |\n|---|---:|---:|---:|")
for name, options in CASES:
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        kg = load_dataset(name, **options)
        times.append(time.perf_counter() - start)
    label = name + (f" {options}" if options else "")
    print(f"| {label} | {kg.num_nodes():,} | {kg.num_edges():,} | {statistics.median(times):.2f} s |", flush=True)
