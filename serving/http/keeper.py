"""The store's keeper: feedback durability, restarts of an embedded store, and the health probe.

What a store can do is read from its capability flags (:class:`~kgrec.kg.stores.StoreCapabilities`):
``fsync`` (the service may require a write durability), ``restartable`` (kgrec owns the server
process and may start it again).

**Durability (``feedback_fsync``).** ``always`` makes the embedded server fsync its append-only
file before it answers a write, so an acknowledged feedback survives ``kill -9``. That setting
belongs to the *server*, which other processes may share (an ingest, another service): the keeper
never weakens it, and when it strengthens it, it says so as a WARNING naming the data directory
and the old and new settings (and ``kgrec serve`` prints it), never silently. ``store`` leaves
the server as it is and serves with the durability the store has.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from typing import TYPE_CHECKING

from kgrec.errors import KgrecError, StoreUnavailableError

if TYPE_CHECKING:
    from kgrec.kg.stores import Store

logger = logging.getLogger(__name__)


class StoreKeeper:
    """Keeps the service's store usable.

    Args:
        store: the recommender's store (or None).
        feedback_fsync: ``always``, ``everysec``, ``no`` or None (leave the store's setting).
        retry_every: seconds between restart attempts (default: 1).
    """

    def __init__(self, store: Store | None, *, feedback_fsync: str | None, retry_every: float = 1.0):
        self.store = store
        self.feedback_fsync = feedback_fsync
        self.retry_every = retry_every
        self.restarts = 0
        self.changed: tuple[str, str] | None = None  # (before, after) when the keeper raised the setting
        self._busy = threading.Lock()
        self._last = 0.0
        self._durable = False
        self._server_pid: int | None = None  # the embedded server the setting was applied to
        self._probe_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kgrec-health")
        self._probe: concurrent.futures.Future | None = None

    @property
    def can_restart(self) -> bool:
        return self.store is not None and self.store.capabilities.restartable

    def prepare(self) -> None:
        """Apply the durability setting (on startup, and after a restart); never raises."""
        store = self.store
        if store is None or self.feedback_fsync is None:
            return
        if not store.capabilities.fsync:
            logger.info("store %s keeps its own durability setting (feedback_fsync=%s applies to the embedded store)",
                        store.url, self.feedback_fsync)
            self._durable = True
            return
        try:
            before = store.appendfsync_now()  # type: ignore[attr-defined]  (capabilities.fsync)
            mode = store.require_appendfsync(self.feedback_fsync)  # type: ignore[attr-defined]
            self._server_pid = store.pid()  # type: ignore[attr-defined]
            self._durable = True
            if before is not None and before != mode:
                self.changed = (before, mode)
                logger.warning("kgrec serve raised the embedded store's appendfsync from %r to %r (durable feedback) "
                               "in %s: every process using that store now syncs each write, until its server "
                               "restarts; serve with feedback_fsync='store' (--feedback-fsync store) to leave the "
                               "store's setting", before, mode, store.data_dir)  # type: ignore[attr-defined]
            else:
                logger.info("feedback durability: appendfsync %s (the store's setting, unchanged)", mode)
        except KgrecError as e:
            logger.warning("could not set appendfsync %s on the store yet: %s", self.feedback_fsync, e)

    def ensure_durable(self) -> None:
        """Before a write: the durability setting is in force (re-applied after a restart, also one
        made by another process: the embedded server's pid file names a new server)."""
        store = self.store
        if self._durable and self._server_pid is not None and store is not None \
                and store.pid() != self._server_pid:  # type: ignore[attr-defined]
            self._durable = False
        if not self._durable:
            self.prepare()
            if not self._durable and self.feedback_fsync is not None:
                raise StoreUnavailableError(f"the store's durability (appendfsync {self.feedback_fsync}) could not "
                                            "be set; feedback is not accepted until it is")

    def store_down(self) -> str:
        """A request found the store down: start a restart in the background when kgrec owns the
        server. Returns what to tell the client."""
        if not self.can_restart:
            return "retry when the store is back"
        now = time.monotonic()
        if now - self._last >= self.retry_every and self._busy.acquire(blocking=False):
            self._last = now
            threading.Thread(target=self._restart, name="kgrec-store-restart", daemon=True).start()
        return "kgrec is restarting the embedded store; retry in a few seconds"

    def _restart(self) -> None:
        try:
            self._durable = False
            self.store.ensure_running()  # type: ignore[union-attr]  (capabilities.restartable)
            self.restarts += 1
            logger.warning("restarted the embedded store %s", self.store.url)  # type: ignore[union-attr]
            self.prepare()
        except KgrecError as e:
            logger.warning("the embedded store did not restart: %s", e)
        finally:
            self._busy.release()

    def probe(self) -> concurrent.futures.Future:
        """A future of the store's answer to a light question (``graphs()``); one probe runs at a
        time, so a store that does not answer never piles up health checks."""
        if self._probe is None or self._probe.done():
            self._probe = self._probe_pool.submit(self.store.graphs)  # type: ignore[union-attr]
        return self._probe

    def close(self) -> None:
        self._probe_pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["StoreKeeper"]
