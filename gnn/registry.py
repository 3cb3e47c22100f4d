"""The model registry: names → model classes, through the one option resolver (:mod:`kgrec.resolver`).

Every model module in :mod:`kgrec.gnn.models` registers its class with :func:`register_model`;
:func:`model_class` finds one by name (``"LightGCN"``, ``"light-gcn"`` and ``"lightgcn"`` are the
same) and an unknown name raises :class:`~kgrec.errors.ConfigError` with a "did you mean" and every
choice. Each model declares its own typed options (``Options``, a
:class:`~kgrec.gnn.config.ModelOptions`); :func:`model_options` returns that class.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, TypeVar

from kgrec.resolver import Registry

if TYPE_CHECKING:
    from .config import ModelOptions
    from .models.base import RecModel

T = TypeVar("T", bound=type)


def _load() -> None:
    importlib.import_module("kgrec.gnn.models")


MODELS: Registry[type] = Registry("model", loader=_load)
"""Every registered model class, by name (``MODELS.resolve("LightGCN")``)."""


def register_model(cls: T) -> T:
    """Class decorator: add a :class:`~kgrec.gnn.models.base.RecModel` subclass under ``cls.name``."""
    MODELS.register(cls.name, cls)
    from .options import MODEL_OPTIONS

    if cls.name not in MODEL_OPTIONS:  # a model from outside kgrec
        MODEL_OPTIONS.register(cls.name, cls.Options)
    return cls


def list_models() -> list[str]:
    """The registered model names, in registration order."""
    return MODELS.names()


def model_class(name: str | type) -> type[RecModel]:
    """The model class registered as ``name`` (a class passes through)."""
    return MODELS.resolve(name)


def model_options(name: str | type) -> type[ModelOptions]:
    """The typed options class of a model (``ModelOptions`` itself for a model without options)."""
    return model_class(name).Options
