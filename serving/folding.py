"""Users' vectors by fold-in through the trained model, as feedback and live events add items.

:class:`UserFolds` remembers which items each user added since training and computes their new
vectors in one batch (:meth:`kgrec.gnn.run.Run.fold_in_many`: one sparse product per basis). A user
the run knows keeps the trained vector plus what the added items change in the fold-in:
``trained + fold_in(train ∪ added) − fold_in(train)`` (``fold_in(train)`` is computed once per
user and kept). Anyone else (a new user, or one the graph has but the run does not) gets
``fold_in(every interaction)``. Item rows are the run's item positions; rows past the run's have no
vector and are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np


class UserFolds:
    """The items users added since training and their folded-in vectors."""

    def __init__(self) -> None:
        self._added: dict[int, set[int]] = {}  # user row -> item rows added by feedback or events
        self._trained: dict[int, np.ndarray] = {}  # user row -> fold_in(trained items), which never changes

    def add(self, user_row: int, item_rows: Iterable[int]) -> bool:
        """Record added items; True if any was new for the user."""
        mine = self._added.setdefault(int(user_row), set())
        before = len(mine)
        mine.update(int(r) for r in item_rows)
        return len(mine) > before

    def forget(self, user_row: int) -> None:
        self._added.pop(user_row, None)
        self._trained.pop(user_row, None)

    def vectors(self, run, user_rows: Sequence[int], *, num_items: int, knows: Callable[[int], bool],
                seen: Callable[[int], np.ndarray]) -> np.ndarray:
        """New vectors (float32 ``[n, d]``) of ``user_rows``, in one batch.

        Args:
            run: the serving run (its user vectors, training items and fold-in).
            user_rows: rows of the serving index (the run's positions for the run's users).
            num_items: how many items the run has (item rows past it have no vector).
            knows: whether the run knows a user row (its trained vector applies).
            seen: every item row a user has in the graph (for the users the run does not know).
        """
        def in_run(rows) -> np.ndarray:
            rows = np.asarray(sorted(rows), dtype=np.int64)
            return rows[rows < num_items]

        known = [i for i, r in enumerate(user_rows) if knows(int(r))]
        other = sorted(set(range(len(user_rows))) - set(known))
        out: dict[int, np.ndarray] = {}
        if known:
            rows = [int(user_rows[i]) for i in known]
            trained = {r: np.asarray(run.train_items(r), dtype=np.int64) for r in rows}
            todo = sorted({r for r in rows if r not in self._trained})
            if todo:
                self._trained.update(zip(todo, run.fold_in_many([trained[r] for r in todo])))
            folds = run.fold_in_many([np.union1d(trained[r], in_run(self._added.get(r, ()))) for r in rows])
            base = np.stack([self._trained[r] for r in rows])
            out.update(zip(known, np.asarray(run.user_vectors[rows], dtype=np.float32) + (folds - base)))
        if other:
            out.update(zip(other, run.fold_in_many([in_run(seen(int(user_rows[i])).tolist()) for i in other])))
        return np.stack([out[i] for i in range(len(user_rows))]).astype(np.float32)


__all__ = ["UserFolds"]
