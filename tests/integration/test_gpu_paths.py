"""The GPU paths: CUDA + AMP training (full-graph, neighbour-sampled and one-hop with history), chunked evaluation on the
GPU, text encoding on the GPU. Marked ``gpu``; each skips with its reason where torch sees no CUDA
device (this project's machines have none: these run where one is present)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgrec.gnn import split_interactions, train
from kgrec.gnn.evaluate import rank_metrics
from tests.fixtures.gnn import make_config

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: torch.cuda.is_available() is False")]


@pytest.mark.parametrize("sampler", ["full", "neighbor", "history"])
@pytest.mark.parametrize("model", ["kgrec", "lightgcn"])
def test_cuda_amp_training_matches_the_cpu(model, sampler, lastfm_small_kg, gnn_small_vectors):
    settings = {"model": model, "sampler": sampler, "epochs": 8, "patience": 8, "seed": 0}
    gpu = train(lastfm_small_kg, make_config(device="cuda", amp=True, **settings), vectors=gnn_small_vectors,
                save=False)
    cpu = train(lastfm_small_kg, make_config(device="cpu", **settings), vectors=gnn_small_vectors, save=False)
    assert gpu.metrics.device.startswith("cuda")
    assert gpu.metrics.extra["sampler"] == sampler
    assert np.isfinite(gpu.user_vectors).all() and np.isfinite(gpu.item_vectors).all()
    assert gpu.user_vectors.dtype == np.float32  # vectors leave the GPU as float32 whatever autocast used
    # bfloat16 autocast and other kernels: not the same numbers, the same quality
    assert abs(gpu.metrics.valid["ndcg@20"] - cpu.metrics.valid["ndcg@20"]) < 0.03
    assert gpu.metrics.peak_memory_mb > 0


def test_chunked_gpu_evaluation_equals_the_cpu(synthetic_kg):
    split = split_interactions(synthetic_kg, "random", seed=0)
    scores = torch.from_numpy(np.random.default_rng(3).standard_normal((split.num_users, split.num_items))).float()
    on_gpu = scores.cuda()
    target, exclude = split.user_items("test"), [split.user_items("train"), split.user_items("valid")]
    cpu = rank_metrics(lambda u: scores[u], target, exclude=exclude, ks=(10, 20), batch_size=7)
    gpu = rank_metrics(lambda u: on_gpu[u], target, exclude=exclude, ks=(10, 20), batch_size=7, device="cuda")
    assert gpu.to_dict() == cpu.to_dict()
    assert torch.equal(on_gpu.cpu(), scores)  # the scorer's tensor is never written to


def test_gpu_text_encoding_matches_the_cpu(lastfm_small_kg):
    from kgrec.text import TextEncoder

    texts = lastfm_small_kg.items["name"].astype(str).tolist()[:200]
    gpu = TextEncoder(device="cuda").encode(texts)
    cpu = TextEncoder(device="cpu").encode(texts)
    assert gpu.shape == cpu.shape and gpu.dtype == np.float32
    cosine = (gpu * cpu).sum(1) / (np.linalg.norm(gpu, axis=1) * np.linalg.norm(cpu, axis=1))
    assert float(cosine.min()) > 0.999
