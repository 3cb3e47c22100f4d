"""Evaluation: full ranking over the catalogue, and the KGCN click-through protocol.

Ranking (:func:`rank_metrics`): for each batch of users one matrix of scores ``[B, num_items]``
(one matrix product for the dot-product models), the user's known items masked out (training
items; validation items too when testing), ``torch.topk``, then, at each ``K``:

- ``recall@K`` = hits in the top K / the user's number of target items,
- ``ndcg@K`` = DCG of the top K / the ideal DCG of ``min(K, number of targets)`` hits
  (binary relevance, ``1 / log2(rank + 1)`` with rank counted from 1),
- ``hit@K`` = 1 if any target is in the top K,
- ``mrr@K`` = 1 / rank of the first target in the top K (0 if none),

each averaged over the users that have at least one target; and ``coverage@K`` = the share of
the candidate items that appear in at least one user's top K.

Click-through (:func:`click_metrics`): ``auc`` over all labelled pairs (the Mann–Whitney
statistic, ties counted one half) and ``f1`` of the positives at a threshold.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .data import UserItems
from .metrics import Metrics

logger = logging.getLogger(__name__)

DEFAULT_KS: tuple[int, ...] = (10, 20)
RANKING_METRICS: tuple[str, ...] = ("recall", "ndcg", "hit", "mrr", "coverage")


ScoreFn = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def rank_metrics(score_fn: ScoreFn, target: UserItems, *, exclude: Sequence[UserItems] = (),
                 ks: Sequence[int] = DEFAULT_KS, batch_size: int = 1024, candidates: np.ndarray | None = None,
                 device: torch.device | str | None = None, progress: bool = False) -> Metrics:
    """Full-ranking metrics of a scorer against each user's target items.

    Args:
        score_fn: users ``[B]`` (int64) → scores ``[B, num_items]``.
        target: the items to find, per user (the test or validation positives).
        exclude: items never ranked for a user (their training items; for testing, also their
            validation items).
        ks: the cut-offs (default: ``(10, 20)``).
        batch_size: users per score matrix (default: 1024).
        candidates: rank only these items (default: None, the whole catalogue). The cold-items
            protocol ranks among the unseen items.
        device: where to put the masks (default: where the scores are).
        progress: show a tqdm bar (default: False).

    Shapes:
        score_fn output: ``[B, num_items]``.
    """
    ks = sorted({int(k) for k in ks})
    k_max = ks[-1]
    counts = target.counts()
    users = np.flatnonzero(counts > 0)
    num_items = target.num_items
    sums = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg", "hit", "mrr") for k in ks}
    seen = {k: torch.zeros(num_items, dtype=torch.bool) for k in ks}
    cand_mask = None
    if candidates is not None:
        cand_mask = torch.zeros(num_items, dtype=torch.bool)
        cand_mask[torch.as_tensor(np.asarray(candidates, dtype=np.int64))] = True
    n_cand = int(cand_mask.sum()) if cand_mask is not None else num_items
    discount = 1.0 / torch.log2(torch.arange(2, k_max + 2, dtype=torch.float64))
    idcg = torch.cumsum(discount, 0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(users), desc="evaluate", unit="user", leave=False)
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        b = torch.from_numpy(batch)
        scores = score_fn(b if device is None else b.to(device)).float()
        dev = scores.device
        scores = scores.clone()
        for ex in exclude:
            mask = ex.dense(batch, device=dev)
            scores[mask] = -math.inf
        if cand_mask is not None:
            scores[:, ~cand_mask.to(dev)] = -math.inf
        k_eff = min(k_max, scores.shape[1])
        top = torch.topk(scores, k_eff, dim=1).indices
        truth = target.dense(batch, device=dev)
        hits = torch.gather(truth, 1, top).to(torch.float64).cpu()
        if k_eff < k_max:
            hits = torch.nn.functional.pad(hits, (0, k_max - k_eff))
        # an item masked to -inf can still be picked when fewer than K items remain: not a hit
        valid = torch.gather(scores, 1, top).isfinite().cpu()
        if k_eff < k_max:
            valid = torch.nn.functional.pad(valid, (0, k_max - k_eff))
        hits = hits * valid
        n_pos = torch.from_numpy(counts[batch]).to(torch.float64)
        top_cpu = top.cpu()
        for k in ks:
            h = hits[:, :k]
            n_hit = h.sum(1)
            sums[f"recall@{k}"] += float((n_hit / n_pos).sum())
            dcg = (h * discount[:k]).sum(1)
            ideal = idcg[(torch.clamp(n_pos, max=k) - 1).long()]
            sums[f"ndcg@{k}"] += float((dcg / ideal).sum())
            sums[f"hit@{k}"] += float((n_hit > 0).sum())
            first = torch.where(h > 0, torch.arange(1, k + 1, dtype=torch.float64), math.inf).min(1).values
            sums[f"mrr@{k}"] += float((1.0 / first).sum())
            picked = top_cpu[:, :k][valid[:, :k]]
            seen[k][picked] = True
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    n = max(len(users), 1)
    values = {}
    for m in ("recall", "ndcg", "hit", "mrr"):
        for k in ks:
            values[f"{m}@{k}"] = sums[f"{m}@{k}"] / n
    for k in ks:
        values[f"coverage@{k}"] = float(seen[k].sum()) / max(n_cand, 1)
    return Metrics(values, len(users))


def auc_score(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (probability that a positive outranks a negative; ties count 1/2)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # average ranks over ties (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def f1_score(predicted: np.ndarray, labels: np.ndarray) -> float:
    """F1 of the positive class."""
    predicted = np.asarray(predicted).astype(bool)
    labels = np.asarray(labels).astype(bool)
    tp = float((predicted & labels).sum())
    fp = float((predicted & ~labels).sum())
    fn = float((~predicted & labels).sum())
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score threshold that maximises F1 on these pairs (chosen on validation, used on test)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    fn = y.sum() - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    # only cut between distinct scores
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    i = last[int(np.argmax(f1[last]))]
    return float(s[i])


def click_metrics(scores: np.ndarray, labels: np.ndarray, *, threshold: float) -> Metrics:
    """AUC and F1 (predicted positive when ``score >= threshold``) over labelled pairs."""
    return Metrics({"auc": auc_score(scores, labels), "f1": f1_score(np.asarray(scores) >= threshold, labels)},
                   int(len(labels)))


def ndcg_key(ks: Sequence[int] = DEFAULT_KS) -> str:
    return f"ndcg@{max(ks)}"


def describe(metrics: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float)))


def evaluate_vectors(run: Any, *, part: str = "test", batch_size: int = 1024) -> Metrics:
    """Recompute a saved run's metrics from its vectors (``score = user · item``) and split.

    Ranking splits: the user's training items (and, for ``test``, validation items) are never ranked;
    ``cold-items`` tests rank among the unseen items. ``kgcn``: AUC and F1 at the run's threshold.
    """
    split = run.split
    users = torch.from_numpy(np.ascontiguousarray(run.user_vectors))
    items = torch.from_numpy(np.ascontiguousarray(run.item_vectors))
    if split.labelled:
        pairs = getattr(split, part)
        scores = (users[pairs[0]] * items[pairs[1]]).sum(-1).numpy()
        labels = getattr(split, f"{part}_labels")
        threshold = float(run.metrics.extra.get("threshold", best_threshold(scores, labels)))
        out = click_metrics(scores, labels, threshold=threshold)
        return Metrics({**out.values, "threshold": threshold}, out.count)
    train = split.user_items("train")
    exclude = [train] if part == "valid" else [train, split.user_items("valid")]
    candidates = split.cold_items if (part == "test" and split.cold_items is not None) else None
    return rank_metrics(lambda u: users[u] @ items.T, split.user_items(part), exclude=exclude,
                        ks=run.config.ks, batch_size=batch_size, candidates=candidates)
