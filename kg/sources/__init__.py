"""Dataset sources: the registered public datasets, generic files, RecBole atomic files, synthetic data.

Example::

    from kgrec.kg.sources import load_dataset, list_datasets
    kg = load_dataset("lastfm")                       # hetrec Last.fm + Satori KG + DBpedia
    kg = load_dataset("MovieLens_Small")              # names ignore case, dashes and underscores
    kg = load_dataset("path/to/folder")               # interactions.csv [+ items.csv, triples.csv] or RecBole files
    kg = load_dataset("generic", interactions="ratings.csv", items="movies.csv", triples="kg.ttl")
    kg = load_dataset("synthetic", num_users=1000, seed=1)

Files are found in ``$KGREC_DATA_HOME/<folder>``, then ``kgrec_home()/datasets/<folder>``, then
downloaded from the publisher (checked against published sha256) when ``download=True`` (the
default); see :mod:`kgrec.kg.sources.resolve`.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kgrec.errors import ConfigError, DatasetNotFoundError
from kgrec.resolver import Registry

from ..graph import KnowledgeGraph
from . import lastfm, lastfm_kgcn, movielens
from .generic import load_generic, stream_generic
from .recbole import load_recbole
from .resolve import DatasetSpec
from .synthetic import synthetic, synthetic_stream

logger = logging.getLogger(__name__)

__all__ = ["DATASETS", "DatasetInfo", "generic_files", "list_datasets", "load_dataset", "load_generic", "load_recbole",
           "stream_generic", "synthetic", "synthetic_stream"]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset.

    Attributes:
        name: the name to pass to :func:`load_dataset`.
        description: what it holds.
        license: its terms of use, as the publisher states them.
        path: the local folder that holds the dataset's folders, or ``None`` when it would have
            to be downloaded (or, for generated data, when there are no files).
        files: the files it needs, relative to ``path`` (``folder/file``).
        aliases: other names that :func:`load_dataset` accepts.
        generated: made on demand by a generator (``synthetic``), not a dataset of files that is
            local or downloaded.
    """

    name: str
    description: str
    license: str
    path: Path | None
    files: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    generated: bool = False

    @property
    def availability(self) -> str:
        """``"generated"``, ``"local"`` or ``"download"`` (fetched from its publisher on first use)."""
        if self.generated:
            return "generated"
        return "local" if self.path is not None else "download"


@dataclass(frozen=True)
class _Entry:
    spec: DatasetSpec | None
    name: str
    description: str
    license: str
    target: Callable[[], Callable[..., KnowledgeGraph]]  # returns the loader (imported on first use)
    aliases: tuple[str, ...] = ()


def _from(module: str, function: str) -> Callable[[], Callable[..., KnowledgeGraph]]:
    return lambda: getattr(importlib.import_module(f"{__name__}.{module}"), function)


def _dataset(module) -> _Entry:
    spec = module.SPEC
    return _Entry(spec, spec.name, spec.description, spec.license, lambda: module.load, spec.aliases)


_DATASETS: tuple[_Entry, ...] = (
    _dataset(lastfm),
    _dataset(lastfm_kgcn),
    _dataset(movielens),
    _Entry(None, "synthetic", "generated users with latent tastes, items with topic mixtures, interactions, "
           "names, texts, tags and genres; any size, deterministic from a seed", "generated data (no terms)",
           _from("synthetic", "synthetic"), ("synth",)),
)
_FORMATS: tuple[_Entry, ...] = (
    _Entry(None, "generic", "interactions CSV/TSV + optional items file + optional triples (CSV/TSV or RDF)",
           "", _from("generic", "load_generic")),
    _Entry(None, "recbole", "a folder of RecBole atomic files (.inter, .item, .kg, .link)", "",
           _from("recbole", "load_recbole")),
)


# Every name load_dataset() takes, looked up as every named option is (case, dashes and
# underscores ignored; an unknown name gets a "did you mean" and the list of choices)
DATASETS: Registry[_Entry] = Registry("dataset")
for _entry in (*_DATASETS, *_FORMATS):
    DATASETS.register(_entry.name, _entry, aliases=_entry.aliases)


def list_datasets() -> list[DatasetInfo]:
    """The registered datasets, with where each is found locally (``path=None``: not local)."""
    out = []
    for entry in _DATASETS:
        path = entry.spec.local_root() if entry.spec is not None else None
        files = entry.spec.files() if entry.spec is not None else ()
        out.append(DatasetInfo(entry.name, entry.description, entry.license, path, files, entry.aliases,
                               generated=entry.spec is None))
    return out


def load_dataset(name_or_path: str | os.PathLike, **options) -> KnowledgeGraph:
    """Load a registered dataset, a format, or a file/folder as a validated :class:`KnowledgeGraph`.

    Args:
        name_or_path: a dataset name (``"lastfm"``, ``"lastfm-kgcn"``, ``"movielens-small"``,
            ``"synthetic"``; case, dashes and underscores ignored), a format (``"generic"``,
            ``"recbole"``, whose files are then given as options), or a path: a folder of RecBole
            atomic files (``NAME.inter`` ...), a folder with ``interactions.csv``/``.tsv`` (and
            optionally ``items.*``, ``triples.*``), or one interactions file.
        **options: passed to the dataset's loader (e.g. ``download=False``, ``dbpedia=False``,
            ``num_users=1000``); an option the loader does not take is a :class:`ConfigError`.

    Raises:
        DatasetNotFoundError: an unknown name (the message lists every choice), a path that does
            not exist, or a dataset that is neither local nor downloadable.
        InputError: a file that does not parse; the message names the file, line and value.
    """
    if isinstance(name_or_path, os.PathLike):
        return _load_path(Path(name_or_path), options)
    if not isinstance(name_or_path, str):
        raise ConfigError(f"load_dataset expects a name or a path, got {type(name_or_path).__name__}")
    try:
        entry = DATASETS.resolve(name_or_path)
    except ConfigError as e:  # not a name: a path, else the registry's "did you mean" and every choice
        path = Path(name_or_path).expanduser()
        if path.exists() or os.sep in name_or_path or "/" in name_or_path or path.suffix:
            return _load_path(path, options)
        raise DatasetNotFoundError(f"{e} (or give the path to a file or folder)") from None
    return _call(entry.target(), entry.name, options)


def _call(loader: Callable[..., KnowledgeGraph], name: str, options: dict) -> KnowledgeGraph:
    params = inspect.signature(loader).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            allowed = ", ".join(p for p in params if params[p].kind is not inspect.Parameter.VAR_POSITIONAL)
            raise ConfigError(f"dataset {name!r} takes no option {', '.join(map(repr, unknown))}; "
                              f"its options: {allowed or 'none'}")
    logger.debug("loading dataset %s with %s", name, options)
    return loader(**options)


def _load_path(path: Path, options: dict) -> KnowledgeGraph:
    from .generic import find_generic_files
    from .recbole import is_recbole_dir

    if not path.exists():
        raise DatasetNotFoundError(f"{path}: no such file or folder; a dataset name is one of: "
                                   f"{', '.join(DATASETS.names())}")
    if path.is_dir():
        if is_recbole_dir(path):
            return _call(load_recbole, "recbole", {"path": path, **options})
        files = find_generic_files(path)
        return _call(load_generic, "generic", {**files, "name": options.pop("name", path.name), **options})
    return _call(load_generic, "generic", {"interactions": path, **options})


def generic_files(path: str | os.PathLike) -> dict[str, Path] | None:
    """The generic files that ``load_dataset(path)`` would read, as :func:`stream_generic` takes them
    (``{"interactions": ..., "items": ..., "triples": ...}``): a folder's ``interactions.*`` (with
    ``items.*``, ``triples.*``), or one interactions file; None for a dataset name, a folder of
    RecBole atomic files or a path that is not there. A folder with neither raises
    :class:`DatasetNotFoundError`."""
    from .generic import find_generic_files
    from .recbole import is_recbole_dir

    path = Path(path).expanduser()
    if path.is_dir():
        return None if is_recbole_dir(path) else find_generic_files(path)
    return {"interactions": path} if path.is_file() else None
