"""A replay simulation of an A/B experiment that anyone can run: the held-out test interactions of
a dataset become the users' "clicks", sent through the live service and the stream.

:func:`simulate` (``kgrec experiment simulate lastfm --arm A=RUN_A --arm B=RUN_B``):

1. takes the test pairs of the control arm's split (the runs should share the split: same dataset,
   split kind and seed) and writes the graph *without them* to a scratch graph in the store, so
   neither arm knows them and the service does not leave them out as already seen;
2. starts the HTTP service in this process (:class:`~kgrec.serving.http.BackgroundServer`) with the
   experiment (every arm over the scratch graph) and an in-process consumer of the stream;
3. asks the service for each test user's top ``k`` (``GET /v1/users/{id}/recommendations``): the
   user's arm answers and the service logs the exposure;
4. publishes the users' test interactions through ``POST /v1/events``; the consumer applies them
   (store + every arm's memory) and logs the outcomes of exposed items;
5. waits until the consumer group has applied everything, and returns the report
   (:func:`~kgrec.serving.experiments.report.report`); the scratch graph and streams are removed.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kgrec.errors import ConfigError, InputError, KgrecError

from ..events.schema import Event
from .assign import Assignment, parse_split
from .experiment import Experiment, ExperimentLog
from .report import ExperimentReport, report

if TYPE_CHECKING:
    from kgrec.gnn import Run
    from kgrec.kg import KnowledgeGraph
    from kgrec.kg.stores import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulationResult:
    """The report, the experiment's records (exposures and outcomes), and what the simulation did."""

    report: ExperimentReport
    records: tuple[Event, ...]
    users: int
    exposures: int
    events: int
    seconds: float
    graph: str


def held_out_pairs(run: Run) -> list[tuple[str, str]]:
    """The run's test interactions as ``(user id, item id)``."""
    users, items = run.id_maps[run.user_label].ids, run.id_maps[run.item_label].ids
    pairs = np.asarray(run.split.test)
    return [(users[u], items[i]) for u, i in zip(pairs[0].tolist(), pairs[1].tolist())]


def without_pairs(kg: KnowledgeGraph, pairs: list[tuple[str, str]], *, name: str) -> KnowledgeGraph:
    """The graph without some interactions, renamed."""
    et = tuple(kg.schema.interaction)
    table = kg.edges[et]
    drop = set(pairs)
    keep = [(s, d) not in drop for s, d in zip(table["src"].astype(str), table["dst"].astype(str))]
    return kg.replace(edges={et: table.loc[keep].reset_index(drop=True)}, name=name)


def simulate(graph: KnowledgeGraph | str, arms: Mapping[str, str | Path], *, store: Store | None = None,
             split: str | None = None, k: int = 20, seed: int = 0, max_users: int | None = None,
             experiment: str | None = None, window_s: float = 3600.0, primary: str = "ctr", alpha: float = 0.05,
             batch: int = 1000, timeout_s: float = 600.0, keep: bool = False) -> SimulationResult:
    """Replay the held-out test interactions through the live service; returns the report.

    Args:
        graph: the dataset (a name for :func:`kgrec.kg.sources.load_dataset`, or the graph itself)
            the runs were trained on.
        arms: arm name → run directory, the control first.
        store: where the scratch graph and the streams go (default: the embedded store).
        split: the arms' shares, e.g. ``"50/50"`` (default: equal).
        k: the list length (default: 20).
        seed: picks the assignment key (and the order users come in) (default: 0).
        max_users: simulate at most this many test users (default: all).
        experiment: the experiment's name (default: ``sim-<graph>-<seed>``).
        window_s: the outcome window (default: 3600).
        primary, alpha: as for :func:`report`.
        batch: events per ``POST /v1/events`` (default: 1000).
        timeout_s: how long to wait for the consumer (default: 600).
        keep: keep the scratch graph and the streams (default: False).
    """
    import httpx

    from kgrec.gnn import Run
    from kgrec.kg.sources import load_dataset
    from kgrec.kg.stores import open_store

    from ..config import ServeConfig
    from ..events import ConsumerConfig, InteractionEvent, open_transport
    from ..events.live import LiveService
    from ..http import BackgroundServer, create_app
    from ..recommender import Recommender

    started = time.perf_counter()
    if len(arms) < 2:
        raise ConfigError(f"a simulation needs at least two arms, got {list(arms)}")
    runs = {name: Run.load(path) for name, path in arms.items()}
    control = next(iter(runs.values()))
    kg = load_dataset(graph) if isinstance(graph, str) else graph
    for name, run in runs.items():
        if (run.user_label, run.item_label) != (kg.schema.user_label, kg.schema.item_label):
            raise InputError(f"arm {name}: run {run.path} was trained on {run.graph!r}, not on this graph")
        if not np.array_equal(np.asarray(run.split.test), np.asarray(control.split.test)):
            logger.warning("arm %s has another test split than the control; the control's is replayed", name)
    pairs = held_out_pairs(control)
    if not pairs:
        raise InputError(f"run {control.path} has no test interactions to replay")
    name = experiment or f"sim-{kg.name}-{seed}"
    scratch_name = f"{kg.name}-sim-{seed}-{secrets.token_hex(3)}"
    scratch = without_pairs(kg, pairs, name=scratch_name)
    own_store = store is None
    store = store or open_store()
    users = sorted({u for u, _ in pairs})
    np.random.default_rng(seed).shuffle(users)
    if max_users is not None:
        users = users[:max_users]
    chosen = set(users)
    replay = [(u, i) for u, i in pairs if u in chosen]
    token = secrets.token_hex(16)
    server = live = None
    log = ExperimentLog(store.redis_client(), name, window_s=window_s)
    transport = open_transport(store, graph=scratch_name)
    try:
        log.delete()
        store.write(scratch, graph=scratch_name)
        recs = {arm: Recommender(run, scratch, store=store, graph_name=scratch_name) for arm, run in runs.items()}
        assignment = Assignment(name, tuple(runs), parse_split(split, len(runs)), salt=f"{name}:{seed}")
        exp = Experiment(assignment, recs, log=log)
        first = next(iter(recs.values()))
        live = LiveService(first, transport, consume=True, mirrors=list(recs.values())[1:],
                           config=ConsumerConfig(group="simulate", batch=batch, block_ms=50),
                           on_applied=exp.on_applied)
        app = create_app(first, ServeConfig(token=token, feedback_fsync="store"), live=live, experiment=exp)
        server = BackgroundServer(app).start()
        exposures = 0
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for user in users:
                r = http.get(f"/v1/users/{user}/recommendations", params={"k": k, "explain": "false"})
                if r.status_code == 200:
                    exposures += 1
                elif r.status_code != 404:
                    raise KgrecError(f"the service answered {r.status_code} for user {user}: {r.text[:200]}")
            events = [InteractionEvent(user=u, item=i).model_dump(mode="json") for u, i in replay]
            auth = {"Authorization": f"Bearer {token}"}
            for start in range(0, len(events), batch):
                r = http.post("/v1/events", json={"events": events[start:start + batch]}, headers=auth)
                if r.status_code != 202:
                    raise KgrecError(f"POST /v1/events answered {r.status_code}: {r.text[:300]}")
        _wait_applied(live, len(events), timeout_s)
        records = tuple(log.events())
        result = report(records, experiment=name, control=next(iter(runs)), primary=primary, alpha=alpha)
        return SimulationResult(result, records, len(users), exposures, len(events), time.perf_counter() - started,
                                scratch_name)
    finally:
        if server is not None:
            server.stop()
        if live is not None:
            live.stop()
        if not keep:
            for cleanup in (transport.delete, log.delete, lambda: store.drop(scratch_name)):
                try:
                    cleanup()
                except KgrecError as e:
                    logger.warning("simulation cleanup: %s", e)
        transport.close()
        if own_store:
            store.close()


def _wait_applied(live, expected: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        s = live.status()
        if s.pending == 0 and (s.lag or 0) == 0 and s.length >= expected:
            return
        time.sleep(0.1)
    s = live.status()
    raise KgrecError(f"the consumer did not apply the events within {timeout_s:.0f}s "
                     f"({s.pending} pending, lag {s.lag})")


__all__ = ["SimulationResult", "held_out_pairs", "simulate", "without_pairs"]
