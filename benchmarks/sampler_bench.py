"""kgrec's neighbour sampler against PyG's LinkNeighborLoader on the same batches.

Usage::

    python benchmarks/sampler_bench.py [--users 10000] [--items 2000] [--batches 20] [--threads 1]

For the LightGCN edge types (the interactions, both ways) and kgrec's (every relation) of the
synthetic graph: the median seconds to draw one 4,096-pair batch's 2-hop subgraph (fan-out
``[10, 5]``) and its edge count, with ``LinkNeighborLoader`` (over ``torch-sparse``, or ``pyg-lib``
where installed; 'triplet' negatives) and with :class:`kgrec.gnn.sampling.NeighborBatches`.
Needs ``torch-sparse`` (and ``torch-scatter``) or ``pyg-lib`` for the PyG side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import torch_geometric.typing as pyg_typing
    from torch_geometric.data import HeteroData
    from torch_geometric.loader import LinkNeighborLoader
    from torch_geometric.sampler import NegativeSampling

    from kgrec.gnn import TrainConfig
    from kgrec.gnn.registry import model_class
    from kgrec.gnn.sampling import NegativeSampler, NeighborBatches
    from kgrec.gnn.train import prepare
    from kgrec.kg.sources.synthetic import synthetic

    engine = "pyg-lib" if pyg_typing.WITH_PYG_LIB else "torch-sparse" if pyg_typing.WITH_TORCH_SPARSE else None
    kg = synthetic(num_users=args.users, num_items=args.items, interactions_per_user=20)
    print(f"synthetic {args.users:,} users × {args.items:,} items, {kg.num_edges():,} edges; PyG engine: {engine}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| edge types | sampler | median s / batch | edges / subgraph |")
    print("| --- | --- | --- | --- |")
    for name in ("lightgcn", "kgrec"):
        config = TrainConfig(model=name, text=False, device="cpu").effective()
        inputs, _ = prepare(kg, config)
        model = model_class(name)(inputs, config)
        types = model.sampling_edge_types()
        pairs = torch.from_numpy(inputs.split.positives("train")).long()
        gen = torch.Generator().manual_seed(0)
        batches = [torch.randperm(pairs.shape[1], generator=gen)[:4096] for _ in range(args.batches)]
        ours = NeighborBatches(inputs, edge_types=types, num_neighbors=[10, 5], layers=2,
                               negatives=NegativeSampler(inputs.train, model.num_items, 1))
        rows = []
        times, sizes = [], []
        for index in batches:
            t = time.perf_counter()
            sub = ours.batch(index, gen).graph
            times.append(time.perf_counter() - t)
            sizes.append(sub.num_edges)
        rows.append(("kgrec NeighborBatches", statistics.median(times), statistics.median(sizes)))
        if engine:
            structure = HeteroData()
            for nt in inputs.graph.node_types:
                structure[nt].num_nodes = int(inputs.graph[nt].num_nodes)
            for et in types:
                structure[et].edge_index = inputs.graph[et].edge_index
            loader = LinkNeighborLoader(structure, num_neighbors=[10, 5], edge_label_index=(inputs.interaction, pairs),
                                        neg_sampling=NegativeSampling("triplet", amount=1), batch_size=4096)
            times, sizes = [], []
            for index in batches:
                t = time.perf_counter()
                sub = loader(index)
                times.append(time.perf_counter() - t)
                sizes.append(sum(sub[et].edge_index.shape[1] for et in sub.edge_types))
            rows.append((f"PyG LinkNeighborLoader ({engine})", statistics.median(times), statistics.median(sizes)))
        for sampler, seconds, edges in rows:
            print(f"| {name} ({len(types)}) | {sampler} | {seconds:.3f} | {edges:,.0f} |")


if __name__ == "__main__":
    main()
