"""Seconds per sampled training step on a synthetic graph, split into its parts (kgrec defaults, text off).

    python benchmarks/step_time.py USERS ITEMS [--steps 30] [--model kgrec] [--threads 2] [--sampler neighbor]

Runs the trainer's step as ``Trainer.fit`` does (draw the batch's subgraph, the loss, backward,
the optimizers: Adam for dense weights, the lazy Adam for the embedding tables) on the same seeded
batches, and prints the median of each part over the timed steps (the first two are not timed), with the
median number of edges in a batch's sampled subgraph (what a step's cost follows). ``--sampler history``
times the one-hop steps that read the deeper layers from a table (refreshed once before the steps;
the refresh, once per epoch, is timed on its own).
To compare two versions of kgrec, run it from each checkout in turn on a quiet machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from kgrec.gnn import TrainConfig
from kgrec.gnn.models.propagation import History
from kgrec.gnn.registry import model_class
from kgrec.gnn.sampling import NegativeSampler, NeighborBatches
from kgrec.gnn.train import _optimizers, _sparse_embeddings, prepare
from kgrec.kg.sources.synthetic import synthetic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("users", type=int)
    ap.add_argument("items", type=int)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--model", default="kgrec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sampler", choices=("neighbor", "history"), default="neighbor")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    kg = synthetic(num_users=args.users, num_items=args.items, interactions_per_user=20, name="s")
    config = TrainConfig(model=args.model, epochs=1, seed=0, text=False, device="cpu").effective()
    inputs, _ = prepare(kg, config)
    torch.manual_seed(0)
    model = model_class(args.model)(inputs, config)
    neg = NegativeSampler(inputs.train, model.num_items, config.negatives, shared=model.shared_negatives)
    history = args.sampler == "history"
    loader = NeighborBatches(inputs, edge_types=model.sampling_edge_types(), num_neighbors=config.num_neighbors,
                             layers=1 if history else config.layers, negatives=neg)
    refresh = None
    if history:
        model.history = History()
        t = time.perf_counter()
        model.refresh_history()
        refresh = time.perf_counter() - t
    optimizers = _optimizers(model, config, _sparse_embeddings(model, True))
    model.train()
    g = torch.Generator().manual_seed(0)
    n = inputs.split.positives("train").shape[1]
    parts: dict[str, list[float]] = {"sample": [], "forward": [], "backward": [], "optimizer": [], "step": []}
    edges: list[int] = []
    for s in range(args.steps + 2):
        idx = torch.randperm(n, generator=g)[:config.batch_size]
        t0 = time.perf_counter()
        batch = loader.batch(idx, g)
        t1 = time.perf_counter()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss = model.loss(batch)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        for opt in optimizers:
            opt.step()
        model.invalidate()
        t4 = time.perf_counter()
        if s >= 2:
            for key, value in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0)):
                parts[key].append(value)
            edges.append(batch.graph.num_edges)
    opt_names = "+".join(type(o).__name__ for o in optimizers)
    print(f"{args.model}, {args.users:,} users x {args.items:,} items, {args.sampler}, {args.steps} steps, "
          f"{args.threads} threads, {opt_names}: " + ", ".join(f"{k} {statistics.median(v):.3f}" for k, v in parts.items())
          + f" s; subgraph {statistics.median(edges):,.0f} edges (medians)"
          + ("" if refresh is None else f"; history refresh {refresh:.2f} s"))


if __name__ == "__main__":
    main()
