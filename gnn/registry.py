"""The model registry: names → model classes, looked up case- and dash-insensitively.

Every model module in :mod:`kgrec.gnn.models` registers its class with :func:`register_model`;
:func:`model_class` finds one by name (``"LightGCN"``, ``"light-gcn"`` and ``"lightgcn"`` are the
same) and an unknown name raises :class:`~kgrec.errors.ConfigError` listing every choice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, TypeVar

from kgrec.errors import ConfigError

if TYPE_CHECKING:
    from .models.base import RecModel

_MODELS: dict[str, type] = {}
T = TypeVar("T", bound=type)


def _key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def register_model(cls: T) -> T:
    """Class decorator: add a :class:`~kgrec.gnn.models.base.RecModel` subclass under ``cls.name``."""
    key = _key(cls.name)
    if key in _MODELS and _MODELS[key] is not cls:
        raise ConfigError(f"a model named {cls.name!r} is already registered ({_MODELS[key].__qualname__})")
    _MODELS[key] = cls
    return cls


def _load() -> None:
    importlib.import_module("kgrec.gnn.models")


def list_models() -> list[str]:
    """The registered model names, in registration order."""
    _load()
    return [cls.name for cls in _MODELS.values()]


def model_class(name: str | type) -> type[RecModel]:
    """The model class registered as ``name`` (a class passes through)."""
    if isinstance(name, type):
        return name
    _load()
    try:
        return _MODELS[_key(name)]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; models: {', '.join(list_models())}") from None
