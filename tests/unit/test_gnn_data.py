"""IdMap, KnowledgeGraph → HeteroData, splits (deterministic, disjoint, no leakage)."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.errors import ConfigError, InputError, UnknownItemError, UnknownUserError
from kgrec.gnn import IdMap, reverse_edge_type, split_interactions, to_heterodata, train_graph
from kgrec.gnn.data import load_id_maps, save_id_maps


def _pairs(a: np.ndarray) -> set[tuple[int, int]]:
    return set(map(tuple, np.asarray(a).T.tolist()))


def test_idmap_round_trip_and_errors(tmp_path):
    m = IdMap("User", ["u1", "u2", "u3"], role="user")
    assert len(m) == 3 and "u2" in m and "zz" not in m
    assert m.index("u3") == 2
    assert m.indices(["u3", "u1"]).tolist() == [2, 0]
    assert m.id(1) == "u2" and m.external_ids([2, 0]) == ["u3", "u1"]
    with pytest.raises(UnknownUserError, match="zz"):
        m.index("zz")
    assert m.indices(["u1", "zz"], missing="-1").tolist() == [0, -1]
    assert m.indices(["u1", "zz"], missing="drop").tolist() == [0]
    with pytest.raises(UnknownItemError):
        IdMap("Item", ["a"], role="item").index("b")
    with pytest.raises(KeyError):
        IdMap("Tag", ["a"]).index("b")
    with pytest.raises(InputError, match="duplicate"):
        IdMap("User", ["a", "a"])
    save_id_maps({"User": m}, tmp_path / "ids.json")
    assert load_id_maps(tmp_path / "ids.json")["User"] == m


def test_to_heterodata(synthetic_kg):
    kg = synthetic_kg
    rng = np.random.default_rng(0)
    vectors = {kg.schema.item_label: rng.normal(size=(kg.num_nodes(kg.schema.item_label), 16)).astype(np.float32)}
    data = to_heterodata(kg, vectors)
    assert set(data.node_types) == set(kg.nodes)
    for label in kg.nodes:
        assert data[label].num_nodes == kg.num_nodes(label)
    assert data[kg.schema.item_label].x.shape == (kg.num_nodes(kg.schema.item_label), 16)
    for et, df in kg.edges.items():
        if not len(df):
            continue
        ei = data[et].edge_index
        assert ei.shape == (2, len(df))
        rev = data[reverse_edge_type(et)].edge_index
        assert (rev.flip(0) == ei).all()
        assert reverse_edge_type(et)[1] == "rev_" + et[1]
    assert data.id_maps[kg.schema.user_label].ids == tuple(kg.users["id"])
    with pytest.raises(InputError, match="shape"):
        to_heterodata(kg, {kg.schema.item_label: np.zeros((3, 4), np.float32)})
    with pytest.raises(ConfigError, match="NOPE"):
        to_heterodata(kg, relations=["NOPE"])
    kept = to_heterodata(kg, exclude_relations=["HAS_TAG"])
    assert not any(et[1] in ("HAS_TAG", "rev_HAS_TAG") for et in kept.edge_types)
    assert tuple(kg.schema.interaction) in kept.edge_types


@pytest.mark.parametrize("kind", ["random", "cold-items", "kgcn"])
def test_splits_are_deterministic_disjoint_and_cover(synthetic_kg, kind):
    kg = synthetic_kg
    a = split_interactions(kg, kind, seed=3)
    b = split_interactions(kg, kind, seed=3)
    c = split_interactions(kg, kind, seed=4)
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)
    tr, va, te = (_pairs(a.positives(p)) for p in ("train", "valid", "test"))
    assert not (tr & va) and not (tr & te) and not (va & te)
    everything = _pairs(np.unique(kg.edge_index(tuple(kg.schema.interaction)), axis=1))
    assert tr | va | te == everything
    if kind == "random":
        n = len(everything)
        assert abs(len(te) / n - 0.1) < 0.03 and abs(len(va) / n - 0.1) < 0.03
        # every user keeps at least one training pair
        assert set(a.train[0]) == set(np.asarray(list(everything)).T[0])
    if kind == "cold-items":
        cold, valid_cold = set(a.cold_items.tolist()), set(a.valid_cold_items.tolist())
        assert cold and all(i in cold for _, i in te)
        # validation is cold too: its own items, never trained on, so choices made on it fit the test
        assert valid_cold and not (valid_cold & cold) and all(i in valid_cold for _, i in va)
        assert not any(i in cold | valid_cold for _, i in tr)
        seen = len({i for _, i in everything})
        assert abs(len(valid_cold) - 0.1 * seen) <= 1 and abs(len(cold) - 0.1 * seen) <= 1
        assert a.candidates("test") is a.cold_items and a.candidates("valid") is a.valid_cold_items
        assert a.candidates("train") is None and a.summary()["valid_cold_items"] == len(valid_cold)
    else:
        assert a.candidates("valid") is None and a.candidates("test") is None
    if kind == "kgcn":
        n = sum(len(getattr(a, p)[0]) for p in ("train", "valid", "test"))
        assert len(a.test[0]) == int(n * 0.2) and len(a.valid[0]) == int(n * 0.2)
        negatives = set()
        for p in ("train", "valid", "test"):
            labels = getattr(a, f"{p}_labels")
            negatives |= _pairs(getattr(a, p)[:, labels == 0])
        assert len(negatives) == len(everything)          # one negative per positive
        assert not (negatives & everything)               # never an observed pair


def test_split_ignores_row_order(synthetic_kg):
    kg = synthetic_kg
    inter = tuple(kg.schema.interaction)
    shuffled = kg.replace(edges={inter: kg.edges[inter].sample(frac=1.0, random_state=1).reset_index(drop=True)},
                          nodes={kg.schema.user_label: kg.users.sample(frac=1.0, random_state=2).reset_index(drop=True)})
    a, b = split_interactions(kg, "random", seed=0), split_interactions(shuffled, "random", seed=0)
    ua, ub = kg.users["id"].to_numpy(), shuffled.users["id"].to_numpy()
    ia, ib = kg.items["id"].to_numpy(), shuffled.items["id"].to_numpy()
    ext_a = {(ua[u], ia[i]) for u, i in a.test.T}
    ext_b = {(ub[u], ib[i]) for u, i in b.test.T}
    assert ext_a == ext_b


def test_temporal_split(synthetic_kg):
    kg = synthetic_kg  # its interactions carry a timestamp
    s = split_interactions(kg, "temporal", seed=0)
    inter = kg.interactions
    ts = {(u, i): t for u, i, t in zip(kg.edge_index(tuple(kg.schema.interaction))[0],
                                        kg.edge_index(tuple(kg.schema.interaction))[1], inter["timestamp"])}
    for u in np.unique(s.test[0]):
        latest_train = max(ts[(u, i)] for i in s.train[1][s.train[0] == u])
        earliest_test = min(ts[(u, i)] for i in s.test[1][s.test[0] == u])
        assert earliest_test >= latest_train


def test_temporal_without_timestamps_says_so(synthetic_kg):
    inter = tuple(synthetic_kg.schema.interaction)
    untimed = synthetic_kg.replace(edges={inter: synthetic_kg.edges[inter].drop(columns=["timestamp"])})
    with pytest.raises(ConfigError, match="timestamp"):
        split_interactions(untimed, "temporal")
    with pytest.raises(ConfigError, match="random, temporal, cold-items, kgcn"):
        split_interactions(synthetic_kg, "sideways")


def test_training_graph_has_no_valid_or_test_interactions(synthetic_kg):
    kg = synthetic_kg
    data = to_heterodata(kg)
    inter = tuple(kg.schema.interaction)
    for kind in ("random", "cold-items", "kgcn"):
        s = split_interactions(kg, kind, seed=0)
        g = train_graph(data, s)
        fwd = _pairs(g[inter].edge_index.numpy())
        back = _pairs(g[reverse_edge_type(inter)].edge_index.numpy()[::-1])
        assert fwd == back == _pairs(s.positives("train"))
        assert not fwd & _pairs(s.positives("valid")) and not fwd & _pairs(s.positives("test"))
        # the other edge types are untouched
        for et in data.edge_types:
            if et[1] not in (inter[1], "rev_" + inter[1]):
                assert g[et].edge_index is data[et].edge_index

