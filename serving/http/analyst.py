"""Analyst queries (``POST /v1/query``) that cannot block the serving path.

- **Their own connection.** Queries run on a second, independent store connection, opened on the
  first query, never on the one feedback writes use.
- **A bounded pool.** At most ``query_workers`` run at once and ``query_queue`` wait; more are
  refused at once with 503 (no request thread waits for a slot).
- **A deadline.** Each query runs with the store's time limit (``timeout=``: default
  ``query_timeout_s``, at most ``query_timeout_max_s``), and the HTTP answer comes at the deadline
  whatever the store does: a query still running then is answered 504 and left to the store to stop.
- The route awaits the query without holding a request thread or any recommender lock, so
  recommendations, feedback and ``/healthz`` go on while it runs. (FalkorDB makes a *write* on the
  same graph wait for a running read: the time limit is what bounds that wait.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kgrec.errors import QueryTimeoutError

from .errors import HttpError

if TYPE_CHECKING:
    from kgrec.kg.stores import QueryResult, Store

logger = logging.getLogger(__name__)

GRACE_S = 0.5
"""The HTTP answer waits this long past the time limit for the store's own timeout error."""


class AnalystQueries:
    """Read-only Cypher for analysts, run beside the serving path.

    Args:
        store: the service's store (:meth:`~kgrec.kg.stores.Store.reader` opens the second connection).
        graph: the graph queries run on.
        workers: queries running at once (default: 1).
        queue: queries waiting for a worker; more are refused (default: 4).
        max_rows: rows returned at most (default: 10,000).
    """

    def __init__(self, store: Store, *, graph: str, workers: int = 1, queue: int = 4, max_rows: int = 10_000):
        self.store = store
        self.graph = graph
        self.max_rows = max_rows
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="kgrec-query")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._reader: Store | None = None
        self._opening = threading.Lock()

    def reader(self) -> Store:
        """The second connection (opened once)."""
        with self._opening:
            if self._reader is None:
                # an independent connection to the same store, with the store's own options
                self._reader = self.store.reader()
            return self._reader

    async def run(self, cypher: str, params: Mapping[str, Any], *, timeout: float) -> QueryResult:
        """Run one query; its answer by ``timeout`` (+ a short grace) or :class:`QueryTimeoutError`.

        Raises:
            HttpError: 503, every worker and queue place is taken.
            QueryTimeoutError: the query ran past ``timeout``.
        """
        if not self._slots.acquire(blocking=False):
            raise HttpError(503, "too many analyst queries are running or waiting; retry later",
                            headers={"Retry-After": "5"})
        try:
            future = self._pool.submit(self._query, cypher, dict(params), timeout, time.monotonic() + timeout)
        except RuntimeError:
            self._slots.release()
            raise
        answer = asyncio.wrap_future(future)
        answer.add_done_callback(_retrieved)  # an abandoned query's late error is not "never retrieved"
        try:
            return await asyncio.wait_for(asyncio.shield(answer), timeout + GRACE_S)
        except asyncio.TimeoutError:
            logger.warning("an analyst query ran past its %.3g s limit; answered 504 (the store stops it)", timeout)
            raise QueryTimeoutError(f"the query ran past its time limit of {timeout:g} s and was abandoned; narrow it "
                                    "(LIMIT, a label, an indexed property) or ask for a longer timeout_s") from None

    def _query(self, cypher: str, params: dict[str, Any], timeout: float, deadline: float) -> QueryResult:
        try:
            left = deadline - time.monotonic()
            if left <= 0:  # waited in the queue past its deadline: already answered, never started
                raise QueryTimeoutError("the query waited for a worker past its time limit")
            return self.reader().query(cypher, params, graph=self.graph, timeout=left, max_rows=self.max_rows)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._reader is not None:
            self._reader.close()


def _retrieved(answer: asyncio.Future) -> None:
    if not answer.cancelled():
        answer.exception()


__all__ = ["AnalystQueries", "GRACE_S"]
