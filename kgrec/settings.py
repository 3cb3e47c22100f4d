"""`KgrecConfig`: the one config of kgrec, a typed section per layer.

::

    KgrecConfig(store=StoreConfig(url="embedded"),
                text=TextConfig(documents="short", labels="items"),
                train=TrainConfig(model="kgrec", epochs=50))

Resolution (:meth:`KgrecConfig.resolve`): the sections' defaults < the environment (read once,
here, at the edge: :meth:`KgrecConfig.environment`) < a YAML file < ``--set section.key=value``
overrides. Every section is frozen and refuses unknown keys; a bad key or value is a
:class:`~kgrec.errors.ConfigError` that names it.

Secrets (a store password, the service's API token) come from the environment and are never
written by :meth:`KgrecConfig.save`.

This module sits on top of the layers (it imports their config sections); the floor
(``kgrec/config.py``) holds what every section shares.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from kgrec.config import Section, apply_overrides, hf_downloads_allowed, read_yaml
from kgrec.errors import ConfigError
from kgrec.gnn.config import TrainConfig, train_data
from kgrec.kg.stores.config import StoreConfig
from kgrec.serving.config import FSYNC_ENV, TOKEN_ENV, ServeConfig
from kgrec.text.config import TextConfig

ENVIRONMENT = {
    "KGREC_STORE": "store.url",
    "KGREC_GRAPH": "store.graph",
    "HF_HUB_OFFLINE": "text.download",
    TOKEN_ENV: "serve.token",
    FSYNC_ENV: "serve.feedback_fsync",
}
"""Environment variables → the config keys they set (:meth:`KgrecConfig.environment`). ``KGREC_HOME``
and ``KGREC_DATA_HOME`` are folders, read by :func:`kgrec.config.kgrec_home` / ``data_home``."""


class KgrecConfig(Section):
    """Everything a pipeline run decides, one section per layer.

    Args:
        store: where the graph lives (:class:`kgrec.kg.stores.StoreConfig`).
        text: how node texts become vectors (:class:`kgrec.text.TextConfig`).
        train: how the model trains (:class:`kgrec.gnn.TrainConfig`), with the chosen model's own
            options in ``train.model_options``.
        serve: the HTTP service (:class:`kgrec.serving.ServeConfig`).
    """

    store: StoreConfig = Field(default_factory=StoreConfig)
    text: TextConfig = Field(default_factory=TextConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    # -- resolution ----------------------------------------------------------------------------
    @classmethod
    def environment(cls, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The config keys the environment sets, as a nested mapping: ``KGREC_STORE`` →
        ``store.url``, ``KGREC_GRAPH`` → ``store.graph``, ``HF_HUB_OFFLINE=0`` → ``text.download``.
        Read once, at the edge (the ``kgrec`` command, :meth:`resolve`)."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        if env.get("KGREC_STORE"):
            data.setdefault("store", {})["url"] = env["KGREC_STORE"]
        if env.get("KGREC_GRAPH"):
            data.setdefault("store", {})["graph"] = env["KGREC_GRAPH"]
        if hf_downloads_allowed(env):
            data.setdefault("text", {})["download"] = True
        if env.get(TOKEN_ENV):
            data.setdefault("serve", {})["token"] = env[TOKEN_ENV]
        if env.get(FSYNC_ENV):
            data.setdefault("serve", {})["feedback_fsync"] = env[FSYNC_ENV]
        return data

    @classmethod
    def resolve(cls, file: str | os.PathLike | None = None, overrides: Sequence[str] = (), *,
                environ: Mapping[str, str] | None = None, default_section: str | None = None) -> KgrecConfig:
        """Defaults < environment < YAML ``file`` < ``overrides`` (``["train.lr=1e-3",
        "text.documents=short", "train.model.item_bias=false"]``).

        Args:
            file: a YAML file with ``store:``, ``text:`` and ``train:`` sections (default: none).
            overrides: ``section.key=value`` strings; values are YAML scalars (default: none).
            environ: the environment to read (default: ``os.environ``; ``{}`` reads none).
            default_section: where keys without a section go, in overrides and in a file without
                sections (``kgrec train --set lr=1e-3`` uses ``train``) (default: None: an error).
        """
        loaded = read_yaml(file) if file is not None else {}
        if default_section and loaded and not set(loaded) <= set(cls.model_fields):
            loaded = {default_section: loaded}  # a file of one section's keys (kgrec train --config)
        data = _merge(cls.environment(environ), loaded)
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise ConfigError(f"{file or 'config'}: unknown section {unknown[0]!r}; sections: "
                              f"{', '.join(cls.model_fields)}")
        train_items, other = [], []
        for item in overrides:
            key = item.partition("=")[0].strip()
            section = key.split(".", 1)[0]
            if (section not in cls.model_fields or "." not in key) and default_section:
                item, section = f"{default_section}.{item.strip()}", default_section
            elif section not in cls.model_fields or "." not in key:
                raise ConfigError(_unsectioned(item, cls))
            (train_items if section == "train" else other).append(item)
        apply_overrides(data, other)
        data["train"] = train_data(data.get("train") or {}, train_items)
        return cls.model_validate(data)

    # -- files ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready sections (what :meth:`save` writes and :meth:`model_validate` reads back), with
        no secret: a store password is never written (:meth:`StoreConfig.redacted`)."""
        serve = self.serve.model_copy(update={"token": None})
        return self.model_copy(update={"store": self.store.redacted(), "serve": serve}).model_dump(mode="json")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the config as YAML (the form :meth:`resolve` reads)."""
        import yaml

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> KgrecConfig:
        """Read a config written by :meth:`save` (no environment, no overrides)."""
        return cls.resolve(path, environ={})


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, section by section (a section's keys merge; values replace)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _unsectioned(item: str, cls: type[KgrecConfig]) -> str:
    """The message for an override that names no section (``lr=1e-3``): which section has the key."""
    key = item.partition("=")[0].strip()
    head = key.split(".", 1)[0]
    owners = [name for name, field in cls.model_fields.items()
              if isinstance(field.annotation, type) and head in field.annotation.model_fields]
    hint = f"; did you mean {owners[0]}.{key}?" if len(owners) == 1 else ""
    return (f"override {item!r} names no section{hint} (section.key=value; sections: "
            f"{', '.join(cls.model_fields)})")


__all__ = ["ENVIRONMENT", "KgrecConfig"]
