"""The named choices of :class:`~kgrec.gnn.TrainConfig` — each model's own options and the
samplers — declared without torch, so that a configuration (and a saved run) is validated without
importing torch or the models.

A model's class says ``Options = <its class here>``; :data:`MODEL_OPTIONS` lists every built-in
model by name (a model registered later with :func:`kgrec.gnn.register_model` is added to it then).
``tests/integration/test_gnn_models.py`` checks that the two agree.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kgrec.errors import ConfigError
from kgrec.resolver import Registry

from .config import ModelOptions


class KGRecOptions(ModelOptions):
    """kgrec's own options (``TrainConfig(model="kgrec", item_bias=False)``, ``--set item_bias=false``).

    Args:
        score: ``cosine`` (unit-length vectors; with the softmax loss) or ``dot`` (raw dot
            products, whose norms can carry popularity) (default: ``cosine``).
        item_bias: a learned per-item score offset (popularity), kept as one more vector column
            so scores stay dot products (default: True).
        relation_weights: ``relation`` (one learned weight and one sparse product per edge type)
            or ``label-pair`` (edge types joining the same two labels share a weight and a
            product; each relation is still normalised on its own; much faster on KGs with many
            small relations) (default: ``label-pair``).
        text_dim: PCA components kept of the text vectors before the projection; 0 = all
            (default: 64).
        dropout: on the initial node features (default: 0).
        closed_form: ``auto`` adds the closed-form block (a side-information EASE blended with
            the GNN, every weight chosen on validation after training; see
            :mod:`kgrec.gnn.models.cfblend`); ``residual`` fits that block first and trains the
            GNN on what it misses (its scores are offsets in the GNN's loss), the blend again
            chosen on validation; ``off`` leaves the GNN alone (default: ``auto``).
        best_epoch_by: which validation score keeps the best epoch and stops training early with the
            closed-form block on (``closed_form="auto"``): ``blend``, the best blend of the epoch's
            GNN with the block (fitted once, at the first validation), or ``gnn``, the GNN alone
            (default: ``blend``, chosen by cross-dataset validation: benchmarks/notes/accuracy.md).
            ``blend`` applies where the block's exact forms do; past them (its low-rank form, e.g.
            100 k users × 10 k items) the block's search is long and would sit beside the training
            state, so the epoch is kept by the GNN and the block chosen after training.
        feature_gates: KG relation groups and the item text enter through learned scalar gates
            that start at 0, so training starts from the interactions-only backbone (default: False).
        mask_seen_negatives: a shared negative that is one of the user's training items is left
            out of the loss (default: False).
        cl_noise: while training, each propagation layer's output gets XSimGCL's sign-aligned
            random vector, scaled to this share of the row's own norm (the scores are cosines, so
            the noise is relative) (default: 0, none).
        cl_weight: weight of XSimGCL's cross-layer InfoNCE (the batch's users' and positives'
            final vectors against their layer-1 vectors, at ``temperature``) added to the loss
            (default: 0, none).
    """

    score: Literal["cosine", "dot"] = "cosine"
    item_bias: bool = True
    relation_weights: Literal["relation", "label-pair"] = "label-pair"
    text_dim: int = Field(64, ge=0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    closed_form: Literal["auto", "residual", "off"] = "auto"
    best_epoch_by: Literal["blend", "gnn"] = "blend"
    feature_gates: bool = False
    mask_seen_negatives: bool = False
    cl_noise: float = Field(0.0, ge=0.0)
    cl_weight: float = Field(0.0, ge=0.0)


class XSimGCLOptions(ModelOptions):
    """XSimGCL's own options. The authors' settings are ``cl_weight=0.2 include_layer0=false``;
    kgrec's defaults differ where cross-dataset validation chose otherwise (see
    :mod:`kgrec.gnn.models.xsimgcl`).

    Args:
        cl_weight: weight λ of the contrastive (InfoNCE) loss (default: 0.01; the authors': 0.2).
        cl_noise: size ε of the noise added to each layer while training (default: 0.2).
        include_layer0: the final vectors average layers ``0..K`` (LightGCN's mean, the embedding
            table itself included) instead of ``1..K`` (the authors' code) (default: True).
    """

    cl_weight: float = Field(0.01, ge=0.0)
    cl_noise: float = Field(0.2, ge=0.0)
    include_layer0: bool = True


MODEL_OPTIONS: Registry[type[ModelOptions]] = Registry("model")
"""Model name → its options class (``ModelOptions`` itself for a model without options)."""
for _name, _options in (("kgrec", KGRecOptions), ("pop", ModelOptions), ("itemknn", ModelOptions),
                        ("bprmf", ModelOptions), ("lightgcn", ModelOptions), ("textknn", ModelOptions),
                        ("ease", ModelOptions), ("xsimgcl", XSimGCLOptions)):
    MODEL_OPTIONS.register(_name, _options)


SAMPLERS: Registry[str] = Registry("sampler")
"""Names accepted for ``TrainConfig.sampler`` (the rule behind ``auto``: :mod:`kgrec.gnn.sampling`)."""
SAMPLERS.register("auto", "auto")
SAMPLERS.register("full", "full", aliases=("full-graph", "whole"))
SAMPLERS.register("neighbor", "neighbor", aliases=("neighbour", "sampled", "link-neighbor", "mini-batch"))
SAMPLERS.register("history", "history", aliases=("historical", "gas", "one-hop"))


def resolve_sampler(name: str) -> str:
    """``"Neighbour"`` → ``"neighbor"``; an unknown name is a :class:`ConfigError` listing the choices."""
    return SAMPLERS.canonical(name)


def model_name(name: str) -> str:
    """The canonical model name; a name not declared here is looked up among every registered model
    (which imports them)."""
    try:
        return MODEL_OPTIONS.canonical(name)
    except ConfigError:
        from .registry import MODELS

        return MODELS.canonical(name)


def options_class(name: str) -> type[ModelOptions]:
    """The options class of a model, by name (without importing the model when it is built in)."""
    if name in MODEL_OPTIONS:
        return MODEL_OPTIONS.resolve(name)
    from .registry import model_class

    return model_class(name).Options


__all__ = ["KGRecOptions", "MODEL_OPTIONS", "SAMPLERS", "XSimGCLOptions", "model_name", "options_class", "resolve_sampler"]
