"""What ``kgrec serve --consume / --experiment`` builds from its options: the event stream of the
service and the A/B experiment (kept apart from :mod:`kgrec.cli.serve`, which serving owns)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def live_parts(recs: Mapping[str, Any], store, *, stream: str | None, consume: bool, group: str, workers: int,
               experiment: str | None, split: str | None):
    """``(LiveService or None, Experiment or None)`` for ``kgrec serve``.

    The service gets an event stream whenever one can be opened (``POST /v1/events`` publishes to
    it); ``consume`` also runs consumers in it. An experiment's arms are ``recs`` in order (the
    control first); its exposures and outcomes go to the store's own Redis server.
    """
    from kgrec.errors import ConfigError
    from kgrec.kg.stores.falkordb import FalkorDBStore
    from kgrec.serving.events import ConsumerConfig, open_transport
    from kgrec.serving.events.live import LiveService
    from kgrec.serving.experiments import Assignment, Experiment, ExperimentLog, parse_split

    rec = next(iter(recs.values()))
    redis_store = isinstance(store, FalkorDBStore)
    transport = None
    if stream is not None:
        transport = open_transport(stream, graph=rec.graph_name)
    elif redis_store:
        transport = open_transport(store, graph=rec.graph_name)
    elif consume:
        raise ConfigError("--consume needs an event stream: serve over the embedded or a FalkorDB store, or give "
                          "--stream redis://...")
    exp = None
    if experiment is not None:
        if not redis_store:
            raise ConfigError("an experiment logs to the store's Redis server: use the embedded or a FalkorDB store")
        assignment = Assignment(experiment, tuple(recs), parse_split(split, len(recs)))
        exp = Experiment(assignment, recs, log=ExperimentLog(store.redis_client(), experiment))
    live = None
    if transport is not None:
        live = LiveService(rec, transport, consume=consume, config=ConsumerConfig(group=group), workers=workers,
                           mirrors=list(recs.values())[1:], on_applied=exp.on_applied if exp else None)
    return live, exp
