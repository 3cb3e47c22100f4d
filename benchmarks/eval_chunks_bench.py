"""Chunked full-ranking evaluation with and without the copy of each chunk's scores (``owned``).

``python benchmarks/eval_chunks_bench.py [USERS] [ITEMS] [--repeats 3]``: random 64-wide vectors,
20 training and 2 target items per user, ``rank_metrics`` over every user, the copying and the
in-place (``owned=True``) versions alternated; prints each time and checks the metrics are equal.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kgrec.gnn.data import UserItems
from kgrec.gnn.evaluate import rank_metrics


def items_per_user(rng: np.random.Generator, users: int, items: int, per_user: int) -> UserItems:
    rows = np.repeat(np.arange(users, dtype=np.int64), per_user)
    cols = rng.integers(0, items, size=len(rows))
    return UserItems.from_pairs(np.stack([rows, cols]), num_users=users, num_items=items)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("users", type=int, nargs="?", default=20_000)
    parser.add_argument("items", type=int, nargs="?", default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    u = torch.from_numpy(rng.standard_normal((args.users, 64), dtype=np.float32))
    v = torch.from_numpy(rng.standard_normal((args.items, 64), dtype=np.float32))
    train = items_per_user(rng, args.users, args.items, 20)
    target = items_per_user(rng, args.users, args.items, 2)
    times: dict[bool, list[float]] = {False: [], True: []}
    results = {}
    for _ in range(args.repeats):
        for owned in (False, True):
            t = time.perf_counter()
            results[owned] = rank_metrics(lambda b: u[b] @ v.T, target, exclude=[train], owned=owned).to_dict()
            times[owned].append(time.perf_counter() - t)
    assert results[False] == results[True], "the two versions disagree"
    for owned, ts in times.items():
        print(f"{'owned (in place)' if owned else 'copied':17s} {args.users:,} users × {args.items:,} items: "
              f"median {np.median(ts):.2f} s  ({', '.join(f'{x:.2f}' for x in ts)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
