"""`TrainConfig`: the one typed configuration of training, resolved defaults < YAML < ``--set``.

A model declares its own defaults (``defaults`` on its class: a learning rate that suits it, say);
they fill every field the user did not set. :meth:`TrainConfig.effective` applies them, and the run
directory saves the effective values, so a saved config always reproduces its run.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator

from kgrec.config import Device, Section, resolve


class TrainConfig(Section):
    """Everything that decides a training run.

    Args:
        model: a registered model name (default: ``"kgrec"``); see :func:`kgrec.gnn.list_models`.
        split: ``random`` | ``temporal`` | ``cold-items`` | ``kgcn`` (default: ``"random"``).
        seed: seeds weights, negative sampling and batching (default: 0).
        split_seed: seeds the split; None = 0 (KGCN's 555 for ``kgcn``) so every model and every
            training seed of a benchmark sees the same split (default: None).
        valid_fraction, test_fraction: per-user shares for validation and test (default: 0.1 each).
        epochs: the most epochs (default: 300; early stopping usually ends sooner).
        batch_size: positive pairs per step (default: 4096).
        lr: Adam's learning rate (default: model-specific, else 1e-3).
        dim: embedding size (default: 64).
        layers: propagation layers (default: 3).
        reg: L2 penalty on the embeddings of a batch, as in LightGCN (default: 1e-4).
        weight_decay: Adam weight decay on the dense weights (default: 0).
        loss: ``bpr`` or ``softmax`` (sampled softmax over the batch's negatives) (default: model's).
        negatives: sampled negatives per positive, or per batch for models that share them (kgrec's
            softmax) (default: model's, else 1).
        temperature: of the softmax loss (default: model's, else 0.1).
        score: ``cosine`` (unit-length vectors; with the softmax loss) or ``dot`` (raw dot products,
            whose norms can carry popularity) for models that offer both (kgrec) (default: ``cosine``).
        item_bias: a learned per-item score offset (popularity), kept as one more vector column so
            scores stay dot products (kgrec) (default: the model's; kgrec: True).
        dropout: on the initial node features (default: 0).
        text: use the text vectors as node features (default: True).
        text_dim: PCA components kept of the text vectors before the model's projection; 0 = all
            (default: 64).
        relation_weights: ``relation`` (one learned weight and one sparse product per edge type) or
            ``label-pair`` (edge types joining the same two labels share a weight and a product; each
            relation is still normalised on its own; much faster on KGs with many small relations)
            (default: ``label-pair``).
        relations: keep only these KG relation names (the interaction always stays) (default: all).
        exclude_relations: drop these relation names (default: none).
        patience: evaluations without a better validation score before stopping (default: 10).
        eval_every: epochs between validations (default: 1).
        max_minutes: a training-time budget: training stops after the first epoch that ends past it
            (validated, so the best epoch so far is kept); 0 = no budget (default: 0).
        monitor: the validation metric that picks the best epoch (default: ``ndcg@20``; ``auc``
            for the ``kgcn`` split).
        ks: ranking cut-offs (default: ``[10, 20]``).
        checkpoint_every: epochs between checkpoints in the run directory; 0 = none (default: 5).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda`` (default: ``auto``).
        amp: mixed precision on CUDA (default: True).
        sampler: ``auto`` (full-graph steps where they fit and are no slower, else neighbour-sampled:
            the rule in :mod:`kgrec.gnn.sampling`), ``full`` (the whole graph each step) or ``neighbor``
            (``LinkNeighborLoader`` mini-batches bounded by the batch; needs torch-sparse or pyg-lib,
            else falls back to ``full``) (default: ``auto``).
        num_neighbors: neighbours sampled per hop for ``neighbor``; the last repeats for deeper
            layers (default: ``[10, 5]``).
        eval_batch_size: the most users per scoring matrix in evaluation (default: 1024).
        valid_users: validate during training on a fixed sample of this many users when more have
            validation items (the full validation runs at the end); 0 = always all (default: 20000).
    """

    model: str = "kgrec"
    split: Literal["random", "temporal", "cold-items", "kgcn"] = "random"
    seed: int = 0
    split_seed: int | None = None
    valid_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    epochs: int = Field(300, ge=0)
    batch_size: int = Field(4096, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    dim: int = Field(64, ge=1)
    layers: int = Field(3, ge=0)
    reg: float = Field(1e-4, ge=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    loss: Literal["bpr", "softmax"] = "bpr"
    negatives: int = Field(1, ge=1)
    temperature: float = Field(0.1, gt=0.0)
    score: Literal["cosine", "dot"] = "cosine"
    item_bias: bool = False
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    text: bool = True
    text_dim: int = Field(64, ge=0)
    relation_weights: Literal["relation", "label-pair"] = "label-pair"
    relations: list[str] | None = None
    exclude_relations: list[str] = Field(default_factory=list)
    patience: int = Field(10, ge=1)
    eval_every: int = Field(1, ge=1)
    max_minutes: float = Field(0.0, ge=0.0)
    monitor: str | None = None
    ks: list[int] = Field(default_factory=lambda: [10, 20])
    checkpoint_every: int = Field(5, ge=0)
    device: Device = "auto"
    amp: bool = True
    sampler: Literal["auto", "full", "neighbor"] = "auto"
    num_neighbors: list[int] = Field(default_factory=lambda: [10, 5])
    eval_batch_size: int = Field(1024, ge=1)
    valid_users: int = Field(20000, ge=0)

    @field_validator("sampler", mode="before")
    @classmethod
    def _sampler_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            from .sampling import resolve_sampler

            return resolve_sampler(value)
        return value

    @field_validator("split", mode="before")
    @classmethod
    def _split_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            from .data import _canonical_split

            return _canonical_split(value)
        return value

    @field_validator("model", mode="before")
    @classmethod
    def _model_name(cls, value: Any) -> Any:
        return str(value).strip().lower().replace("_", "-") if isinstance(value, str) else value

    @property
    def monitor_metric(self) -> str:
        """The validation metric that picks the best epoch."""
        if self.monitor:
            return self.monitor
        return "auc" if self.split == "kgcn" else f"ndcg@{max(self.ks)}"

    @property
    def effective_split_seed(self) -> int:
        if self.split_seed is not None:
            return self.split_seed
        from .data import KGCN_SEED

        return KGCN_SEED if self.split == "kgcn" else 0

    def effective(self) -> TrainConfig:
        """This config with the model's defaults filling every field that was not set explicitly."""
        from .registry import model_class

        cls = model_class(self.model)
        updates = {k: v for k, v in cls.defaults.items() if k not in self.model_fields_set}
        data = {**self.model_dump(), **updates, "model": cls.name}
        out = TrainConfig.model_validate(data)
        # Everything now counts as set, so applying defaults again changes nothing.
        object.__setattr__(out, "__pydantic_fields_set__", set(TrainConfig.model_fields))
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated; the changed fields count as set)."""
        data = {k: getattr(self, k) for k in self.model_fields_set}
        data.update(changes)
        return TrainConfig.model_validate(data)


def load_config(file: str | os.PathLike | None = None, overrides: list[str] | None = None,
                **explicit: Any) -> TrainConfig:
    """Resolve a :class:`TrainConfig`: defaults < YAML ``file`` (keys at top level or under
    ``train:``) < ``overrides`` (``["lr=1e-3"]``) < ``explicit`` keyword values (CLI options)."""
    extra = [f"{k}={_yaml_scalar(v)}" for k, v in explicit.items() if v is not None]
    return resolve(TrainConfig, file=file, overrides=[*(overrides or []), *extra], prefix="train")


def _yaml_scalar(value: Any) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value
