"""Sampled subgraph sizes per training batch on a synthetic graph (kgrec defaults, text off).

    python benchmarks/subgraph_sizes.py USERS ITEMS      # e.g. 100000 10000, 1000000 100000

Why a sampled step costs more on a larger graph: the subgraph a batch draws grows until it covers
the catalogue. Prints nodes per label and edges for three batches."""
import sys
import time

import torch
from kgrec.gnn import TrainConfig
from kgrec.gnn.registry import model_class
from kgrec.gnn.sampling import NegativeSampler, NeighborBatches
from kgrec.gnn.train import prepare
from kgrec.kg.sources.synthetic import synthetic

torch.set_num_threads(2)
users, items = int(sys.argv[1]), int(sys.argv[2])
kg = synthetic(num_users=users, num_items=items, interactions_per_user=20, name="s")
config = TrainConfig(model="kgrec", epochs=1, seed=0, text=False, device="cpu").effective()
inputs, _ = prepare(kg, config)
model = model_class("kgrec")(inputs, config)
neg = NegativeSampler(inputs.train, model.num_items, config.negatives, shared=model.shared_negatives)
loader = NeighborBatches(inputs, edge_types=model.sampling_edge_types(), num_neighbors=config.num_neighbors,
                         layers=config.layers, negatives=neg)
g = torch.Generator().manual_seed(0)
n = inputs.split.positives("train").shape[1]
for b in range(3):
    idx = torch.randperm(n, generator=g)[:config.batch_size]
    t = time.perf_counter()
    batch = loader.batch(idx, g)
    sub = batch.graph
    nodes = {nt: int(len(v)) for nt, v in sub.n_id.items()}
    edges = sum(int(v.shape[1]) for v in sub.edge_index.values())
    print(f"{users} users x {items} items, batch {b}: nodes {nodes}, edges {edges}, sample {time.perf_counter()-t:.2f}s", flush=True)
