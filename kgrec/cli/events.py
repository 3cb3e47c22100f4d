"""`kgrec events ...` (publish, consume, status, dead-letters) and `kgrec experiment ...` (report,
simulate): thin layers over :mod:`kgrec.serving.events` and :mod:`kgrec.serving.experiments`."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path

import typer

from kgrec.cli import app

logger = logging.getLogger(__name__)

events_app = typer.Typer(name="events", help="Live events on a stream (Redis Streams by default).",
                         no_args_is_help=True)
experiment_app = typer.Typer(name="experiment", help="A/B experiments: reports and replay simulations.",
                             no_args_is_help=True)
app.add_typer(events_app)
app.add_typer(experiment_app)

STREAM_HELP = ("Where the stream is: a store URL (default: KGREC_STORE, else the embedded store's own redis-server), "
               "redis://host:port/db, unix:///path/redis.sock or kafka://host:port.")


def _transport(stream: str | None, store: str | None, graph: str | None):
    from kgrec.kg.stores import open_store
    from kgrec.serving.events import open_transport

    if stream is not None:
        return open_transport(stream, graph=graph)
    return open_transport(open_store(store), graph=graph)


@events_app.command("publish")
def publish_command(
    file: Path = typer.Argument(..., help="A JSON-lines file of events ('-' for standard input)."),
    graph: str | None = typer.Option(None, "--graph", help="The graph (default: the store's only graph)."),
    store: str | None = typer.Option(None, "--store", help="Store URL (default: KGREC_STORE, else embedded)."),
    stream: str | None = typer.Option(None, "--stream", help=STREAM_HELP),
    batch: int = typer.Option(1000, "--batch", min=1, max=100_000, help="Events per round trip."),
) -> None:
    """Validate every event of FILE (a bad line stops it before anything is sent), then publish them."""
    from kgrec.serving.events import read_jsonl

    if str(file) == "-":
        events = read_jsonl(sys.stdin, source="<stdin>")
    else:
        with open(file, encoding="utf-8") as f:
            events = read_jsonl(f, source=str(file))
    transport = _transport(stream, store, graph)
    try:
        ids = []
        for start in range(0, len(events), batch):
            ids += transport.publish(events[start:start + batch])
    finally:
        transport.close()
    typer.echo(f"published {len(ids)} events to {transport.name}" + (f" ({ids[0]} .. {ids[-1]})" if ids else ""))


@events_app.command("consume")
def consume_command(
    run_dir: Path = typer.Argument(..., help="The run directory the serving state comes from."),
    group: str = typer.Option("kgrec", "--group", help="The consumer group (its consumers share the work)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Consumers in this process (threads)."),
    name: str | None = typer.Option(None, "--name", help="Consumer name prefix (default: <host>-<pid>)."),
    batch: int = typer.Option(5000, "--batch", min=1, help="Entries read at most per batch."),
    claim_idle: float = typer.Option(10.0, "--claim-idle", min=0.01,
                                     help="Take over other consumers' entries pending this many seconds."),
    until_idle: bool = typer.Option(False, "--until-idle", help="Stop once nothing is left to apply."),
    store: str | None = typer.Option(None, "--store", help="Store URL (default: KGREC_STORE, else embedded)."),
    graph: str | None = typer.Option(None, "--graph", help="Graph name in the store (default: the run's)."),
    stream: str | None = typer.Option(None, "--stream", help=STREAM_HELP),
) -> None:
    """Apply the stream's events to the store and to a serving state, exactly once each, until stopped."""
    from kgrec.kg.stores import open_store
    from kgrec.serving import Recommender
    from kgrec.serving.events import Consumer, ConsumerConfig, EventApplier, open_transport, run_workers
    from kgrec.serving.events.consumer import default_name

    config = ConsumerConfig(group=group, batch=batch, claim_idle_s=claim_idle)
    s = open_store(store)
    rec = Recommender.load(run_dir, store=s, graph=graph)
    transport = open_transport(stream, graph=rec.graph_name) if stream else open_transport(s, graph=rec.graph_name)
    applier = EventApplier(rec)
    prefix = name or default_name()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    typer.echo(f"consuming {transport.name} in group {group!r} with {workers} worker(s) (Ctrl-C to stop)", err=True)
    try:
        consumers = run_workers(lambda i: Consumer(transport, applier, config=config,
                                                   name=prefix if workers == 1 else f"{prefix}-{i}"),
                                workers, stop=stop, until_idle=until_idle)
    except KeyboardInterrupt:
        stop.set()
        consumers = []
    finally:
        transport.close()
    applied = sum(c.stats.applied for c in consumers)
    dead = sum(c.stats.dead for c in consumers)
    typer.echo(f"applied {applied} events, {dead} dead letters")


@events_app.command("status")
def status_command(
    group: str = typer.Option("kgrec", "--group", help="The consumer group."),
    graph: str | None = typer.Option(None, "--graph", help="The graph (default: the store's only graph)."),
    store: str | None = typer.Option(None, "--store", help="Store URL (default: KGREC_STORE, else embedded)."),
    stream: str | None = typer.Option(None, "--stream", help=STREAM_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The stream's length, the group's pending entries and lag, and the latest dead letters."""
    transport = _transport(stream, store, graph)
    try:
        s = transport.status(group)
        letters = transport.dead_letters(count=5)
    finally:
        transport.close()
    if as_json:
        typer.echo(json.dumps({"stream": transport.name, "group": s.group, "length": s.length, "pending": s.pending,
                               "lag": s.lag, "consumers": s.consumers,
                               "dead_letters": [{"source": d.source, "reason": d.reason} for d in letters]}, indent=2))
        return
    typer.echo(f"{transport.name}: {s.length} entries; group {s.group!r}: {s.consumers} consumers, "
               f"{s.pending} pending, lag {s.lag if s.lag is not None else '?'}")
    for d in letters:
        typer.echo(f"  dead letter {d.source}: {d.reason}")


@experiment_app.command("report")
def report_command(
    name: str = typer.Argument(..., help="The experiment's name (kgrec serve --experiment NAME)."),
    control: str | None = typer.Option(None, "--control", help="The arm to compare with (default: the first)."),
    primary: str = typer.Option("ctr", "--primary", help="The verdict's metric: ctr | hit | ndcg."),
    alpha: float = typer.Option(0.05, "--alpha", min=1e-6, max=0.5, help="Significance level."),
    store: str | None = typer.Option(None, "--store", help="Store URL whose server holds the experiment."),
    redis_url: str | None = typer.Option(None, "--redis", help="A Redis URL instead of the store's server."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Per arm: users, exposures, CTR, hit rate@k, NDCG@k, with confidence intervals and a verdict."""
    from kgrec.serving.experiments import ExperimentLog, report

    log = ExperimentLog(_redis(store, redis_url), name)
    result = report(log.events(), experiment=name, control=control or (log.arms() or [None])[0], primary=primary,
                    alpha=alpha)
    typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.text())


def _redis(store: str | None, redis_url: str | None):
    if redis_url:
        import redis

        return redis.Redis.from_url(redis_url)
    from kgrec.kg.stores import open_store
    from kgrec.kg.stores.falkordb import FalkorDBStore

    s = open_store(store)
    if not isinstance(s, FalkorDBStore):
        from kgrec.errors import ConfigError

        raise ConfigError("experiments live on a Redis server: use the embedded or a FalkorDB store, or --redis URL")
    return s.redis_client()


@experiment_app.command("simulate")
def simulate_command(
    dataset: str = typer.Argument(..., help="The dataset the runs were trained on (e.g. lastfm)."),
    arm: list[str] = typer.Option(..., "--arm", help="NAME=RUN_DIR, the control first (repeat for each arm)."),
    split: str | None = typer.Option(None, "--split", help="The arms' shares, e.g. 50/50 (default: equal)."),
    k: int = typer.Option(20, "-k", "--k", min=1, max=1000, help="List length."),
    seed: int = typer.Option(0, "--seed", help="Picks the assignment key and the user order."),
    max_users: int | None = typer.Option(None, "--max-users", min=1, help="Simulate at most this many users."),
    primary: str = typer.Option("ctr", "--primary", help="The verdict's metric: ctr | hit | ndcg."),
    store: str | None = typer.Option(None, "--store", help="Store URL (default: KGREC_STORE, else embedded)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Replay held-out test interactions as clicks through the live service and the stream; print the report."""
    from kgrec.kg.stores import open_store
    from kgrec.serving.experiments import parse_arms, simulate

    arms = parse_arms(arm)
    with open_store(store) as s:
        sim = simulate(dataset, arms, store=s, split=split, k=k, seed=seed, max_users=max_users, primary=primary)
    if as_json:
        typer.echo(json.dumps({**sim.report.to_dict(), "users": sim.users, "events": sim.events,
                               "seconds": sim.seconds}, indent=2))
        return
    typer.echo(sim.report.text())
    typer.echo(f"\n{sim.users} users, {sim.events} replayed interactions, {sim.seconds:.0f}s")
