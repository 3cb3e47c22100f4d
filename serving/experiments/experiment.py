"""An A/B experiment inside the service: :class:`Experiment` (which arm serves a user) and
:class:`ExperimentLog` (exposures and outcomes as events on the experiment's own stream).

- An **exposure** is a list an arm showed a user (``GET /v1/users/{id}/recommendations``): an
  ``exposure`` event on ``kgrec:experiment:<name>``, and, for ``window_s``, one entry per shown item
  in a small hash of the user's recent exposures (``kgrec:experiment:<name>:recent:<user>``, which
  expires with the window).
- An **outcome** is an interaction event (positive or rating) of an exposed user within the window
  after an exposure, found when the consumer applies the interaction: an ``outcome`` event naming
  the exposure, the arm and the item's rank in it (null for an item the list did not show, which
  still counts as relevant for NDCG). Its event id is derived from the interaction's, so an
  interaction applied twice (a consumer killed before acknowledging) logs one outcome; the report
  counts each (exposure, item) once.

The experiment's records live on a Redis server (the store's own, by default).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from kgrec.errors import ConfigError, KgrecError

from ..events.schema import Event, EventError, ExposureEvent, InteractionEvent, OutcomeEvent, parse_event
from ..events.streams import FIELD, RedisStreams
from .assign import Assignment

if TYPE_CHECKING:
    import redis

    from ..events.apply import Outcome
    from ..recommender import Recommender

logger = logging.getLogger(__name__)

EXPERIMENT_PREFIX = "kgrec:experiment:"
DEFAULT_WINDOW_S = 1800.0
LAST = "\x00last"  # the field of a user's recent-exposure hash that names their latest exposure


class ExperimentLog:
    """The exposures and outcomes of one experiment.

    Args:
        client: a ``redis.Redis`` client (bytes replies).
        experiment: the experiment's name.
        window_s: how long after an exposure an interaction with one of its items is its outcome
            (default: 1800).
    """

    def __init__(self, client: redis.Redis, experiment: str, *, window_s: float = DEFAULT_WINDOW_S):
        if window_s <= 0:
            raise ConfigError(f"window_s must be positive, got {window_s}")
        self.client = client
        self.experiment = experiment
        self.window_s = float(window_s)
        self.stream = RedisStreams(client, stream=f"{EXPERIMENT_PREFIX}{experiment}")

    @property
    def meta_key(self) -> str:
        return f"{EXPERIMENT_PREFIX}{self.experiment}:meta"

    def describe(self, assignment: Assignment) -> None:
        """Record the arms in order (the first is the control) and the split, for the report."""
        meta = json.dumps({"arms": list(assignment.arms), "shares": list(assignment.shares)})
        self.stream.call("describe the experiment", lambda: self.client.set(self.meta_key, meta))

    def arms(self) -> list[str]:
        """The arms as recorded by :meth:`describe` (the control first), or [] when never described."""
        raw = self.stream.call("read the experiment", lambda: self.client.get(self.meta_key))
        return list(json.loads(raw)["arms"]) if raw else []

    def _recent(self, user: str) -> str:
        return f"{EXPERIMENT_PREFIX}{self.experiment}:recent:{user}"

    def expose(self, exposure: ExposureEvent) -> str:
        """Log an exposure; returns its stream id."""
        record = {item: json.dumps([exposure.id, exposure.arm, rank, exposure.ts])
                  for rank, item in enumerate(exposure.items, start=1)}
        record[LAST] = json.dumps([exposure.id, exposure.arm, None, exposure.ts])

        def run():
            pipe = self.client.pipeline(transaction=False)
            pipe.xadd(self.stream.name, {FIELD: exposure.to_json()})
            if record:
                pipe.hset(self._recent(exposure.user), mapping=record)
                pipe.expire(self._recent(exposure.user), int(self.window_s) + 1)
            return pipe.execute()

        return self.stream.call("log an exposure", run)[0].decode()

    def outcomes(self, interactions: Sequence[InteractionEvent]) -> list[OutcomeEvent]:
        """Outcome events for the interactions on recently exposed items (logged; returned)."""
        chosen = [e for e in interactions if e.kind != "negative"]
        if not chosen:
            return []

        def lookup():
            pipe = self.client.pipeline(transaction=False)
            for e in chosen:
                pipe.hmget(self._recent(e.user), [e.item, LAST])
            return pipe.execute()

        found = self.stream.call("look up exposures", lookup)
        out = []
        for e, (shown, last) in zip(chosen, found):
            raw = shown if shown is not None else last
            if raw is None:
                continue
            exposure, arm, rank, ts = json.loads(raw)
            if not 0 <= e.ts - ts <= self.window_s + 1:
                continue
            out.append(OutcomeEvent(id=f"o-{e.id}", ts=e.ts, experiment=self.experiment, arm=arm, user=e.user,
                                    item=e.item, rank=None if rank is None else int(rank), exposure=exposure,
                                    source=e.id))
        if out:
            self.stream.publish(out)
        return out

    def events(self, *, chunk: int = 5000) -> Iterator[Event]:
        """Every exposure and outcome, in stream order (malformed entries are skipped with a warning)."""
        start = "-"
        while True:
            entries = self.stream.entries(start=start, count=chunk)
            for entry in entries:
                try:
                    yield parse_event(entry.raw)
                except EventError as e:
                    logger.warning("experiment %s: entry %s skipped: %s", self.experiment, entry.id, e)
            if len(entries) < chunk:
                return
            start = "(" + entries[-1].id

    def forget(self, user: str) -> int:
        """Remove a user's exposures and outcomes (a forget event)."""
        from ..events.apply import user_needle

        self.stream.call("forget", lambda: self.client.delete(self._recent(user)))
        return self.stream.scrub(user_needle(user))

    def delete(self) -> None:
        """Delete the experiment's records (its stream; recent-exposure hashes expire on their own)."""
        self.stream.delete()
        self.stream.call("delete the experiment", lambda: self.client.delete(self.meta_key))


class Experiment:
    """Arms of an experiment, each a recommender, and the log of what they showed.

    Args:
        assignment: the experiment's name, arms and split.
        arms: arm name → its recommender (the arms share the store).
        log: where exposures and outcomes go (default: None: not logged).
        k: the list length exposures record when a request does not say (default: 10).
    """

    def __init__(self, assignment: Assignment, arms: Mapping[str, Recommender], *, log: ExperimentLog | None = None):
        missing = [a for a in assignment.arms if a not in arms]
        if missing:
            raise ConfigError(f"experiment {assignment.experiment!r}: no recommender for arm(s) {missing}")
        self.assignment = assignment
        self.arms = dict(arms)
        self.log = log
        if log is not None:
            log.describe(assignment)

    @property
    def name(self) -> str:
        return self.assignment.experiment

    @property
    def control(self) -> Recommender:
        """The first arm's recommender (serves requests that name no user)."""
        return self.arms[self.assignment.arms[0]]

    def arm(self, user: str) -> str:
        return self.assignment.arm(user)

    def for_user(self, user: str) -> tuple[str, Recommender]:
        """The user's arm and its recommender."""
        arm = self.assignment.arm(user)
        return arm, self.arms[arm]

    def expose(self, user: str, arm: str, items: Sequence[str], k: int) -> str | None:
        """Log that ``arm`` showed ``user`` these items (best first); returns the exposure's event id."""
        if self.log is None or not items:
            return None
        event = ExposureEvent(experiment=self.name, arm=arm, user=user, items=list(items), k=k, ts=time.time())
        try:
            self.log.expose(event)
        except KgrecError as e:  # a lost exposure must not fail the request
            logger.warning("experiment %s: exposure not logged: %s", self.name, e)
            return None
        return event.id

    def on_applied(self, outcome: Outcome) -> None:
        """After the consumer applied a batch: log outcomes, forget forgotten users' records."""
        if self.log is None:
            return
        self.log.outcomes(outcome.interactions)
        for user in outcome.forgotten:
            self.log.forget(user)


__all__ = ["DEFAULT_WINDOW_S", "EXPERIMENT_PREFIX", "Experiment", "ExperimentLog"]
