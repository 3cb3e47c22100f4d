"""The lazy row Adam of sampled steps: SparseAdam's update, row for row, and SparseAdam's state."""

import pytest
import torch

from kgrec.gnn.lazy_adam import RowAdam


def _grads(n_rows: int, dim: int, steps: int, seed: int = 0) -> list[torch.Tensor]:
    """Uncoalesced sparse gradients as ``nn.Embedding(sparse=True)`` makes them: repeated rows included."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        rows = torch.randint(0, n_rows, (300,), generator=g)  # ~260 distinct rows, some twice
        out.append(torch.sparse_coo_tensor(rows.unsqueeze(0), torch.randn(300, dim, generator=g), (n_rows, dim),
                                           check_invariants=True))
    return out


def _run(cls, grads, start: torch.Tensor, **kw) -> tuple[torch.Tensor, torch.optim.Optimizer]:
    p = torch.nn.Parameter(start.clone())
    opt = cls([p], lr=0.01, **kw)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach(), opt


def test_row_adam_matches_sparse_adam():
    start = torch.randn(1000, 16, generator=torch.Generator().manual_seed(1))
    grads = _grads(1000, 16, steps=12)
    ours, opt = _run(RowAdam, grads, start)
    ref, ref_opt = _run(torch.optim.SparseAdam, grads, start)
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)
    assert not torch.equal(ours, start)
    # rows no gradient touched have not moved, and their moments are still zero
    touched = torch.zeros(1000, dtype=torch.bool)
    for g in grads:
        touched[g.coalesce().indices()[0]] = True
    assert (~touched).any()
    assert torch.equal(ours[~touched], start[~touched])
    st, ref_st = opt.state[opt.param_groups[0]["params"][0]], ref_opt.state[ref_opt.param_groups[0]["params"][0]]
    assert st["step"] == ref_st["step"] == 12
    assert torch.allclose(st["exp_avg"], ref_st["exp_avg"], atol=1e-7)
    assert torch.allclose(st["exp_avg_sq"], ref_st["exp_avg_sq"], atol=1e-7)
    assert torch.count_nonzero(st["exp_avg"][~touched]) == 0


def test_row_adam_resumes_from_sparse_adam_state():
    """A checkpoint written with SparseAdam's state goes on under RowAdam as SparseAdam would."""
    start = torch.randn(200, 8, generator=torch.Generator().manual_seed(2))
    grads = _grads(200, 8, steps=6, seed=3)
    _, ref_opt = _run(torch.optim.SparseAdam, grads[:3], start)
    half = ref_opt.param_groups[0]["params"][0].detach().clone()
    p = torch.nn.Parameter(half.clone())
    opt = RowAdam([p], lr=0.01)
    opt.load_state_dict(ref_opt.state_dict())
    for g in grads[3:]:
        p.grad = g.clone()
        opt.step()
    ref, _ = _run(torch.optim.SparseAdam, grads, start)
    assert torch.allclose(p.detach(), ref, atol=1e-6, rtol=0)


def test_row_adam_refuses_a_dense_gradient():
    p = torch.nn.Parameter(torch.zeros(4, 2))
    p.grad = torch.ones(4, 2)
    with pytest.raises(RuntimeError, match="sparse gradients"):
        RowAdam([p], lr=0.1).step()
