"""Sessions: the items of the current visit, folded into a user vector without being stored.

A session is a list of item ids. It changes the collaborative score the way feedback does, through
the run's fold-in recipe (:meth:`kgrec.gnn.Run.fold_in`: no retraining), but nothing is written
and nothing is kept after the call:

- an **anonymous** visitor (no id, or an id the run does not know) is scored with
  ``fold_in(session)``;
- a **known** user with ``v + fold_in(seen ∪ session) − fold_in(seen)``, ``v`` the user's vector
  now (trained, plus any feedback) and ``seen`` the items the graph says they interacted with:
  the session moves the user's vector as far as those interactions would.

Session items are left out of the list. An id the graph does not have is an
:class:`~kgrec.errors.UnknownItemError` that names every such id (nothing is guessed); an item the
graph has but the run has no vector for counts for exclusions and explanations, not for the vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from kgrec.errors import InputError, UnknownItemError
from kgrec.kg.ids import clean_id

if TYPE_CHECKING:
    from kgrec.gnn import Run

    from ..index import GraphIndex

MAX_SESSION = 1000
"""The most items a session may hold."""


def session_ids(items: Sequence[str] | str | None) -> tuple[str, ...]:
    """Session ids cleaned by the one id rule, in order, without repeats (a string is split at
    commas); an :class:`InputError` for an empty id or more than :data:`MAX_SESSION` items."""
    if items is None:
        return ()
    if isinstance(items, str):
        items = items.split(",")
    out: dict[str, None] = {}
    for i, item in enumerate(items):
        text = clean_id(item)
        if not text:
            raise InputError(f"session item {i + 1} ({str(item)!r}) is empty")
        out[text] = None
    if len(out) > MAX_SESSION:
        raise InputError(f"a session holds at most {MAX_SESSION} items, got {len(out)}")
    return tuple(out)


def session_rows(index: GraphIndex, ids: Sequence[str]) -> np.ndarray:
    """Index rows of session items; :class:`UnknownItemError` naming every id the graph lacks."""
    label = index.schema.item_label
    rows = [index.row(label, i) for i in ids]
    unknown = [i for i, r in zip(ids, rows) if r is None]
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10
                                                            else "")
        raise UnknownItemError(f"unknown {label} in the session: {shown} (not in the graph; a session lists "
                               f"{label} ids)")
    return np.asarray(rows, dtype=np.int64)


def session_vector(run: Run, session: np.ndarray, *, vector: np.ndarray | None = None,
                   seen: np.ndarray | None = None) -> np.ndarray | None:
    """The user vector with the session folded in (see the module docs); None when no session item
    has a vector and there is no user vector."""
    num_items = len(run.id_maps[run.item_label])
    mine = np.asarray(session, dtype=np.int64)
    mine = np.unique(mine[mine < num_items])
    if vector is None:
        return None if not len(mine) else np.asarray(run.fold_in(mine), dtype=np.float32).reshape(-1)
    if not len(mine):
        return np.asarray(vector, dtype=np.float32)
    base = np.asarray(seen if seen is not None else [], dtype=np.int64)
    base = np.unique(base[base < num_items])
    delta = np.asarray(run.fold_in(np.union1d(base, mine)), dtype=np.float32).reshape(-1)
    if len(base):
        delta = delta - np.asarray(run.fold_in(base), dtype=np.float32).reshape(-1)
    return np.asarray(vector, dtype=np.float32).reshape(-1) + delta


__all__ = ["MAX_SESSION", "session_ids", "session_rows", "session_vector"]
