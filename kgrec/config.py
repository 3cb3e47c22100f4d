"""Configuration: where kgrec keeps things, and the one typed config (defaults < YAML < --set).

Every layer may import this module. Sections are pydantic models with ``extra="forbid"``, so an
unknown key is an error that names the key; a bad value is a :class:`~kgrec.errors.ConfigError`
at construction that names the field, the value and what is allowed (never a raw pydantic error).

Environment variables: the few that kgrec honours are read here, by the functions below, and
nowhere deeper in a layer. The edges (the ``kgrec`` command, the test session, the notebook
runner) call :func:`pin_environment` once, so that a relative ``KGREC_HOME`` / ``KGREC_DATA_HOME``
means the same folder in a process that later changes its directory (a notebook kernel runs in
``notebooks/``).

Progress bars: :func:`show_progress` decides whether a bar is shown (``None`` = auto: on in a
terminal or a notebook, off otherwise, and off when the ``kgrec`` logger is quieter than
WARNING, like sentence-transformers' bars follow logging); :func:`progress_bar` makes one that
does not warn in a notebook without ipywidgets.
"""

from __future__ import annotations

import logging
import os
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from kgrec.errors import ConfigError

PATH_VARIABLES = ("KGREC_HOME", "KGREC_DATA_HOME")
"""Environment variables that hold folders: made absolute once, at the edge (:func:`pin_environment`)."""


def _absolute(value: str | os.PathLike) -> Path:
    """``value`` as an absolute path (``~`` expanded, ``..`` folded; symlinks kept)."""
    return Path(os.path.abspath(Path(value).expanduser()))


def kgrec_home() -> Path:
    """``KGREC_HOME``, else ``~/.kgrec``: the embedded store's data, caches, runs (absolute)."""
    return _absolute(os.environ.get("KGREC_HOME") or Path.home() / ".kgrec")


def data_home() -> Path | None:
    """``KGREC_DATA_HOME``: a folder of local dataset copies (``../shared/data`` in CI), absolute, or None."""
    value = os.environ.get("KGREC_DATA_HOME")
    return _absolute(value) if value else None


def pin_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Make the folder variables (:data:`PATH_VARIABLES`) absolute in ``environ`` (default:
    ``os.environ``), resolved against the current directory; returns what changed (name → new value).

    Called once at each edge, before anything may change the directory: the ``kgrec`` command,
    the test session, the notebook runner. ``KGREC_DATA_HOME=../shared/data`` then still names
    the same folder inside a notebook kernel that runs in ``notebooks/``.
    """
    env = os.environ if environ is None else environ
    changed = {}
    for name in PATH_VARIABLES:
        value = env.get(name)
        if value and not os.path.isabs(value):
            env[name] = changed[name] = str(_absolute(value))
    return changed


def cache_dir(*parts: str) -> Path:
    """A folder under ``KGREC_HOME/cache`` (created)."""
    path = kgrec_home().joinpath("cache", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store_url() -> str:
    """``KGREC_STORE``, else ``embedded``."""
    return os.environ.get("KGREC_STORE") or "embedded"


def hf_downloads_allowed(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment (default: ``os.environ``) lets Hugging Face models download: only when
    ``HF_HUB_OFFLINE`` is set to a false value (``0``, ``false``, ``no``, ``off``). kgrec is offline
    by default."""
    env = os.environ if environ is None else environ
    return str(env.get("HF_HUB_OFFLINE", "")).strip().lower() in ("0", "false", "no", "off")


# -- progress bars ---------------------------------------------------------------------------------
def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show_progress(progress: bool | None = None) -> bool:
    """Whether to show a progress bar: ``progress`` itself when given; for ``None`` (auto), on when
    stderr is a terminal or the code runs in a notebook, off otherwise (logs, CI, tests), and off
    whenever the ``kgrec`` logger is set quieter than WARNING."""
    if progress is not None:
        return bool(progress)
    if logging.getLogger("kgrec").getEffectiveLevel() > logging.WARNING:
        return False
    if in_notebook():
        return True
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def progress_bar(iterable: Any = None, *, progress: bool | None = None, **options: Any):
    """A tqdm bar, shown when :func:`show_progress` says so: the notebook widget in a notebook with
    ipywidgets installed, else the plain text bar (``tqdm.auto`` would warn "IProgress not found"
    in a notebook without ipywidgets). ``options`` go to tqdm (``total``, ``desc``, ``unit`` ...)."""
    if in_notebook() and _has_ipywidgets():
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(iterable, disable=not show_progress(progress), **options)


def _has_ipywidgets() -> bool:
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


# -- typed sections --------------------------------------------------------------------------------
_YAML_BOOLEAN_WORDS = {False: {"off", "no", "n", "false"}, True: {"on", "yes", "y", "true"}}


def _literal_words(annotation: Any) -> list[str]:
    """The string values of a ``Literal`` annotation (also inside ``X | None``); none where a
    boolean is itself allowed."""
    if get_origin(annotation) is Literal:
        values = get_args(annotation)
    elif get_origin(annotation) in (Union, types.UnionType):
        values = [v for arg in get_args(annotation) if get_origin(arg) is Literal for v in get_args(arg)]
        if bool in get_args(annotation):
            return []
    else:
        return []
    return [] if any(isinstance(v, bool) for v in values) else [v for v in values if isinstance(v, str)]


class Section(BaseModel):
    """Base of every config section: typed, unknown keys refused, frozen.

    A bad key or value raises :class:`~kgrec.errors.ConfigError` at construction (also from
    ``model_validate``), naming the section, the field, the value and what is allowed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise config_error(type(self), e) from e

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Any:
        try:
            return super().model_validate(obj, **options)
        except ValidationError as e:
            raise config_error(cls, e) from e

    @model_validator(mode="before")
    @classmethod
    def _words_yaml_read_as_booleans(cls, data: Any) -> Any:
        """YAML (a config file, a ``--set`` value) reads ``off``/``no``/``on``/``yes`` as booleans:
        a field whose allowed values are words, one of them such a word, gets the word back
        (``closed_form: off`` means ``"off"``, not ``False``)."""
        if not isinstance(data, Mapping):
            return data
        fixed = None
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(value, bool) else None
            words = _literal_words(field.annotation) if field is not None else []
            match = [w for w in words if w.lower() in _YAML_BOOLEAN_WORDS[value]]
            if len(match) == 1:
                fixed = dict(data) if fixed is None else fixed
                fixed[name] = match[0]
        return data if fixed is None else fixed

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as e:
            raise config_error(type(self), e) from e

    @classmethod
    def allowed_keys(cls) -> list[str]:
        """The keys this section accepts (its fields), for error messages."""
        return list(cls.model_fields)


def _section_at(cls: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    """The section class that holds the key at ``path`` (the ``loc`` of a pydantic error)."""
    for part in path:
        field = cls.model_fields.get(str(part)) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if field is None:
            return None
        annotation = field.annotation
        nested = next((t for t in (annotation, *get_args(annotation)) if isinstance(t, type)
                       and issubclass(t, BaseModel)), None)
        if nested is None:
            return None
        cls = nested
    return cls


def config_error(cls: type[BaseModel], error: ValidationError) -> ConfigError:
    """One :class:`ConfigError` for a pydantic ``ValidationError`` of section ``cls``: each problem
    as ``Section.field = value: what is allowed`` (a ConfigError raised by a validator keeps its
    own message; an unknown key lists the allowed ones)."""
    lines = []
    for err in error.errors():
        loc = tuple(err["loc"])
        where = ".".join([cls.__qualname__, *(str(x) for x in loc)])
        cause = (err.get("ctx") or {}).get("error")
        if err["type"] == "extra_forbidden":
            holder = _section_at(cls, loc[:-1])
            keys = holder.allowed_keys() if holder is not None and issubclass(holder, Section) else \
                list(holder.model_fields if holder is not None else ())
            section = ".".join([cls.__qualname__, *(str(x) for x in loc[:-1])])
            lines.append(f"{section}: unknown key {str(loc[-1])!r}; allowed: {', '.join(keys)}")
        elif isinstance(cause, ConfigError):
            message = str(cause)
            nested = _section_at(cls, loc) if loc else None
            if nested is not None and message.startswith(nested.__qualname__ + "."):
                lines.append(where + message[len(nested.__qualname__):])  # KgrecConfig.train.lr = ...
            else:
                lines.append(f"{where}: {message}" if loc else message)
        else:
            msg = err["msg"][0].lower() + err["msg"][1:] if err["msg"] else err["type"]
            lines.append(f"{where} = {err.get('input')!r}: {msg}")
    return ConfigError("; ".join(lines))


def resolve(cls: type[Section], *, file: str | os.PathLike | None = None, overrides: list[str] | None = None,
            prefix: str | None = None) -> Any:
    """Build a config: the class defaults, then a YAML file, then ``key=value`` overrides.

    Args:
        cls: the config class.
        file: a YAML file (its keys may sit under ``prefix``).
        overrides: ``["lr=1e-3", "model.dim=64"]``; values are parsed as YAML scalars.
        prefix: the section name in the file and in overrides (``train`` lets ``train.lr=...``).
    """
    data: dict[str, Any] = {}
    if file is not None:
        loaded = read_yaml(file)
        if prefix and prefix in loaded:
            loaded = loaded[prefix]
        data.update(loaded)
    apply_overrides(data, overrides or [], prefix=prefix)
    return cls.model_validate(data)


def read_yaml(file: str | os.PathLike) -> dict[str, Any]:
    """A YAML config file as a mapping; :class:`ConfigError` names the file when it cannot be read."""
    import yaml

    try:
        loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{_absolute(file)}: cannot read config file: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{file}: not valid YAML: {e}") from e
    if not isinstance(loaded, dict):
        raise ConfigError(f"{file}: a config file must be a mapping, got {type(loaded).__name__}")
    return loaded


def apply_overrides(data: dict[str, Any], overrides: list[str], *, prefix: str | None = None) -> dict[str, Any]:
    """Apply ``key=value`` overrides (dotted keys nest; values are YAML scalars) to ``data`` in place."""
    import yaml

    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        key = key.strip()
        if prefix and key.startswith(prefix + "."):
            key = key[len(prefix) + 1:]
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: the value is not a YAML scalar: {e}") from e
        target = data
        *parents, last = key.split(".")
        for p in parents:
            nested = target.setdefault(p, {})
            if not isinstance(nested, dict):
                raise ConfigError(f"override {item!r}: {p!r} is a value ({nested!r}), not a section")
            target = nested
        target[last] = value
    return data


Device = Literal["auto", "cpu", "cuda"]
