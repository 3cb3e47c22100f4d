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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .data import UserItems
from .metrics import Metrics

logger = logging.getLogger(__name__)

DEFAULT_KS: tuple[int, ...] = (10, 20)
RANKING_METRICS: tuple[str, ...] = ("recall", "ndcg", "hit", "mrr", "coverage")


ScoreFn = Callable[[torch.Tensor], torch.Tensor]

# Scores of one chunk of users are at most this many bytes (float32); the chunk shrinks below
# ``batch_size`` users when the catalogue is large (1,024 users × 100 k items would be 400 MB).
CHUNK_BYTES = 256 * 2**20


def chunk_users(num_items: int, batch_size: int, *, budget_bytes: int = CHUNK_BYTES) -> int:
    """Users per score matrix: ``batch_size``, fewer when ``[users, num_items]`` float32 scores
    (and their masked copy) would pass ``budget_bytes``; at least one."""
    return max(1, min(int(batch_size), budget_bytes // max(1, 2 * 4 * int(num_items))))


@dataclass(frozen=True)
class TopK:
    """The top-``k`` items of one chunk of users.

    ``users`` ``[B]`` (int64, row positions), ``items`` ``[B, k]`` (int64, best first; -1 where
    fewer than ``k`` items could be ranked), ``scores`` ``[B, k]`` (float32; -inf where -1).
    """

    users: torch.Tensor
    items: torch.Tensor
    scores: torch.Tensor


def _pair_codes(items: UserItems, users: np.ndarray) -> torch.Tensor:
    """Sorted ``position-in-users × num_items + item`` codes of the given users' items (int64)."""
    p = items.pairs(users)
    return torch.from_numpy(p[0] * items.num_items + p[1])


@torch.no_grad()
def topk_chunks(score_fn: ScoreFn, users: np.ndarray, *, k: int, num_items: int, exclude: Sequence[UserItems] = (),
                candidates: np.ndarray | None = None, batch_size: int = 1024,
                device: torch.device | str | None = None, progress: bool = False, owned: bool = False):
    """Yield each chunk's :class:`TopK`: scores for a chunk of users, their excluded items set to
    -inf, the top ``k`` kept (on the scores' device, then moved to the CPU); never a users × items
    matrix beyond one chunk.

    Args:
        score_fn: users ``[B]`` (int64, on ``device``) → scores ``[B, num_items]``.
        users: the users to rank for (row positions, in order).
        k: how many items to keep per user.
        num_items: the catalogue size.
        exclude: items never ranked for a user (the user's training items, say).
        candidates: rank only these items (default: None, all).
        batch_size: the most users per chunk (default: 1024); fewer when :data:`CHUNK_BYTES` says so.
        device: where the user ids go (default: None, the CPU; scores stay where ``score_fn`` puts them).
        progress: a tqdm bar (default: False).
        owned: ``score_fn`` returns a new tensor each call, so its scores may be masked in place
            (default: False: they are copied first, a third of the time of a large chunk).
    """
    users = np.asarray(users, dtype=np.int64)
    step = chunk_users(num_items, batch_size)
    blocked = None
    if candidates is not None:
        blocked = torch.ones(num_items, dtype=torch.bool)
        blocked[torch.as_tensor(np.asarray(candidates, dtype=np.int64))] = False
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(users), desc="evaluate", unit="user", leave=False)
    try:
        for start in range(0, len(users), step):
            chunk = users[start:start + step]
            b = torch.from_numpy(chunk)
            scores = score_fn(b if device is None else b.to(device))
            # masked in place below: the scorer's own new tensor, else a contiguous float32 copy
            if not (owned and scores.dtype == torch.float32 and scores.is_contiguous()):
                scores = scores.float().clone(memory_format=torch.contiguous_format)
            dev = scores.device
            for ex in exclude:
                codes = _pair_codes(ex, chunk).to(dev)
                scores.view(-1)[codes] = -math.inf
            if blocked is not None:
                scores[:, blocked.to(dev)] = -math.inf
            k_eff = min(k, scores.shape[1])
            top = torch.topk(scores, k_eff, dim=1)
            items, values = top.indices.cpu(), top.values.float().cpu()
            if k_eff < k:
                items = torch.nn.functional.pad(items, (0, k - k_eff), value=-1)
                values = torch.nn.functional.pad(values, (0, k - k_eff), value=-math.inf)
            # an item masked to -inf can still be picked when fewer than k items remain: not ranked
            items = torch.where(torch.isfinite(values), items, torch.full_like(items, -1))
            del scores
            yield TopK(b, items, values)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()


def _per_user(top: TopK, target: UserItems, chunk: np.ndarray, ks: Sequence[int], discount: torch.Tensor,
              idcg: torch.Tensor, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user recall, NDCG, hit and MRR at each K for one chunk (float64 arrays ``[B]``)."""
    k_max = top.items.shape[1]
    codes = _pair_codes(target, chunk)
    query = torch.arange(len(chunk), dtype=torch.int64).unsqueeze(1) * target.num_items + top.items
    pos = torch.searchsorted(codes, query).clamp(max=max(len(codes) - 1, 0))
    hits = ((codes[pos] == query) & (top.items >= 0)).to(torch.float64) if len(codes) else \
        torch.zeros(len(chunk), k_max, dtype=torch.float64)
    n_pos = torch.from_numpy(counts[chunk]).to(torch.float64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        h = hits[:, :k]
        n_hit = h.sum(1)
        out[f"recall@{k}"] = (n_hit / n_pos).numpy()
        dcg = (h * discount[:k]).sum(1)
        out[f"ndcg@{k}"] = (dcg / idcg[(torch.clamp(n_pos, max=k) - 1).long()]).numpy()
        out[f"hit@{k}"] = (n_hit > 0).to(torch.float64).numpy()
        first = torch.where(h > 0, torch.arange(1, k + 1, dtype=torch.float64), math.inf).min(1).values
        out[f"mrr@{k}"] = (1.0 / first).numpy()
    return out


@torch.no_grad()
def rank_metrics(score_fn: ScoreFn, target: UserItems, *, exclude: Sequence[UserItems] = (),
                 ks: Sequence[int] = DEFAULT_KS, batch_size: int = 1024, candidates: np.ndarray | None = None,
                 device: torch.device | str | None = None, progress: bool = False,
                 users: np.ndarray | None = None, owned: bool = False) -> Metrics:
    """Full-ranking metrics of a scorer against each user's target items, in chunks of users.

    Each chunk's scores ``[B, num_items]`` are masked (excluded items, non-candidates) and only
    their top ``max(ks)`` kept (:func:`topk_chunks`); hits are looked up in the sorted target
    pairs, so no users × items matrix (not even a boolean one) exists beyond one chunk. The
    per-user values are kept and summed once at the end, in user order: the result is the same,
    bit for bit, whatever the chunk size.

    Args:
        score_fn: users ``[B]`` (int64) → scores ``[B, num_items]``.
        target: the items to find, per user (the test or validation positives).
        exclude: items never ranked for a user (their training items; for testing, also their
            validation items).
        ks: the cut-offs (default: ``(10, 20)``).
        batch_size: the most users per score matrix (default: 1024; fewer on a catalogue so large
            that the chunk would pass :data:`CHUNK_BYTES`).
        candidates: rank only these items (default: None, the whole catalogue). The cold-items
            protocol ranks among the unseen items.
        device: where the user ids go (default: None; the scores' device is the scorer's).
        progress: show a tqdm bar (default: False).
        users: evaluate only these users (default: None, every user with a target); validation
            during training uses a fixed sample of them when users are many.
        owned: ``score_fn`` returns a new tensor each call (:func:`topk_chunks`; default: False).

    Shapes:
        score_fn output: ``[B, num_items]``.
    """
    ks = sorted({int(k) for k in ks})
    k_max = ks[-1]
    counts = target.counts()
    chosen = np.flatnonzero(counts > 0)
    if users is not None:
        chosen = np.intersect1d(chosen, np.asarray(users, dtype=np.int64))
    num_items = target.num_items
    n_cand = num_items if candidates is None else int(len(np.unique(np.asarray(candidates))))
    discount = 1.0 / torch.log2(torch.arange(2, k_max + 2, dtype=torch.float64))
    idcg = torch.cumsum(discount, 0)
    per_user: dict[str, list[np.ndarray]] = {}
    seen = {k: torch.zeros(num_items, dtype=torch.bool) for k in ks}
    start = 0
    for top in topk_chunks(score_fn, chosen, k=k_max, num_items=num_items, exclude=exclude, candidates=candidates,
                           batch_size=batch_size, device=device, progress=progress, owned=owned):
        chunk = chosen[start:start + len(top.users)]
        start += len(chunk)
        for key, values in _per_user(top, target, chunk, ks, discount, idcg, counts).items():
            per_user.setdefault(key, []).append(values)
        for k in ks:
            picked = top.items[:, :k]
            seen[k][picked[picked >= 0]] = True
    values: dict[str, float] = {}
    n = max(len(chosen), 1)
    for m in ("recall", "ndcg", "hit", "mrr"):
        for k in ks:
            parts = per_user.get(f"{m}@{k}")
            values[f"{m}@{k}"] = float(np.concatenate(parts).sum()) / n if parts else 0.0
    for k in ks:
        values[f"coverage@{k}"] = float(seen[k].sum()) / max(n_cand, 1)
    return Metrics(values, len(chosen))


def validation_sample(split: Any, size: int, *, seed: int = 0) -> np.ndarray | None:
    """A fixed sample of ``size`` users with validation targets (sorted row positions), drawn from
    ``seed``; None when there are no more such users than ``size`` (or ``size`` is 0: no sampling),
    or for a labelled (click-through) split.

    During training the validation metric picks the best epoch and stops early; on a million
    users it would cost more than the epoch, and a fixed sample of some ten thousand users
    measures NDCG to about ±0.003 (its standard error) while every epoch sees the same users, so
    epochs stay comparable. The full validation runs once, at the end.
    """
    if size <= 0 or split.labelled:
        return None
    users = np.flatnonzero(split.user_items("valid").counts() > 0)
    if len(users) <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(users, size=size, replace=False))


@torch.no_grad()
def evaluate_model(model: Any, split: Any, *, part: str, config: Any, device: torch.device | None = None,
                   threshold: float | None = None, progress: bool = False, users: np.ndarray | None = None
                   ) -> Metrics:
    """Validation (``part="valid"``) or test metrics of a fitted model.

    Ranking splits: full ranking in chunks of users (:func:`rank_metrics`, on the model's device);
    the user's training items are never ranked, nor, when testing, their validation items;
    ``cold-items`` splits rank among the part's unseen items only; ``users`` restricts the users (a fixed
    validation sample). ``kgcn``: AUC and F1 over the labelled pairs (F1's threshold chosen on
    validation).
    """
    model.eval()
    if split.labelled:
        pairs = torch.from_numpy(getattr(split, part)).long()
        labels = getattr(split, f"{part}_labels")
        scores = model.score_pairs(pairs[0], pairs[1]).float().cpu().numpy()
        if threshold is None:
            threshold = best_threshold(scores, labels)
        out = click_metrics(scores, labels, threshold=threshold)
        return Metrics({**out.values, "threshold": threshold}, out.count)
    train = split.user_items("train")
    exclude = [train] if part == "valid" else [train, split.user_items("valid")]
    from .models.base import RecModel

    # the base class's scores are a fresh matrix product each call; a model's own may not be
    owned = getattr(type(model), "score_all_items", None) is RecModel.score_all_items
    return rank_metrics(model.score_all_items, split.user_items(part), exclude=exclude, ks=config.ks,
                        batch_size=config.eval_batch_size, candidates=split.candidates(part), device=device,
                        progress=progress, users=users, owned=owned)


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
    ``cold-items`` splits rank among the part's unseen items. ``kgcn``: AUC and F1 at the run's threshold.
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
    return rank_metrics(lambda u: users[u] @ items.T, split.user_items(part), exclude=exclude,
                        ks=run.config.ks, batch_size=batch_size, candidates=split.candidates(part))
