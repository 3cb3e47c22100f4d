"""Time one optimizer step of ``torch.optim.SparseAdam`` against kgrec's ``RowAdam`` on the embedding
table of a sampled step (the same gradients for both, median of the timed steps).

    python benchmarks/lazy_adam_bench.py                         # the 1 M-user step: 1.1 M rows, 238 k touched
    python benchmarks/lazy_adam_bench.py --rows 110000 --touched 60000 --threads 2

The defaults are the 1 M-user synthetic graph's table (1,000,000 users + 100,000 items, 64
dimensions) and the rows one sampled batch touches there (~159,000 users and ~79,000 items,
``benchmarks/subgraph_sizes.py``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from kgrec.gnn.lazy_adam import RowAdam


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_100_000)
    ap.add_argument("--touched", type=int, default=238_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8, help="timed steps (after 2 untimed)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    start = torch.randn(args.rows, args.dim, generator=g) * 0.1
    grads = []
    for _ in range(args.steps + 2):  # an embedding's gradient: one row per looked-up id, uncoalesced
        rows = torch.randperm(args.rows, generator=g)[:args.touched]
        grads.append(torch.sparse_coo_tensor(rows.unsqueeze(0), torch.randn(args.touched, args.dim, generator=g),
                                             (args.rows, args.dim), check_invariants=False))
    result = {}
    for cls in (torch.optim.SparseAdam, RowAdam):
        p = torch.nn.Parameter(start.clone())
        opt = cls([p], lr=1e-3)
        times = []
        for grad in grads:
            p.grad = grad.clone()
            t = time.perf_counter()
            opt.step()
            times.append(time.perf_counter() - t)
        result[cls.__name__] = (statistics.median(times[2:]), p.detach())
        print(f"{cls.__name__:>10}: median {result[cls.__name__][0]:.3f} s per step "
              f"({args.rows:,} rows, {args.touched:,} touched, dim {args.dim}, {args.threads} thread(s))")
    diff = (result["SparseAdam"][1] - result["RowAdam"][1]).abs().max().item()
    print(f"speed-up {result['SparseAdam'][0] / result['RowAdam'][0]:.2f}×; largest weight difference {diff:.1e}")


if __name__ == "__main__":
    main()
