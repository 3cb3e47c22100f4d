"""`TrainConfig`: the one typed configuration of training, resolved defaults < YAML < ``--set``.

Options every model shares (split, epochs, lr, dim, layers, loss ...) are fields of
:class:`TrainConfig`. Options that only one model has are typed by that model: each registered
model declares ``Options``, a :class:`ModelOptions` subclass, and ``TrainConfig.model_options``
holds an instance of the chosen model's class. They may be given nested or flat::

    TrainConfig(model="kgrec", model_options={"item_bias": False})
    TrainConfig(model="kgrec", item_bias=False)                 # a flat key that is an option of the model
    kgrec train lastfm --set item_bias=false                    # the same from the CLI
    kgrec train lastfm --set model.item_bias=false              # or nested under model
    # YAML:  model: {name: kgrec, item_bias: false}   or   model: kgrec / model_options: {item_bias: false}

Adding an option to a model is one line in its ``Options`` class (a typed field with its default
and a ``Field`` range, documented in the class docstring); the model reads it as
``config.model_options.<name>``.

A model also declares its own defaults for shared fields (``defaults`` on its class: a learning
rate that suits it, say); they fill every field the user did not set. :meth:`TrainConfig.effective`
applies them, and the run directory saves the effective values (options included), so a saved
config always reproduces its run. Run directories saved before per-model options (with ``score``,
``item_bias`` ... at the top level) still load.

Every bad key or value is a :class:`~kgrec.errors.ConfigError` at construction, naming the field,
the value and what is allowed (for the model name, a "did you mean" and every registered model).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, SerializeAsAny, ValidationInfo, field_validator, model_validator

from kgrec.config import Device, Section, apply_overrides, read_yaml
from kgrec.errors import ConfigError

DEFAULT_MODEL = "kgrec"

LEGACY_OPTIONS = {"score": "cosine", "item_bias": False, "dropout": 0.0, "text_dim": 64,
                  "relation_weights": "label-pair"}
"""Fields that were top-level :class:`TrainConfig` fields before they became kgrec's own options,
with their old defaults: a run directory saved then lists them for every model. A model without
such an option loads them when they hold the old default (they meant "not used")."""


class ModelOptions(Section):
    """Base of a model's own options (no options: this class itself).

    A model subclasses it as its ``Options`` class attribute; every field is typed, has a default
    and is documented in the class docstring.
    """


class TrainConfig(Section):
    """Everything that decides a training run.

    Args:
        model: a registered model name, any case or dashes (default: ``"kgrec"``); see
            :func:`kgrec.gnn.list_models`.
        model_options: the model's own options (its ``Options`` class: :func:`kgrec.gnn.model_options`),
            as a mapping or an instance (default: the model's defaults). kgrec's:
            :class:`kgrec.gnn.models.kgrec.KGRec.Options`.
        min_interactions: train on the items with at least this many interactions, and the users,
            edges and one-hop neighbours around them (:meth:`KnowledgeGraph.core`); 1 = every item
            (default: 1).
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
        text: use the text vectors as node features, for models that use text (default: True).
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
        sampler: ``auto`` (full-graph steps where they fit and are no slower, else ``neighbor``:
            the rule in :mod:`kgrec.gnn.sampling`), ``full`` (the whole graph each step) or ``neighbor``
            (``LinkNeighborLoader``'s sampling: a ``layers``-hop subgraph per batch, bounded by the
            batch) or ``history`` (a one-hop subgraph per batch, the deeper layers' states of its
            other nodes read from a table refreshed at each epoch's start: a step's cost stays
            bounded by the batch and one hop's fan-out at every graph size) (default: ``auto``).
        num_neighbors: neighbours sampled per hop for ``neighbor`` (``history`` uses the first);
            the last repeats for deeper layers (default: ``[10, 5]``).
        eval_batch_size: the most users per scoring matrix in evaluation (default: 1024).
        valid_users: validate during training on a fixed sample of this many users when more have
            validation items (the full validation runs at the end); 0 = always all (default: 20000).
    """

    model: str = DEFAULT_MODEL
    model_options: SerializeAsAny[ModelOptions] = Field(None, validate_default=True)  # type: ignore[assignment]
    min_interactions: int = Field(1, ge=1)
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
    text: bool = True
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
    sampler: Literal["auto", "full", "neighbor", "history"] = "auto"
    num_neighbors: list[int] = Field(default_factory=lambda: [10, 5])
    eval_batch_size: int = Field(1024, ge=1)
    valid_users: int = Field(20000, ge=0)

    @field_validator("sampler", mode="before")
    @classmethod
    def _sampler_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            from .options import resolve_sampler

            return resolve_sampler(value)
        return value

    @field_validator("split", mode="before")
    @classmethod
    def _split_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            from .data import _canonical_split

            return _canonical_split(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: Any) -> Any:
        """Options given flat (``item_bias=False``, an old run dir's top-level keys) or under
        ``model`` (``{"name": "kgrec", "item_bias": False}``) move into ``model_options``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        model = data.get("model", DEFAULT_MODEL)
        nested: dict[str, Any] = {}
        if isinstance(model, dict):
            nested = dict(model)
            model = data["model"] = nested.pop("name", DEFAULT_MODEL)
        from .options import options_class

        try:
            options_cls = options_class(model) if isinstance(model, str) else model.Options
        except ConfigError:  # the field validator of `model` reports it
            return data
        flat = {k: data.pop(k) for k in list(data) if k not in cls.model_fields and k in options_cls.model_fields}
        for key in [k for k in data if k not in cls.model_fields]:
            if LEGACY_OPTIONS.get(key, object()) == data[key]:
                del data[key]  # an old run dir of a model without this option
            else:
                raise ConfigError(_unknown_key(key, model, options_cls))
        if flat or nested:
            given = data.get("model_options")
            if isinstance(given, ModelOptions):
                given = given.model_dump(exclude_unset=True)
            if given is not None and not isinstance(given, dict):
                raise ConfigError(f"TrainConfig.model_options = {given!r}: must be a mapping of option → value")
            data["model_options"] = {**(given or {}), **nested, **flat}
        return data

    @field_validator("model", mode="before")
    @classmethod
    def _model_name(cls, value: Any) -> Any:
        from .options import model_name

        if isinstance(value, type):
            return value.name
        if not isinstance(value, str):
            raise ConfigError(f"{value!r} is not a model name; models: {', '.join(_models())}")
        return model_name(value.strip())

    @field_validator("model_options", mode="before")
    @classmethod
    def _typed_options(cls, value: Any, info: ValidationInfo) -> Any:
        """The chosen model's ``Options``, validated (its defaults where nothing was given)."""
        model = info.data.get("model")
        if model is None:  # the model name was refused: that is the error
            return ModelOptions()
        from .options import options_class

        options_cls = options_class(model)
        if type(value) is options_cls:
            return value
        if isinstance(value, ModelOptions):  # another model's options (replace(model=...))
            value = value.model_dump(exclude_unset=True)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{value!r} is not a mapping of option → value")
        unknown = sorted(set(value) - set(options_cls.model_fields))
        if unknown:
            raise ConfigError(_unknown_key(unknown[0], model, options_cls))
        return options_cls.model_validate(value)

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
        options = self.model_options
        shared = {k: v for k, v in cls.defaults.items() if k in TrainConfig.model_fields}
        own = {k: v for k, v in cls.defaults.items() if k in type(options).model_fields}
        if len(shared) + len(own) < len(cls.defaults):
            wrong = sorted(set(cls.defaults) - set(shared) - set(own))
            raise ConfigError(f"model {cls.name!r} has defaults for unknown keys {wrong}")
        updates = {k: v for k, v in shared.items() if k not in self.model_fields_set}
        option_updates = {k: v for k, v in own.items() if k not in options.model_fields_set}
        data = {**self.model_dump(exclude={"model_options"}), **updates, "model": cls.name,
                "model_options": {**options.model_dump(), **option_updates}}
        out = TrainConfig.model_validate(data)
        # Everything now counts as set, so applying defaults again changes nothing.
        object.__setattr__(out, "__pydantic_fields_set__", set(TrainConfig.model_fields))
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated; the changed fields count as set).

        Changing ``model`` keeps the options set here that the new model also has and drops the
        others (they were options of the old model): a benchmark's shared config with
        ``item_bias=False`` gives kgrec no item bias and leaves LightGCN as it is.
        """
        data = {k: getattr(self, k) for k in self.model_fields_set}
        data.update(changes)
        if "model" in changes and "model_options" not in changes and "model_options" in data:
            from .registry import model_options

            wanted = model_options(data["model"]).model_fields
            given = data.pop("model_options").model_dump(exclude_unset=True)
            data["model_options"] = {k: v for k, v in given.items() if k in wanted}
        return TrainConfig.model_validate(data)


def load_config(file: str | os.PathLike | None = None, overrides: list[str] | None = None,
                **explicit: Any) -> TrainConfig:
    """Resolve a :class:`TrainConfig`: defaults < YAML ``file`` (keys at top level or under
    ``train:``) < ``overrides`` (``["lr=1e-3"]``, ``model.item_bias=false`` for a model option) <
    ``explicit`` keyword values (CLI options)."""
    data: dict[str, Any] = {}
    if file is not None:
        loaded = read_yaml(file)
        data.update(loaded.get("train", loaded) if isinstance(loaded.get("train"), dict) else loaded)
    return TrainConfig.model_validate(train_data(data, overrides or [], explicit))


def train_data(data: dict[str, Any], overrides: list[str], explicit: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply ``--set`` overrides and explicit values to the raw ``train`` mapping ``data``:
    ``model.KEY=V`` sets the model option KEY (``model_options.KEY``); ``train.`` prefixes are dropped."""
    data = dict(data)
    if isinstance(data.get("model"), dict):  # model: {name: ..., options ...}
        nested = dict(data["model"])
        data["model"] = nested.pop("name", DEFAULT_MODEL)
        data["model_options"] = {**(data.get("model_options") or {}), **nested}
    items = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip().removeprefix("train.")
        if key.startswith("model."):
            key = "model_options." + key[len("model."):]
        items.append(f"{key}{sep}{raw}")
    items += [f"{k}={_yaml_scalar(v)}" for k, v in (explicit or {}).items() if v is not None]
    return apply_overrides(data, items)


def _models() -> list[str]:
    from .registry import list_models

    return list_models()


def _unknown_key(key: str, model: str, options_cls: type[ModelOptions]) -> str:
    """The message for a key that is neither a TrainConfig field nor an option of ``model``."""
    from .registry import model_options

    own = ", ".join(options_cls.model_fields) or "none"
    elsewhere = [m for m in _models() if key in model_options(m).model_fields]
    hint = f" ({key!r} is an option of {', '.join(elsewhere)})" if elsewhere else ""
    return (f"TrainConfig: unknown key {key!r} for model {model!r}{hint}; shared keys: "
            f"{', '.join(k for k in TrainConfig.model_fields if k != 'model_options')}; {model}'s options: {own}")


def _yaml_scalar(value: Any) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value
