"""The closed-form item–item engine (EASE in three forms) and kgrec's closed-form block, on real data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgrec.gnn import Run, split_interactions, train
from kgrec.gnn.models import closedform as cf
from tests.fixtures.gnn import make_config


@pytest.fixture(scope="module")
def small_x(lastfm_small_kg):
    split = split_interactions(lastfm_small_kg, "random", seed=0)
    pairs = torch.from_numpy(split.positives("train")).long()
    return cf.interaction_matrix(pairs, split.num_users, split.num_items), split


def _ease_scores(x: np.ndarray, lam: float, side: np.ndarray | None = None) -> np.ndarray:
    """EASE straight from its definition (Steck 2019): B = I − P / diag(P), scores X·B."""
    rows = x if side is None else np.vstack([x, side])
    p = np.linalg.inv(rows.T @ rows + lam * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    return x @ b


@pytest.mark.parametrize("form", ["dual", "primal"])
def test_exact_forms_equal_ease_on_unseen_items(small_x, form):
    x, _ = small_x
    dense = x.to_dense().double().numpy()
    side = np.random.default_rng(0).random((5, dense.shape[1])) * (np.random.default_rng(1).random((5, dense.shape[1])) < 0.1)
    want = _ease_scores(dense, 30.0, side)
    f = cf.fit(x, [torch.from_numpy(side).float()], lam=30.0, form=form)
    got = (f.users @ f.items.T).double().numpy()
    unseen = dense == 0
    assert np.allclose(got[unseen], want[unseen], atol=1e-4 * np.abs(want).max())
    # the fold-in basis rebuilds every training user's vector from their items
    rebuilt = torch.from_numpy(dense).float() @ f.basis
    assert torch.allclose(rebuilt, f.users, atol=1e-4 * float(f.users.abs().max()))


def test_choose_form_by_size():
    assert cf.choose_form(1_892, 17_632, 300) == "dual"          # lastfm: users ≪ items
    assert cf.choose_form(6_040, 3_706, 300) == "primal"         # dense movie ratings: items < users
    assert cf.choose_form(1_000_000, 100_000, 300) == "low-rank"  # past the exact forms' limits


def test_low_rank_form_is_linear_in_history(small_x):
    x, _ = small_x
    f = cf.fit(x, lam=10.0, form="low-rank", rank=16)
    assert f.form == "low-rank" and f.dim <= 16
    rebuilt = torch.sparse.mm(x, f.basis)
    assert torch.allclose(rebuilt, f.users, atol=1e-5)


def test_low_rank_solver_reuses_one_svd_for_every_lambda(small_x):
    """The block's λ search on a large graph factorises once per set of side rows: each λ solved
    from the shared SVD is exactly the fit made from scratch, and different λ differ."""
    x, _ = small_x
    side = [torch.rand(4, x.shape[1], generator=torch.Generator().manual_seed(0))]
    solver = cf.LowRankSolver(x, side, rank=16, seed=3)
    fits = {}
    for lam in (5.0, 50.0):
        fits[lam] = solver.solve(lam)
        fresh = cf.fit(x, side, lam=lam, form="low-rank", rank=16, seed=3)
        for name in ("users", "items", "basis"):
            assert torch.equal(getattr(fits[lam], name), getattr(fresh, name)), (lam, name)
    assert not torch.allclose(fits[5.0].users, fits[50.0].users)


def test_the_blocks_low_rank_search_factorises_once_per_set_of_side_rows(lastfm_small_kg, gnn_small_vectors,
                                                                        monkeypatch):
    """On a graph past the exact forms (forced here), every λ of a set of side rows shares one SVD,
    and the final fit reuses the chosen set's."""
    made = []
    real = cf.LowRankSolver.__init__

    def counted(self, x, side, **kw):
        made.append(len(side))
        real(self, x, side, **kw)

    monkeypatch.setattr(cf, "choose_form", lambda *a, **k: "low-rank")
    monkeypatch.setattr(cf.LowRankSolver, "__init__", counted)
    run = train(lastfm_small_kg, make_config(model="kgrec", epochs=1), vectors=gnn_small_vectors, save=False)
    record = run.metrics.extra["selection"]["closed_form"]
    assert record["form"] == "low-rank"
    steps = record["steps"]
    side_sets = {tuple(sorted(step["side"].items())) for step in steps}
    assert len(steps) > len(side_sets)  # some set of rows was tried at more than one λ
    assert len(made) == len(side_sets)  # ... and factorised once


def test_kgrec_closed_form_block_is_chosen_on_validation_and_round_trips(lastfm_small_kg, gnn_small_vectors,
                                                                       tmp_path):
    run = train(lastfm_small_kg, make_config(model="kgrec", epochs=2), vectors=gnn_small_vectors,
                out=tmp_path / "run")
    record = run.metrics.extra["selection"]["closed_form"]
    blend = record["blend"]
    assert record["form"] == "dual" and record["lambda"] > 0
    assert set(record["groups"]) >= {"text", "Tag"}
    # every choice is a validation score; w = 0 (the GNN alone) was one of them and the best was taken
    assert blend["valid"][f"{blend['weight']:.4g}"] == max(blend["valid"].values())
    gnn_alone = blend["valid"]["0"]
    assert max(blend["valid"].values()) >= gnn_alone
    assert run.metrics.valid["ndcg@20"] == pytest.approx(max(blend["valid"].values()), abs=1e-6)
    users, items = run.user_vectors, run.item_vectors
    assert users.shape[1] == items.shape[1]
    if blend["weight"] > 0:
        assert items.shape[1] > run.config.dim + 1
        # the closed-form columns of a training user are the fold-in of their training items
        u = int(np.flatnonzero(run.split.user_items("train").counts() > 0)[0])
        v = run.fold_in(run.train_items(u))
        tail = run.config.dim + 1
        assert np.allclose(v[tail:], users[u, tail:], atol=1e-4 * np.abs(users[u, tail:]).max())
    text = gnn_small_vectors.vectors[lastfm_small_kg.schema.item_label][0]
    assert run.item_from_text(text, {}).shape == (items.shape[1],)
    loaded = Run.load(tmp_path / "run")
    assert np.allclose(loaded.fold_in(run.train_items(0)), run.fold_in(run.train_items(0)))


def test_kgrec_keeps_the_epoch_its_blend_scores_best(lastfm_small_kg, gnn_small_vectors):
    """The default ``best_epoch_by="blend"``: each validation scores the best blend of that epoch's GNN with the block
    (chosen once); the epoch kept is the best of those scores, and the run's blend is that epoch's."""
    run = train(lastfm_small_kg, make_config(model="kgrec", epochs=4), vectors=gnn_small_vectors,
                save=False)
    scored = [(r.epoch, r.valid["monitored"]) for r in run.history if r.valid]
    assert len(scored) == 4
    best_epoch, best = max(scored, key=lambda e: e[1])
    assert run.metrics.best_epoch == best_epoch
    blend = run.metrics.extra["selection"]["closed_form"]["blend"]
    assert max(blend["valid"].values()) == pytest.approx(best, abs=1e-6)
    # the monitored score is the blend's, not the GNN's alone (which is one of the blend's choices)
    assert all(score >= r.valid["ndcg@20"] - 1e-6 for r, (_, score) in zip([r for r in run.history if r.valid], scored))


def test_past_the_exact_forms_the_epoch_is_kept_by_the_gnn(lastfm_small_kg, gnn_small_vectors, monkeypatch):
    """A graph past the block's exact forms keeps the GNN's own best epoch (no blend score while
    training) and still gets its block after training."""
    monkeypatch.setattr(cf, "MAX_SOLVE", 10)
    run = train(lastfm_small_kg, make_config(model="kgrec", epochs=2), vectors=gnn_small_vectors, save=False)
    assert all("monitored" not in r.valid for r in run.history)
    assert "blend" in run.metrics.extra["selection"]["closed_form"]


def test_kgrec_closed_form_can_be_switched_off(lastfm_small_kg, gnn_small_vectors):
    run = train(lastfm_small_kg, make_config(model="kgrec", epochs=1, closed_form="off"), vectors=gnn_small_vectors,
                save=False)
    assert "selection" not in run.metrics.extra
    assert run.item_vectors.shape[1] == run.config.dim + 1


def test_kgrec_residual_gnn_trains_on_the_closed_form_scores(lastfm_small_kg, gnn_small_vectors):
    run = train(lastfm_small_kg, make_config(model="kgrec", epochs=2, closed_form="residual"),
                vectors=gnn_small_vectors, save=False)
    record = run.metrics.extra["selection"]["closed_form"]
    assert record["trained_weight"] > 0                        # τ·β, learned with the GNN
    blend = record["blend"]
    trained_w = round(record["trained_weight"] / (blend["spread_gnn"] + record["trained_weight"]), 4)
    assert f"{trained_w:.4g}" in blend["valid"]                # the trained mix was one of the choices
    assert "cf_beta" in run.weights
    if blend["weight"] > 0:
        u = 0
        v = run.fold_in(run.train_items(u))
        tail = run.config.dim + 1
        assert np.allclose(v[tail:], run.user_vectors[u, tail:], atol=1e-4 * np.abs(run.user_vectors[u, tail:]).max())


def test_seen_offset_gives_ease_scores_of_training_pairs(small_x):
    x, _ = small_x
    dense = x.to_dense()
    want = _ease_scores(dense.double().numpy(), 30.0)
    for form in ("dual", "primal"):
        f = cf.fit(x, lam=30.0, form=form)
        assert np.allclose(f.scores(dense).double().numpy(), want, atol=1e-4 * np.abs(want).max()), form
