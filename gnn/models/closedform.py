"""Closed-form item–item models, factorised so that a score is a dot product of two vectors.

Not a model: the shared engine of ``ease`` and of kgrec's closed-form component.

EASE (Steck, "Embarrassingly shallow autoencoders for sparse data", WWW 2019) learns an item–item
matrix ``B`` with a zero diagonal that minimises ``‖X − XB‖² + λ‖B‖²``:

    P = (XᵀX + λI)⁻¹,   B = I − P · diag(1/diag(P))          (so B_ii = 0)

With side information (Jeunen, Van Balen, Goethals, "Closed-form models for collaborative filtering
with side-information", RecSys 2020) rows that describe the items (an item's tags, genres, KG
neighbours, text) are stacked under the users' rows: ``X' = [X; α₁A₁; α₂A₂; …]`` and ``B`` is EASE of
``X'``. Only the Gram matrix ``X'ᵀX'`` matters, so a group of many attribute rows can be replaced by
its top singular directions (``S Vᵀ`` of ``A ≈ U S Vᵀ``) without changing what it says about items
beyond that rank.

Three exact-or-approximate forms, picked by size (``choose_form``):

- ``primal`` (few items): ``P`` is ``[n_items, n_items]``; a user's vector is their history row
  ``x_u`` and an item's vector is the column ``B[:, i]``.
- ``dual`` (few rows — users plus side rows — compared with items): by Woodbury,
  ``P = (I − X'ᵀ M X') / λ`` with ``M = (X'X'ᵀ + λI)⁻¹`` of size ``[n_rows, n_rows]``, so for an item
  the user has not seen, ``score(u, i) = a_u · c_i`` with ``a_u = M X' x_u / λ`` and
  ``c_i = X'[:, i] / P_ii``. A 17.6k-item catalogue with 1.9k users costs a 1.9k × 1.9k solve.
- ``low-rank`` (neither fits ``max_entries``): a randomized SVD of ``X'`` (``torch.svd_lowrank``, cost
  linear in the non-zeros), ``X' ≈ U S Vᵀ``, and the ridge item–item model in that subspace,
  ``B = V diag(s²/(s² + λ)) Vᵀ`` (the diagonal constraint is dropped: seen items are never ranked).

In every form the user vector is linear in the user's history: ``a = Σ_j x_j · basis[j]``, which is
the fold-in recipe for a new user (``FoldIn("sum", basis)``). Scores of items the user has already
seen are not EASE's (they are never ranked).

Shapes:
    ``users``: ``[n_users, r]``; ``items``, ``basis``: ``[n_items, r]``; ``r`` is ``n_items`` (primal),
    ``n_rows`` (dual) or ``rank`` (low-rank).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

logger = logging.getLogger(__name__)

Form = Literal["primal", "dual", "low-rank"]
# the most entries of one dense working matrix of the exact forms (float32: 4 bytes each): 1.6 GB
MAX_ENTRIES = 400_000_000
# the exact forms solve one dense square system of this size at most
MAX_SOLVE = 12_000


@dataclass(frozen=True, eq=False)
class ItemItemFactors:
    """A fitted closed-form item–item model as vectors: ``score(u, i) = users[u] · items[i]`` for
    every item ``u`` has not seen; ``basis`` folds a new user in (``Σ_j x_j basis[j]``)."""

    users: torch.Tensor
    items: torch.Tensor
    basis: torch.Tensor
    form: Form
    lam: float
    rows: int
    # what to subtract from ``users[u] · items[i]`` where ``u`` has seen ``i`` to get the model's own
    # score of that pair, ``x_u · B[:, i]`` (which never uses ``x_ui`` itself: ``B_ii = 0``)
    seen_offset: torch.Tensor | None = None

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """``X B`` for the users of ``x`` (dense ``[n, n_items]``), seen pairs included."""
        out = self.users @ self.items.T
        if self.seen_offset is not None:
            out = out - x * self.seen_offset.unsqueeze(0)
        return out

    @property
    def dim(self) -> int:
        return int(self.items.shape[1])


def choose_form(n_users: int, n_items: int, n_side: int, *, max_entries: int = MAX_ENTRIES,
                max_solve: int = MAX_SOLVE) -> Form:
    """The cheapest exact form that fits, else ``low-rank``.

    ``dual`` when users plus side rows are fewer than the items, ``primal`` otherwise; an exact form
    is used only when its square system is at most ``max_solve`` on a side and its largest dense
    matrix (``[rows, items]`` for ``dual``, ``[users + items, items]`` for ``primal``) has at most
    ``max_entries`` entries.
    """
    n_rows = n_users + n_side
    if n_rows < n_items:
        if n_rows <= max_solve and n_rows * n_items <= max_entries:
            return "dual"
    elif n_items <= max_solve and (n_users + n_items) * n_items <= max_entries:
        return "primal"
    return "low-rank"


def interaction_matrix(pairs: torch.Tensor, n_users: int, n_items: int) -> torch.Tensor:
    """The binary user × item matrix of ``[2, n]`` (user, item) pairs, sparse COO (duplicates count once)."""
    values = torch.ones(pairs.shape[1], dtype=torch.float32)
    x = torch.sparse_coo_tensor(pairs, values, (n_users, n_items), check_invariants=False).coalesce()
    return torch.sparse_coo_tensor(x.indices(), torch.ones_like(x.values()), x.shape, check_invariants=False).coalesce()


def compress_rows(a: torch.Tensor, rank: int, *, seed: int = 0) -> torch.Tensor:
    """Rows ``R`` with ``RᵀR ≈ aᵀa`` and at most ``rank`` rows (``S Vᵀ`` of a randomized SVD of ``a``;
    ``a`` itself, dense, when it already has few rows)."""
    if a.shape[0] <= rank:
        return a.to_dense() if a.is_sparse else a
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        _, s, v = torch.svd_lowrank(a, q=min(rank, min(a.shape)), niter=4)
    finally:
        torch.random.set_rng_state(gen_state)
    return (v * s).T.contiguous()


def _dense_rows(x: torch.Tensor, side: Sequence[torch.Tensor]) -> torch.Tensor:
    xd = x.to_dense() if x.is_sparse else x
    return torch.cat([xd.float(), *[s.float() for s in side]]) if side else xd.float()


def fit_primal(x: torch.Tensor, side: Sequence[torch.Tensor], lam: float) -> ItemItemFactors:
    """EASE with ``P`` over items (see the module docstring)."""
    rows = _dense_rows(x, side).double()
    gram = rows.T @ rows
    gram.diagonal().add_(lam)
    p = torch.linalg.inv(gram)
    b = -(p / p.diagonal().unsqueeze(0))
    b.diagonal().zero_()
    xd = (x.to_dense() if x.is_sparse else x).float()
    n_items = xd.shape[1]
    return ItemItemFactors(xd, b.T.float().contiguous(), torch.eye(n_items), "primal", lam, rows.shape[0],
                           torch.zeros(n_items))


class DualSolver:
    """The dual form for many values of ``λ`` on the same rows: ``X'X'ᵀ`` is eigen-decomposed once,
    then each ``λ`` costs two products with ``X'`` (see the module docstring)."""

    def __init__(self, x: torch.Tensor, side: Sequence[torch.Tensor]):
        self.n_users = x.shape[0]
        self.rows = _dense_rows(x, side)                  # [n_rows, n_items] float32
        k = (self.rows.double() @ self.rows.double().T)
        self.evals, self.evecs = torch.linalg.eigh(k)
        self.evals = self.evals.clamp(min=0.0)
        self.projected = (self.evecs.T.float() @ self.rows)  # Qᵀ X'  [n_rows, n_items]
        self._projected_sq: torch.Tensor | None = None

    def diagonal(self, lam: float) -> torch.Tensor:
        """``P_ii`` for every item, from the projections alone: ``(1 − Σ_k (QᵀX')²_ki / (s_k + λ)) / λ``."""
        if self._projected_sq is None:
            self._projected_sq = self.projected.pow(2)
        inv = (1.0 / (self.evals + lam)).float()
        return ((1.0 - inv @ self._projected_sq) / lam).clamp(min=1e-12)

    def unseen_scores(self, lam: float, users) -> torch.Tensor:
        """EASE's scores ``[len(users), n_items]`` of the given user rows for the items they have not
        seen (``−(M X')[u, i] / P_ii``; entries of seen items are not EASE's): one product, for
        choosing ``λ`` without building the factors."""
        inv = (1.0 / (self.evals + lam)).float()
        rows = self.evecs[torch.as_tensor(users, dtype=torch.long)].float() * inv.unsqueeze(0)
        return -(rows @ self.projected) / self.diagonal(lam).unsqueeze(0)

    def solve(self, lam: float) -> ItemItemFactors:
        inv = 1.0 / (self.evals + lam)                       # M = Q diag(inv) Qᵀ
        mr = self.evecs.float() @ (inv.float().unsqueeze(1) * self.projected)   # M X'  [n_rows, n_items]
        diag = (1.0 - (mr * self.rows).sum(0)) / lam        # P_ii
        diag = diag.clamp(min=1e-12)
        items = (self.rows / diag.unsqueeze(0)).T.contiguous()     # c_i = X'[:, i] / P_ii
        basis = (mr / lam).T.contiguous()                           # a = Σ_j x_j M X'[:, j] / λ
        m_users = (self.evecs[: self.n_users].float() * inv.float().unsqueeze(0)) @ self.evecs.float().T
        users = -m_users                                            # a_u = e_u / λ − M[u]
        users[:, : self.n_users] += torch.eye(self.n_users) / lam
        return ItemItemFactors(users.contiguous(), items, basis, "dual", lam, self.rows.shape[0],
                               1.0 / (lam * diag) - 1.0)


def fit_dual(x: torch.Tensor, side: Sequence[torch.Tensor], lam: float) -> ItemItemFactors:
    """EASE with ``M`` over users and side rows (see the module docstring)."""
    return DualSolver(x, side).solve(lam)


class LowRankSolver:
    """The low-rank form for many values of ``λ`` on the same rows: the randomized SVD of ``X'``
    (the costly part, linear in its non-zeros) once, then each ``λ`` only shrinks the singular
    directions and costs one product with ``X``."""

    def __init__(self, x: torch.Tensor, side: Sequence[torch.Tensor], *, rank: int, seed: int = 0):
        self.xs = (x if x.is_sparse else x.to_sparse()).float()
        if side:
            extra = torch.cat([s.float() for s in side]).to_sparse()
            full = torch.cat([self.xs, extra]).coalesce()
        else:
            full = self.xs.coalesce()
        self.n_rows = full.shape[0]
        q = min(rank, min(full.shape))
        state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            _, self.s, self.v = torch.svd_lowrank(full, q=q, niter=4)
        finally:
            torch.random.set_rng_state(state)
        self.v = self.v.contiguous()

    def solve(self, lam: float) -> ItemItemFactors:
        shrink = self.s.pow(2) / (self.s.pow(2) + lam)
        basis = (self.v * shrink).contiguous()                     # [n_items, q]
        users = torch.sparse.mm(self.xs, basis)
        return ItemItemFactors(users, self.v, basis, "low-rank", lam, self.n_rows, (self.v * basis).sum(1))


def fit_low_rank(x: torch.Tensor, side: Sequence[torch.Tensor], lam: float, *, rank: int,
                 seed: int = 0) -> ItemItemFactors:
    """The ridge item–item model in the top-``rank`` right singular subspace of ``X'`` (randomized
    SVD: the cost is linear in the non-zeros of ``X`` and the side rows)."""
    return LowRankSolver(x, side, rank=rank, seed=seed).solve(lam)


def fit(x: torch.Tensor, side: Sequence[torch.Tensor] = (), *, lam: float, form: Form | None = None,
        rank: int = 128, seed: int = 0) -> ItemItemFactors:
    """Fit the closed-form model of ``x`` (users × items, sparse or dense) with optional side rows
    (each ``[rows, n_items]``), in ``form`` (default: :func:`choose_form`)."""
    n_side = sum(int(s.shape[0]) for s in side)
    form = form or choose_form(x.shape[0], x.shape[1], n_side)
    if form == "dual":
        return fit_dual(x, side, lam)
    if form == "primal":
        return fit_primal(x, side, lam)
    return fit_low_rank(x, side, lam, rank=rank, seed=seed)


def side_matrix(edge_index: Mapping[tuple, torch.Tensor], num_nodes: Mapping[str, int], item: str,
                exclude: Sequence[str] = ()) -> dict[str, torch.Tensor]:
    """Side-information rows per group from a graph's edges: for every edge type ``(item, r, t)``
    with ``t`` not in ``exclude``, one row per ``(r, t-node)`` marking the items linked to it.
    Groups are the target labels (item–item relations form the item label's own group).

    Returns: label → sparse ``[rows, n_items]`` (rows of nodes that link to no item are dropped).
    """
    n_items = num_nodes[item]
    parts: dict[str, list[torch.Tensor]] = {}
    offsets: dict[str, int] = {}
    for et, ei in edge_index.items():
        s, _, t = et
        if s != item or t in exclude or ei.shape[1] == 0:
            continue
        # compact the target rows of this edge type: only nodes with an edge get a row
        uniq, rows = torch.unique(ei[1], return_inverse=True)
        base = offsets.get(t, 0)
        parts.setdefault(t, []).append(torch.stack([rows + base, ei[0]]))
        offsets[t] = base + len(uniq)
    out = {}
    for label, idx in parts.items():
        index = torch.cat(idx, dim=1)
        a = torch.sparse_coo_tensor(index, torch.ones(index.shape[1]), (offsets[label], n_items),
                                    check_invariants=False).coalesce()
        out[label] = torch.sparse_coo_tensor(a.indices(), torch.ones_like(a.values()), a.shape,
                                             check_invariants=False).coalesce()
    return out


def normalise_columns(a: torch.Tensor) -> torch.Tensor:
    """Scale a group's rows so that its items' side vectors have unit mean squared norm (over the
    items that have any), making one weight scale comparable across groups."""
    dense = a.to_dense() if a.is_sparse else a
    sq = dense.pow(2).sum(0)
    has = sq > 0
    if not bool(has.any()):
        return dense
    return dense / sq[has].mean().sqrt()
