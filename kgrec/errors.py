"""The one exception tree of kgrec: every error kgrec raises is a :class:`KgrecError`."""

from __future__ import annotations


class KgrecError(Exception):
    """Root of every error raised by kgrec."""


class InputError(KgrecError, ValueError):
    """Bad input data. Names the file, the line (1-based, as an editor counts) and the value.

    Args:
        message: what is wrong and what was allowed.
        path: the file the value came from, if any.
        line: the 1-based line in that file, if known.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.reason = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)


class SchemaError(InputError):
    """A label, relation or property that the schema does not allow."""


class ConfigError(KgrecError, ValueError):
    """A configuration key or value that is not allowed."""


class DatasetNotFoundError(KgrecError, FileNotFoundError):
    """A dataset that is neither local nor downloadable; says where to put the files."""


class StoreError(KgrecError):
    """A store refused or failed an operation."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached (down, wrong URL, socket gone)."""


class ReadOnlyQueryError(StoreError):
    """A write was attempted through the read-only analyst query path."""


class UnknownGraphError(StoreError):
    """The named graph is not in the store."""


class QueryTimeoutError(StoreError):
    """An analyst query ran past its time limit and was stopped by the store."""


class ForbiddenQueryError(StoreError):
    """An analyst query that reaches outside the database (``LOAD CSV``, procedures that fetch URLs
    or files): refused before it reaches the store."""


class IncompleteGraphError(StoreError):
    """The graph's last write did not finish (a killed ingest): it is not trained on or served."""


class UnknownUserError(KgrecError, KeyError):
    """A user id that the model or the graph does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class UnknownItemError(KgrecError, KeyError):
    """An item id that the model or the graph does not know."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModelLoadError(KgrecError):
    """A text model that cannot be found or loaded."""


class CacheCorruptError(KgrecError):
    """A cache file that failed its checksum; the caller rebuilds it."""


class RunDirError(KgrecError):
    """A run directory that is missing, truncated or tampered with."""


class TrainingError(KgrecError):
    """Training failed (non-finite loss names the epoch and batch)."""


class MissingExtraError(KgrecError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str):
        super().__init__(f"{package} is not installed: pip install 'kgrec[{extra}]'")
