"""Configuration: where kgrec keeps things, and the one typed config (defaults < YAML < --set).

Every layer may import this module. Sections are pydantic models with ``extra="forbid"``, so an
unknown key is an error that names the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from kgrec.errors import ConfigError


def kgrec_home() -> Path:
    """``KGREC_HOME``, else ``~/.kgrec``: the embedded store's data, caches, runs."""
    return Path(os.environ.get("KGREC_HOME") or Path.home() / ".kgrec").expanduser()


def data_home() -> Path | None:
    """``KGREC_DATA_HOME``: a folder of local dataset copies (``../shared/data`` in CI), or None."""
    value = os.environ.get("KGREC_DATA_HOME")
    return Path(value).expanduser() if value else None


def cache_dir(*parts: str) -> Path:
    """A folder under ``KGREC_HOME/cache`` (created)."""
    path = kgrec_home().joinpath("cache", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store_url() -> str:
    """``KGREC_STORE``, else ``embedded``."""
    return os.environ.get("KGREC_STORE") or "embedded"


class Section(BaseModel):
    """Base of every config section: typed, unknown keys refused, frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


def resolve(cls: type[Section], *, file: str | os.PathLike | None = None, overrides: list[str] | None = None,
            prefix: str | None = None) -> Any:
    """Build a config: the class defaults, then a YAML file, then ``key=value`` overrides.

    Args:
        cls: the config class.
        file: a YAML file (its keys may sit under ``prefix``).
        overrides: ``["lr=1e-3", "model.dim=64"]``; values are parsed as YAML scalars.
        prefix: the section name in the file and in overrides (``train`` lets ``train.lr=...``).
    """
    import yaml

    data: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
        except OSError as e:
            raise ConfigError(f"{file}: cannot read config file: {e.strerror}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{file}: not valid YAML: {e}") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file}: a config file must be a mapping, got {type(loaded).__name__}")
        if prefix and prefix in loaded:
            loaded = loaded[prefix]
        data.update(loaded)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        key = key.strip()
        if prefix and key.startswith(prefix + "."):
            key = key[len(prefix) + 1:]
        value = yaml.safe_load(raw) if raw.strip() else ""
        target = data
        *parents, last = key.split(".")
        for p in parents:
            target = target.setdefault(p, {})
        target[last] = value
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(x) for x in err["loc"])
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(cls.model_fields)
                lines.append(f"unknown key {loc!r}; allowed: {allowed}")
            else:
                lines.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("; ".join(lines)) from e


Device = Literal["auto", "cpu", "cuda"]
