"""kgrec's feature gates: with ``feature_gates`` the model starts as its interactions-only backbone
(a relation-weighted LightGCN over the user–item edges) and lets KG relations and text in by training."""

from __future__ import annotations

import torch

from kgrec.gnn import model_class
from kgrec.gnn.train import Trainer, prepare
from tests.fixtures.gnn import make_config


def _model(kg, vectors, **changes):
    config = make_config(model="kgrec", **changes).effective()
    inputs, _ = prepare(kg, config, vectors=vectors)
    torch.manual_seed(0)
    return model_class("kgrec")(inputs, config), inputs, config


def test_gated_kgrec_starts_as_its_interactions_only_backbone(lastfm_small_kg, gnn_small_vectors):
    full, _, _ = _model(lastfm_small_kg, gnn_small_vectors, feature_gates=True)
    backbone, _, _ = _model(lastfm_small_kg, gnn_small_vectors, relations=[], text=False)
    assert len(full.groups) > len(backbone.groups)          # the full model has KG groups to gate
    for label in (full.user_type, full.item_type):
        backbone.emb[label].weight.data.copy_(full.emb[label].weight.data)
    full.eval(), backbone.eval()
    a, b = full.gnn_embeddings(), backbone.gnn_embeddings()
    for label in (full.user_type, full.item_type):
        assert torch.allclose(a[label], b[label], atol=1e-6), label
    # without gates the same model does not start there: KG and text change the vectors at once
    ungated, _, _ = _model(lastfm_small_kg, gnn_small_vectors)
    for label in (full.user_type, full.item_type):
        backbone.emb[label].weight.data.copy_(ungated.emb[label].weight.data)
    ungated.eval()
    assert not torch.allclose(ungated.gnn_embeddings()[full.item_type], backbone.gnn_embeddings()[full.item_type],
                              atol=1e-3)


def test_gates_open_by_training(lastfm_small_kg, gnn_small_vectors):
    model, inputs, config = _model(lastfm_small_kg, gnn_small_vectors, feature_gates=True, epochs=2,
                                   closed_form="off")
    assert all(float(g.detach()) == 0.0 for g in model.gate.values())
    Trainer(config).fit(model, inputs)
    opened = {k: float(g.detach()) for k, g in model.gate.items()}
    assert "text" in opened and any(abs(v) > 1e-4 for v in opened.values()), opened
    weights = model.relation_weights()
    assert "text" in weights


def test_seen_negatives_are_masked(lastfm_small_kg, gnn_small_vectors):
    model, inputs, _ = _model(lastfm_small_kg, gnn_small_vectors, mask_seen_negatives=True, closed_form="off")
    train = inputs.split.positives("train")
    users = torch.from_numpy(train[0][:50]).long()
    items = torch.from_numpy(train[1][:50]).long()
    assert model._seen_mask(users, items.unsqueeze(1)).all()            # every training pair is seen
    others = torch.arange(model.num_items)
    mask = model._seen_mask(users[:3], others)
    for row, u in enumerate(users[:3].tolist()):
        assert mask[row].sum() == int((train[0] == u).sum())             # and nothing else is
