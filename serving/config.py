"""The service's settings: one typed, frozen config section (``serve`` of kgrec's config).

Nothing in :mod:`kgrec.serving` reads environment variables: the edge (``kgrec serve``) reads
``KGREC_API_TOKEN`` and ``KGREC_FEEDBACK_FSYNC`` and builds a :class:`ServeConfig`; Python callers
pass one (or its fields) to :func:`kgrec.serving.http.create_app`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator

from kgrec.config import Section
from kgrec.errors import ConfigError

FeedbackFsync = Literal["always", "everysec", "no", "store"]
TOKEN_ENV = "KGREC_API_TOKEN"
FSYNC_ENV = "KGREC_FEEDBACK_FSYNC"
HARD_MAX_QUERY_TIMEOUT_S = 300.0
"""No setting lets an analyst query run longer (the store's own maximum)."""


class ServeConfig(Section):
    """Settings of the HTTP service (``kgrec serve``).

    Args:
        host: the interface to bind (default: ``127.0.0.1``, loopback only).
        port: the port (default: 8000; 0 = any free port).
        token: the bearer token of the write and query endpoints (default: None = those endpoints
            refuse every call). ``kgrec serve`` takes it from ``KGREC_API_TOKEN``.
        feedback_fsync: the embedded store's ``appendfsync`` while serving: ``always`` (feedback is
            on disk before it is acknowledged), ``everysec``, ``no``, or ``store`` (leave the
            store's own setting). The store is never weakened, and a change is logged as a warning:
            it applies to every process using that store until its server restarts (default: always).
        query_timeout_s: the time limit of an analyst query (``POST /v1/query``) (default: 10).
        query_timeout_max_s: the most a request may ask for with ``timeout_s`` (default: 60; at
            most 300).
        max_rows: rows an analyst query returns at most (default: 10,000).
        query_workers: analyst queries running at once, each on the service's second store
            connection (default: 1).
        query_queue: analyst queries waiting for a worker; more are refused with 503 (default: 4).
        max_body_bytes: the largest request body (default: 1 MiB; 413 above).
        max_json_depth: the deepest nesting of a JSON body (default: 32; 422 above).
        max_k: the most items one request may ask for (default: 1000).
        max_hops: the longest explanation path (default: 3).
        beam: partial paths kept per depth of the explanation search (default: 2000).
        health_timeout_s: how long ``/healthz`` waits for the store to answer (default: 0.5).
    """

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: SecretStr | None = None
    feedback_fsync: FeedbackFsync = "always"
    query_timeout_s: float = Field(10.0, gt=0)
    query_timeout_max_s: float = Field(60.0, gt=0, le=HARD_MAX_QUERY_TIMEOUT_S)
    max_rows: int = Field(10_000, ge=1, le=1_000_000)
    query_workers: int = Field(1, ge=1, le=16)
    query_queue: int = Field(4, ge=0, le=1000)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    max_json_depth: int = Field(32, ge=2, le=1000)
    max_k: int = Field(1000, ge=1)
    max_hops: int = Field(3, ge=1, le=6)
    beam: int = Field(2000, ge=1)
    health_timeout_s: float = Field(0.5, gt=0, le=1.0)

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ConfigError("serve config: " + "; ".join(_describe(err) for err in e.errors())) from None

    @model_validator(mode="after")
    def _timeouts(self) -> ServeConfig:
        if self.query_timeout_s > self.query_timeout_max_s:
            raise ValueError(f"query_timeout_s ({self.query_timeout_s}) is over query_timeout_max_s "
                             f"({self.query_timeout_max_s})")
        return self

    @property
    def secret(self) -> str | None:
        """The token as text (None without one)."""
        return self.token.get_secret_value() if self.token is not None else None


def _describe(err: Any) -> str:
    """One validation error: the field, what is wrong, and the value (never the token's)."""
    where = ".".join(str(x) for x in err["loc"]) or "value"
    if err.get("type") == "extra_forbidden":
        return f"unknown key {where!r}; allowed: {', '.join(ServeConfig.model_fields)}"
    shown = "" if where == "token" or "input" not in err else f" (got {err['input']!r})"
    return f"{where}: {err['msg']}{shown}"


__all__ = ["FSYNC_ENV", "HARD_MAX_QUERY_TIMEOUT_S", "TOKEN_ENV", "FeedbackFsync", "ServeConfig"]
