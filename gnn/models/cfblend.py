"""kgrec's closed-form block: a side-information EASE chosen on validation, blended with the GNN.

After the GNN has trained (best weights loaded), :func:`select` fits the item–item model of
:mod:`~kgrec.gnn.models.closedform` on the training interactions with the items' side information
stacked under them (Jeunen et al., RecSys 2020): one group of rows per kind of side information —
the items' text (its top principal components, each item's row of unit length) and, per label that
items link to in the KG (tags, genres, entities, other items), the item–neighbour incidence
compressed to its top singular directions — each group scaled to a comparable size. Every choice
is made on validation NDCG@20 (the test part is never looked at), greedily:

1. ``λ`` of plain EASE over a grid (the interactions alone);
2. each side group in turn: its weight ``α² = γ·λ`` for ``γ`` in a grid, kept only if validation
   improves (a group that does not help stays off: a KG of noise, or unreadable text, adds nothing);
3. ``λ`` once more around the choice, the side rows fixed.

Then :func:`choose_blend` picks the share ``w`` of the two standardised scores,
``score = (1 − w)·s_gnn/σ_gnn + w·s_cf/σ_cf``, from 0 to 1 (``BLEND``), on validation again;
``w = 0`` (the GNN alone) is one of the choices, so the blend is never worse than the GNN on
validation. Both are recorded in the run (``metrics.extra["selection"]``). With kgrec's default
``best_epoch_by="blend"`` the block is selected at the first validation and ``choose_blend`` runs at
every validation, on the block's validation scores computed once; the trainer keeps the epoch whose
blend scores best.

Size rule: the exact forms (primal or Woodbury-dual, :func:`closedform.choose_form`) while their
largest dense matrix has at most ``closedform.MAX_ENTRIES`` entries; past that the low-rank form
(randomized SVD, cost linear in the interactions; one SVD per set of side rows, shared by every
``λ`` tried on it and by the final fit), logged. Validation during selection uses at most
``MAX_EVAL_USERS`` users (a seeded sample) and, where users × items would pass ``MAX_CACHE`` score
entries, fewer.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data import UserItems
from ..evaluate import auc_score, rank_metrics
from . import closedform as cf

logger = logging.getLogger(__name__)

LAMBDAS = (12.5, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0)
GAMMAS = (0.3, 1.0, 3.0)
BLEND = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
SIDE_RANK = 128   # rows kept per KG group
TEXT_DIM = 64     # principal components kept of the item text
MAX_EVAL_USERS = 4096
MAX_CACHE = 60_000_000
LOW_RANK = 128    # rank of the low-rank form
METRIC = "ndcg@20"


@dataclass
class Validator:
    """Validation NDCG@20 of candidate scores over a fixed (seeded) sample of validation users."""

    train: UserItems
    valid: UserItems
    users: np.ndarray            # the evaluated users (row positions)
    candidates: np.ndarray | None = None  # the items ranked (cold-items split: validation's cold items)
    target: UserItems = field(init=False)
    position: np.ndarray = field(init=False)

    def __post_init__(self):
        pairs = self.valid.pairs(self.users)
        pairs[0] = self.users[pairs[0]]
        self.target = UserItems.from_pairs(pairs, self.valid.num_users, self.valid.num_items)
        self.position = np.full(self.valid.num_users, -1, dtype=np.int64)
        self.position[self.users] = np.arange(len(self.users))

    @classmethod
    def build(cls, split, *, seed: int = 0) -> Validator | LabelledValidator:
        """A ranking validator, or for labelled splits (``kgcn``) an AUC one."""
        if split.labelled:
            return LabelledValidator(split)
        train, valid = split.user_items("train"), split.user_items("valid")
        users = np.flatnonzero(valid.counts() > 0)
        cap = min(MAX_EVAL_USERS, max(256, MAX_CACHE // max(split.num_items, 1)))
        if len(users) > cap:
            users = np.sort(np.random.default_rng(seed).choice(users, size=cap, replace=False))
        return cls(train, valid, users, split.candidates("valid"))

    def score(self, fn) -> float:
        """``fn(users) → [B, n_items]`` scores for global user rows."""
        return float(rank_metrics(fn, self.target, exclude=[self.train], ks=[20], batch_size=512,
                                  candidates=self.candidates)[METRIC])

    def factors(self, users: torch.Tensor, items: torch.Tensor) -> float:
        return self.score(lambda u: users[u] @ items.T)

    def matrix(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of the evaluated users, ``[len(users), n_items]``."""
        idx = torch.from_numpy(self.users)
        return torch.cat([users[idx[i:i + 512]] @ items.T for i in range(0, len(idx), 512)])

    def cached(self, scores: torch.Tensor) -> float:
        pos = torch.from_numpy(self.position)
        return self.score(lambda u: scores[pos[u]])

    def spread(self, scores: torch.Tensor) -> float:
        """Standard deviation of the scores of items the users have not seen (their spread per user)."""
        mask = self.train.dense(self.users, device=scores.device)
        s = scores.masked_fill(mask, float("nan"))
        centred = s - torch.nanmean(s, dim=1, keepdim=True)
        value = float(torch.sqrt(torch.nanmean(centred.pow(2))))
        return value if math.isfinite(value) and value > 0 else 1.0


class LabelledValidator:
    """Validation AUC over the labelled validation pairs (the ``kgcn`` protocol's monitor)."""

    def __init__(self, split):
        self.pairs = torch.from_numpy(split.valid).long()
        self.labels = split.valid_labels
        self.users = np.unique(split.valid[0])

    def matrix(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (users[self.pairs[0]] * items[self.pairs[1]]).sum(-1)

    def cached(self, scores: torch.Tensor) -> float:
        return auc_score(scores.double().numpy(), self.labels)

    def factors(self, users: torch.Tensor, items: torch.Tensor) -> float:
        return self.cached(self.matrix(users, items))

    def spread(self, scores: torch.Tensor) -> float:
        value = float(scores.double().std())
        return value if math.isfinite(value) and value > 0 else 1.0


# -- side information ------------------------------------------------------------------------------
def side_groups(inputs, *, text: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """Dense side rows per group (``[rows, n_items]``), each scaled to unit mean squared item norm."""
    groups: dict[str, torch.Tensor] = {}
    item = inputs.item_type
    x = inputs.text(item) if text else None
    if x is not None:  # the top principal components (exact: an eigendecomposition of the covariance)
        v = (x.double() - x.double().mean(0))
        k = min(TEXT_DIM, v.shape[1], max(v.shape[0] - 1, 1))
        vals, vecs = torch.linalg.eigh(v.T @ v)
        comp = vecs[:, torch.argsort(vals, descending=True)[:k]]
        reduced = torch.nn.functional.normalize((v @ comp).float(), dim=1)
        groups["text"] = reduced.T.contiguous()
    g = inputs.graph
    edge_index = {tuple(et): g[et].edge_index for et in g.edge_types}
    num_nodes = {nt: int(g[nt].num_nodes) for nt in g.node_types}
    for label, a in cf.side_matrix(edge_index, num_nodes, item, exclude=[inputs.user_type]).items():
        rows = cf.compress_rows(a, SIDE_RANK, seed=seed)
        groups[label] = cf.normalise_columns(rows)
    return groups


def exact_size(num_users: int, num_items: int) -> bool:
    """Whether the block's exact forms apply to the interactions alone (else its low-rank form:
    a graph past ``closedform.MAX_ENTRIES`` / ``MAX_SOLVE``)."""
    return cf.choose_form(num_users, num_items, 0, max_entries=cf.MAX_ENTRIES, max_solve=cf.MAX_SOLVE) != "low-rank"


# -- selection -------------------------------------------------------------------------------------
def select(inputs, config, validator: Validator | LabelledValidator) -> tuple[cf.ItemItemFactors, dict[str, Any]]:
    """The closed-form model chosen on validation (module docstring, steps 1-3) and its record."""
    t0 = time.perf_counter()
    pairs = torch.from_numpy(inputs.split.positives("train")).long()
    x = cf.interaction_matrix(pairs, inputs.num_users, inputs.num_items)
    groups = side_groups(inputs, text=config.text, seed=config.seed)
    n_side = sum(int(a.shape[0]) for a in groups.values())
    form = cf.choose_form(inputs.num_users, inputs.num_items, n_side)
    if form == "low-rank":
        logger.info("kgrec closed-form block: %d users × %d items (+%d side rows) is past the exact forms' "
                    "limit; using the rank-%d form", inputs.num_users, inputs.num_items, n_side, LOW_RANK)
    steps: list[dict[str, Any]] = []
    labelled = isinstance(validator, LabelledValidator)
    solvers: dict[tuple, cf.DualSolver | cf.LowRankSolver] = {}

    def rows_of(side: dict[str, float]) -> list[torch.Tensor]:
        return [math.sqrt(w) * groups[k] for k, w in side.items()]

    def solver(side: dict[str, float]):
        """The dual or low-rank solver of these side rows: one factorisation per set of rows, kept for
        the next λ (the dual form keeps the last only: its matrices are large; a low-rank one holds
        ``items × rank`` numbers, so all are kept and the final fit reuses the chosen one)."""
        key = tuple(sorted(side.items()))
        if key not in solvers:
            if form == "dual":
                solvers.clear()
            solvers[key] = (cf.DualSolver(x, rows_of(side)) if form == "dual" else
                            cf.LowRankSolver(x, rows_of(side), rank=LOW_RANK, seed=config.seed))
        return solvers[key]

    def evaluate(side: dict[str, float], lam: float) -> float:
        if form == "dual" and not labelled:  # one eigendecomposition per set of side rows, one product per λ
            score = validator.cached(solver(side).unseen_scores(lam, validator.users))
        else:
            f = solver(side).solve(lam) if form == "low-rank" else cf.fit(x, rows_of(side), lam=lam, form=form)
            score = validator.factors(f.users, f.items)
        steps.append({"lambda": lam, "side": {k: round(w, 4) for k, w in side.items()}, "valid": round(score, 6)})
        return score

    # 1. λ on the interactions alone
    best_score, lam = -1.0, LAMBDAS[0]
    worse = 0
    for value in LAMBDAS:
        score = evaluate({}, value)
        if score > best_score:
            best_score, lam, worse = score, value, 0
        else:
            worse += 1
            if worse >= 2:
                break
    plain_score = best_score
    # 2. side groups, one at a time, each kept only if it helps
    side: dict[str, float] = {}
    chosen: dict[str, float] = {}
    for name in groups:
        for gamma in GAMMAS:
            trial = {**side, name: gamma * lam}
            score = evaluate(trial, lam)
            if score > best_score:
                best_score, chosen[name] = score, gamma
                side = trial
        if name not in chosen:
            chosen[name] = 0.0
            side.pop(name, None)
    # 3. λ once more, the side rows fixed
    if side:
        for value in (lam / 2, lam * 2):
            score = evaluate(side, value)
            if score > best_score:
                best_score, lam = score, value
    if form == "low-rank":  # the SVD of the chosen rows, computed once
        best = solver(side).solve(lam)
        solvers.clear()
    else:
        solvers.clear()
        best = cf.fit(x, rows_of(side), lam=lam, form=form)
    record = {"form": best.form, "lambda": lam, "groups": chosen, "dim": best.dim,
              "valid": round(best_score, 6), "valid_interactions_only": round(plain_score, 6),
              "eval_users": int(len(validator.users)), "seconds": round(time.perf_counter() - t0, 1),
              "steps": steps}
    logger.info("kgrec closed-form block: %s form, λ=%g, side %s, validation %.4f (interactions only %.4f), %.0f s",
                best.form, lam, chosen, best_score, plain_score, record["seconds"])
    return best, record


def choose_blend(gnn: tuple[torch.Tensor, torch.Tensor], item_item: cf.ItemItemFactors,
                 validator: Validator | LabelledValidator, *, trained: float | None = None,
                 spread_cf: float | None = None, cf_matrix: torch.Tensor | None = None,
                 log: bool = True) -> dict[str, Any]:
    """The share ``w`` of the closed-form score, and the two spreads that standardise the scores.

    ``trained``: the closed-form block's weight the GNN was trained with (``closed_form="residual"``:
    ``score = s_gnn + trained · s_cf/σ_cf``), added to the grid as the ``w`` that gives that mix.
    ``cf_matrix``: the block's validation scores (``validator.matrix`` of its vectors) when already
    computed; ``item_item`` is then not read.
    """
    s_g = validator.matrix(*gnn)
    s_c = cf_matrix if cf_matrix is not None else validator.matrix(item_item.users, item_item.items)
    sd_g = validator.spread(s_g)
    sd_c = spread_cf if spread_cf is not None else validator.spread(s_c)
    s_g, s_c = s_g / sd_g, s_c / sd_c
    scores = {}
    grid = list(BLEND)
    if trained is not None and trained > 0:
        grid.append(round(trained / (sd_g + trained), 4))
    for w in grid:
        scores[w] = validator.cached((1 - w) * s_g + w * s_c if 0 < w < 1 else (s_g if w == 0 else s_c))
    w_best = max(scores, key=lambda w: (scores[w], -abs(w - 0.5)))
    (logger.info if log else logger.debug)(
        "kgrec blend: w=%.2f of the closed-form block; validation %.4f (GNN alone %.4f, closed form alone %.4f)",
        w_best, scores[w_best], scores[0.0], scores[1.0])
    return {"weight": w_best, "spread_gnn": sd_g, "spread_closed_form": sd_c,
            "valid": {f"{w:.4g}": round(v, 6) for w, v in scores.items()}}
