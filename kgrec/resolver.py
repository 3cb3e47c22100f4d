"""One resolver for every named option: stores, export formats, models, fusion modes ...

Modelled on PyG's ``torch_geometric/resolver.py``: a :class:`Registry` maps names (and aliases) to
values; a lookup ignores case, dashes, underscores and spaces, and an unknown name raises
:class:`~kgrec.errors.ConfigError` that lists every choice. This module is part of the floor
(like ``errors`` and ``config``): every layer may import it, and it imports no layer.

Example::

    FORMATS = Registry("export format")
    FORMATS.register("ttl", TurtleWriter, aliases=("turtle",))
    FORMATS.resolve("Turtle")        # -> TurtleWriter
    FORMATS.resolve("xml")           # ConfigError: unknown export format 'xml'; choices: ttl (turtle)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from kgrec.errors import ConfigError

T = TypeVar("T")


def normalize_key(name: str) -> str:
    """``"Light-GCN"``, ``"light_gcn"`` and ``"lightgcn"`` are one key."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


class Registry(Generic[T]):
    """Names → values, looked up case-, dash- and underscore-insensitively.

    Args:
        kind: what the values are, for error messages (``"store"``, ``"export format"``, ``"model"``).
        loader: called once before the first lookup (imports the modules that register values;
            default: None).
    """

    def __init__(self, kind: str, *, loader: Callable[[], None] | None = None):
        self.kind = kind
        self._loader = loader
        self._loaded = loader is None
        self._values: dict[str, T] = {}
        self._names: dict[str, str] = {}  # key -> canonical name
        self._aliases: dict[str, list[str]] = {}  # canonical name -> aliases

    def register(self, name: str, value: T, *, aliases: Sequence[str] = ()) -> T:
        """Add ``value`` under ``name`` (and ``aliases``); a different value under a taken name is an error."""
        for key in (name, *aliases):
            k = normalize_key(key)
            if k in self._values and self._values[k] is not value:
                raise ConfigError(f"a {self.kind} named {key!r} is already registered")
            self._values[k] = value
            self._names[k] = name
        self._aliases.setdefault(name, []).extend(a for a in aliases if a not in self._aliases.get(name, []))
        return value

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            assert self._loader is not None
            self._loader()

    def names(self) -> list[str]:
        """The canonical names, in registration order."""
        self._ensure_loaded()
        return list(self._aliases)

    def canonical(self, name: str) -> str:
        """The canonical name of ``name`` (an alias or a differently spelt name)."""
        self._ensure_loaded()
        key = normalize_key(name)
        if key not in self._names:
            raise self._unknown(name)
        return self._names[key]

    def resolve(self, name: str | T) -> T:
        """The value registered as ``name``; a value that is not a str passes through."""
        if not isinstance(name, str):
            return name
        self._ensure_loaded()
        try:
            return self._values[normalize_key(name)]
        except KeyError:
            raise self._unknown(name) from None

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return isinstance(name, str) and normalize_key(name) in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _unknown(self, name: str) -> ConfigError:
        choices = ", ".join(f"{n} ({', '.join(a)})" if a else n for n, a in self._aliases.items())
        hint = ""
        import difflib

        close = difflib.get_close_matches(normalize_key(name), list(self._values), n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean {self._names[close[0]]!r}?"
        return ConfigError(f"unknown {self.kind} {name!r}{hint}; choices: {choices or 'none'}")


__all__ = ["Registry", "normalize_key"]
