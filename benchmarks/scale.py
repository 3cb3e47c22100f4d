"""The scale benchmark: synthetic graphs of 10 k, 100 k and 1 M users, every step of the pipeline,
its time, its peak memory and how each grows with the graph.

Usage::

    KGREC_DATA_HOME=../shared/data python benchmarks/scale.py --sizes 10k 100k [--steps all] \\
        [--model kgrec] [--sampler auto] [--device auto] [--ddp] [--recbole] [--out benchmarks/results/scale] \\
        [--work /tmp/kgrec-scale]

Sizes (users, items; about 20 interactions per user; tags, genres as the generator makes them):
``10k`` = 10,000 × 2,000, ``100k`` = 100,000 × 10,000, ``1m`` = 1,000,000 × 100,000.

Steps, each timed with its peak memory (this process's resident set at its peak, on Linux the
kernel's own high-water mark reset at the start of the step: :class:`kgrec.gnn.memory.PeakMemory`),
the load average before and after:

``generate``   :func:`kgrec.synthetic` (the graph, validated)
``ingest``     ``open_store("embedded:WORK/...").write(kg)``: seconds, edges/s; the server's resident set
               (``--stream-ingest``: ``write_stream(synthetic_stream(...))``, the same graph drawn and written
               a block of users at a time; the graph is then never built in memory: the steps after ``load`` use
               the graph read back from the store)
``load``       ``store.read()``: the graph back from the store
``text``       ``embed_graph`` of items, tags and genres: once to fill the cache (``text_first``), then
               the cached run (``text``: what every later training pays)
``train``      one epoch of ``--model`` (the sampler ``auto`` picks, or ``--sampler``; recorded; ``train_steps``:
               its steps alone, as the trainer timed them, without validation), then the validation on
               the fixed user sample timed on its own (``valid_sample``), then ``finish`` (the run saved,
               with the closed-form block's search; ``--no-finish`` skips it)
``evaluate``   full-ranking test evaluation of every test user, in chunks
``recommend``  ``Recommender.load(run_dir, graph=kg)``, then ``recommend(u, k=10, explain=False)`` for
               200 users (p50 / p99) and with ``explain=True`` for 30 users
``ddp``        (``--ddp``, 100k only) ``torchrun --nproc-per-node 2 -m kgrec.gnn.distributed`` against
               the same settings in one process with seeds 0, 1, 2 (``--ddp-epochs``, text off)
``recbole``    (``--recbole``, 100k only) RecBole's LightGCN, one epoch, through
               ``../shared/peers/recbole/run.py`` in its virtualenv: training seconds and peak memory

The growth exponent ``alpha`` of each step (``time ∝ edges^alpha``) is the slope of a least-squares
line through (log edges, log seconds) over the sizes measured; ``growth.png`` draws them. Results
accumulate in ``OUT/scale.json`` (a rerun replaces the rows it measures), ``OUT/scale.md`` is the table.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIZES = {"10k": (10_000, 2_000), "100k": (100_000, 10_000), "1m": (1_000_000, 100_000)}
STEPS = ("generate", "ingest", "load", "text", "train", "evaluate", "recommend", "ddp", "recbole")
logger = logging.getLogger("scale")


class Step:
    """Times a step and meters its memory: ``with Step(row, "ingest") as s: ...; s.note(edges_per_s=...)``."""

    def __init__(self, row: dict[str, Any], name: str):
        self.row, self.name = row, name
        self.extra: dict[str, Any] = {}

    def __enter__(self) -> Step:
        from kgrec.gnn.memory import PeakMemory

        self.load0 = os.getloadavg()
        self.meter = PeakMemory()
        self.cuda = str(self.row.get("device", "")).startswith("cuda")
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.t0 = time.perf_counter()
        return self

    def note(self, **values: Any) -> None:
        self.extra.update(values)

    def __exit__(self, kind, value, tb) -> None:
        if self.cuda:  # the GPU's queued work belongs to this step's time
            import torch

            torch.cuda.synchronize()
            self.extra["gpu_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        seconds = time.perf_counter() - self.t0
        self.meter.sample()
        self.row.setdefault("steps", {})[self.name] = {
            "seconds": round(seconds, 3), "peak_rss_mb": round(self.meter.peak_rss_mb, 1),
            "added_mb": round(self.meter.peak_mb, 1), "load": [round(self.load0[0], 2), round(os.getloadavg()[0], 2)],
            "ok": kind is None, **({"error": f"{kind.__name__}: {value}"} if kind else {}),
            "command": self.row.get("command"), "at": time.strftime("%Y-%m-%d %H:%M"), **self.extra}
        logger.info("%s %s: %.1f s, peak %.0f MiB %s", self.row["size"], self.name, seconds, self.meter.peak_rss_mb,
                    self.extra)


def _server_rss_mb(store) -> dict[str, float]:
    """The embedded server's resident set now and at its peak (``/proc/<pid>/status``), MiB."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{store.pid()}/status").read_text().splitlines():
            for key in ("VmRSS", "VmHWM"):
                if line.startswith(key + ":"):
                    out[f"server_{key.lower()}_mb"] = round(int(line.split()[1]) / 1024, 1)
    except (OSError, TypeError, ValueError):
        pass
    return out


def run_size(label: str, args: argparse.Namespace, row: dict[str, Any]) -> None:
    import torch

    from kgrec.gnn import TrainConfig
    from kgrec.gnn.evaluate import evaluate_model, validation_sample
    from kgrec.gnn.registry import model_class
    from kgrec.gnn.train import Trainer, finish, prepare, resolve_device
    from kgrec.kg.sources.synthetic import synthetic

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    row["device"] = str(device)
    if device.type == "cuda":  # the context's start-up (a second or two) belongs to no step
        torch.zeros(1, device=device)
    users, items = SIZES[label]
    steps = set(args.steps)
    work = Path(args.work) / label
    work.mkdir(parents=True, exist_ok=True)
    name = f"scale-{label}"
    kg = None
    # A streamed ingest never builds the graph in memory: the later steps use the one read back from the
    # store (as a user's pipeline would), so only one copy of a 20 M-edge graph is ever held.
    if not args.stream_ingest or ("load" not in steps and steps - {"ingest"}):
        with Step(row, "generate") as s:
            kg = synthetic(num_users=users, num_items=items, interactions_per_user=20, name=name)
            s.note(edges=kg.num_edges(), nodes=kg.num_nodes(), interactions=kg.num_edges(kg.schema.interaction))
        row["edges"] = kg.num_edges()
        row["interactions"] = kg.num_edges(kg.schema.interaction)

    if steps & {"ingest", "load"}:
        from kgrec.kg.stores import open_store

        import shutil

        if "ingest" in steps:  # a fresh store; ``--steps load`` alone reads the one a last run wrote
            shutil.rmtree(work / "store", ignore_errors=True)
        store = open_store(f"embedded:{work / 'store'}")
        try:
            if "ingest" in steps:
                with Step(row, "ingest") as s:
                    if args.stream_ingest:  # drawn and written a block of users at a time
                        from kgrec.kg.sources.synthetic import synthetic_stream

                        report = store.write_stream(synthetic_stream(num_users=users, num_items=items,
                                                                     interactions_per_user=20, name=name), graph=name)
                        row["edges"] = report.num_edges
                        row["interactions"] = report.edges["(User)-[INTERACTED]->(Item)"]
                        s.note(streamed=True)
                    else:
                        store.write(kg, graph=name)
                s.extra["edges_per_s"] = round(row["edges"] / max(row["steps"]["ingest"]["seconds"], 1e-9))
                row["steps"]["ingest"].update(s.extra, **_server_rss_mb(store))
            if "load" in steps:
                with Step(row, "load") as s:
                    back = store.read(graph=name)
                    if "edges" in row:  # written or generated in this run: the read must give it back whole
                        s.note(edges=back.num_edges(), same_edges=back.num_edges() == row["edges"])
                    else:  # ``--steps load`` alone: the stored graph a last run wrote
                        row["edges"] = back.num_edges()
                        row["interactions"] = back.num_edges(back.schema.interaction)
                        s.note(edges=back.num_edges())
                if kg is None:
                    kg = back
                del back
        finally:
            store.close()
            store.stop()

    if kg is None:  # --stream-ingest with --steps ingest: nothing else to run
        return
    vectors = None
    labels = [kg.schema.item_label, "Tag", "Genre"]
    if "text" in steps:
        from kgrec.text import embed_graph

        with Step(row, "text_first") as s:  # fills the cache (KGREC_HOME), unless an earlier run did
            vectors = embed_graph(kg, labels=labels)
            s.note(texts=int(sum(kg.num_nodes(x) for x in labels)))
        with Step(row, "text") as s:
            vectors = embed_graph(kg, labels=labels)
    elif "train" in steps and not args.no_text:  # the vectors training uses, from the cache, untimed
        from kgrec.text import embed_graph

        vectors = embed_graph(kg, labels=labels)

    run_dir = work / f"run-{args.model}"
    if "train" in steps:
        config = TrainConfig(model=args.model, epochs=1, seed=0, checkpoint_every=0, device=args.device,
                             text=vectors is not None and not args.no_text, sampler=args.sampler).effective()
        with Step(row, "prepare") as s:
            inputs, data = prepare(kg, config, vectors=vectors)
            torch.manual_seed(config.seed)
            model = model_class(config.model)(inputs, config)
        trainer = Trainer(config)
        with Step(row, "train") as s:
            fit = trainer.fit(model, inputs)
            s.note(model=config.model, sampler=fit.sampler, sampler_reason=fit.sampler_reason,
                   epoch_seconds=round(fit.history[0].seconds, 3), steps_seconds=fit.history[0].train_seconds,
                   valid_users=fit.valid_users,
                   valid_sample_ndcg20=fit.history[0].valid.get("ndcg@20"),
                   steps_per_epoch=-(-int(inputs.split.positives("train").shape[1]) // config.batch_size))
        sample = validation_sample(inputs.split, config.valid_users, seed=config.seed)
        with Step(row, "valid_sample") as s:
            m = evaluate_model(model, inputs.split, part="valid", config=config, users=sample)
            s.note(users=m.count)
        row["steps"]["train"]["train_only_seconds"] = round(
            row["steps"]["train"]["epoch_seconds"] - row["steps"]["valid_sample"]["seconds"], 3)
        # the epoch's steps alone, as the trainer timed them (no validation, where kgrec's first one
        # also chooses the closed-form block on graphs within its exact forms): their own alpha
        trained = row["steps"]["train"]
        if trained.get("steps_seconds") is not None:
            row["steps"]["train_steps"] = {"seconds": trained["steps_seconds"], "ok": trained.get("ok", True),
                                           "peak_rss_mb": trained["peak_rss_mb"], "sampler": trained["sampler"]}
        if "evaluate" in steps:
            with Step(row, "evaluate") as s:
                m = evaluate_model(model, inputs.split, part="test", config=config)
                s.note(users=m.count, ndcg20=round(m["ndcg@20"], 5), items=inputs.num_items)
        if not args.no_finish:
            with Step(row, "finish") as s:
                finish(kg, model, inputs, data, config, fit, trainer.device, vectors=vectors).save(run_dir)
        del model, inputs, data

    if "recommend" in steps and run_dir.is_dir():
        from kgrec.serving import Recommender

        with Step(row, "recommend_load") as s:
            rec = Recommender.load(run_dir, graph=kg)
        rng = np.random.default_rng(0)
        ids = kg.users["id"].to_numpy()[rng.choice(kg.num_nodes(kg.schema.user_label), 230, replace=False)]
        with Step(row, "recommend") as s:
            times = []
            for uid in ids[:200]:
                t = time.perf_counter()
                rec.recommend(str(uid), k=10, explain=False)
                times.append(time.perf_counter() - t)
            explained = []
            for uid in ids[200:]:
                t = time.perf_counter()
                rec.recommend(str(uid), k=10, explain=True)
                explained.append(time.perf_counter() - t)
            s.note(p50_ms=round(1000 * float(np.percentile(times, 50)), 3),
                   p99_ms=round(1000 * float(np.percentile(times, 99)), 3),
                   explain_p50_ms=round(1000 * float(np.percentile(explained, 50)), 1),
                   explain_p99_ms=round(1000 * float(np.percentile(explained, 99)), 1))
        del rec

    if "ddp" in steps and args.ddp and label == "100k":
        run_ddp(label, args, row, kg)
    if "recbole" in steps and args.recbole and label == "100k":
        run_recbole(label, args, row, kg)


def run_ddp(label: str, args: argparse.Namespace, row: dict[str, Any], kg) -> None:
    """2 ranks over gloo against one process with seeds 0-2, the same settings (text off)."""
    from kgrec.gnn import TrainConfig, train

    users, items = SIZES[label]
    settings = {"model": args.ddp_model, "epochs": args.ddp_epochs, "text": False, "device": "cpu",
                "checkpoint_every": 0}
    singles = []  # (valid, test) NDCG@20 of one process per seed
    for seed in (0, 1, 2):
        name = f"ddp_single_s{seed}"
        before = args.previous_steps.get(name, {})
        # runs recorded before settings were noted (2026-12-06 22:05-22:30) ran the default settings
        if args.ddp_reuse_singles and before.get("ok") and before.get("settings", settings) == settings:
            row.setdefault("steps", {})[name] = before  # measured by an earlier run of the same settings
        else:
            with Step(row, name) as s:
                run = train(kg, TrainConfig(**settings, seed=seed), save=False)
                s.note(valid_ndcg20=run.metrics.valid["ndcg@20"], test_ndcg20=run.metrics.test["ndcg@20"],
                       sampler=run.metrics.extra["sampler"], settings=settings)
        singles.append((row["steps"][name]["valid_ndcg20"], row["steps"][name]["test_ndcg20"]))
    out = Path(args.work) / label / "ddp-run"
    cmd = ["/usr/bin/time", "-f", "peak_rss_kb=%M", sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", "2", "-m", "kgrec.gnn.distributed", "synthetic",
           "--dataset-arg", f"num_users={users}", "--dataset-arg", f"num_items={items}",
           "--dataset-arg", "interactions_per_user=20", "--dataset-arg", f"name=scale-{label}",
           "--out", str(out), "--threads", "1", *[a for k, v in settings.items() for a in ("--set", f"{k}={v}")],
           "--seed", "0"]
    with Step(row, "ddp") as s:
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        from kgrec.gnn import Run

        ddp = Run.load(out).metrics
        peak = [int(line.split("=")[1]) for line in done.stderr.splitlines() if line.startswith("peak_rss_kb=")]
        valid = np.array([v for v, _ in singles])
        test = np.array([t for _, t in singles])
        s.note(command=" ".join(shlex.quote(c) for c in cmd[3:]), world=2,
               singles_at=[row["steps"][f"ddp_single_s{seed}"].get("at") for seed in (0, 1, 2)],
               valid_ndcg20=ddp.valid["ndcg@20"], test_ndcg20=ddp.test["ndcg@20"],
               single_valid_ndcg20=valid.tolist(), single_test_ndcg20=test.tolist(),
               within_seed_spread=bool(valid.min() - np.ptp(valid) <= ddp.valid["ndcg@20"] <= valid.max() + np.ptp(valid)),
               seconds_per_epoch=ddp.seconds_per_epoch, rank_peak_rss_mb=round(peak[0] / 1024, 1) if peak else None)


def run_recbole(label: str, args: argparse.Namespace, row: dict[str, Any], kg) -> None:
    """RecBole's LightGCN on kgrec's split of the same graph, one epoch: training seconds, peak memory."""
    import re

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from kgrec.kg.sources.recbole import export_recbole  # where the RecBole writer moves (issue 15.5)
    except ImportError:
        from peers import export_recbole
    from peers import make_split, run_peer

    folder = Path(args.work) / label / "recbole"
    with Step(row, "recbole_export") as s:
        report = export_recbole(kg, make_split(kg), folder / "data", name=f"kgrec-scale-{label}")
        s.note(rows=report.rows)
    with Step(row, "recbole") as s:
        run = run_peer("LightGCN", folder / "data", report.name, seed=0, epochs=1, venv=Path(args.recbole_venv),
                       logs=folder / "logs", threads=args.threads)
        text = Path(run.log).read_text(encoding="utf-8", errors="replace")
        trained = [float(x) for x in re.findall(r"epoch \d+ training \[time: ([0-9.]+)s", text)]
        evaluated = [float(x) for x in re.findall(r"epoch \d+ evaluating \[time: ([0-9.]+)s", text)]
        s.note(train_seconds_per_epoch=trained[0] if trained else None, eval_seconds=evaluated[0] if evaluated else None,
               peak_rss_mb=round(run.peak_rss_mb, 1), wall_s=round(run.wall_s, 1), log=run.log,
               test_ndcg20=run.test.get("ndcg@20"))


# -- report ---------------------------------------------------------------------------------------
def alphas(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per step, the slope of log(seconds) on log(edges) over the sizes that have it."""
    out = {}
    names = sorted({n for r in rows for n in r.get("steps", {})})
    for name in names:
        pts = [(r["edges"], r["steps"][name]["seconds"]) for r in rows
               if name in r.get("steps", {}) and r["steps"][name].get("ok") and r["steps"][name]["seconds"] > 0]
        if len(pts) >= 2:
            x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            out[name] = round(float(np.polyfit(x, y, 1)[0]), 3)
    return out


def markdown(rows: list[dict[str, Any]], alpha: dict[str, float]) -> str:
    show = ("generate", "ingest", "load", "text", "train", "train_steps", "evaluate", "recommend_load", "recommend")
    head = "| step | " + " | ".join(f"{r['size']} ({r['edges']:,} edges)" for r in rows) + " | alpha |"
    lines = [head, "|" + " --- |" * (len(rows) + 2)]
    for name in show:
        cells = []
        for r in rows:
            st = r.get("steps", {}).get(name)
            if not st:
                cells.append("–")
                continue
            cell = f"{st['seconds']:.1f} s, {st['peak_rss_mb'] / 1024:.2f} GiB"
            if st.get("gpu_peak_mb") is not None:
                cell += f" (GPU {st['gpu_peak_mb'] / 1024:.2f} GiB)"
            if name == "ingest":
                cell += f", {st.get('edges_per_s', 0):,} edges/s"
            if name == "train":
                cell += f" ({st.get('sampler')}; train only {st.get('train_only_seconds', 0):.1f} s)"
            if name == "train_steps":
                cell = f"{st['seconds']:.1f} s ({st.get('sampler')})"
            if name == "recommend":
                cell = (f"p50 {st['p50_ms']:.2f} ms, p99 {st['p99_ms']:.2f} ms; explained p50 "
                        f"{st['explain_p50_ms']:.0f} ms, p99 {st['explain_p99_ms']:.0f} ms")
            if not st.get("ok"):
                cell = "failed: " + st.get("error", "")[:60]
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {alpha.get(name, float('nan')):.2f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name in ("generate", "ingest", "load", "text", "train", "train_steps", "evaluate", "recommend_load"):
        pts = sorted((r["edges"], r["steps"][name]["seconds"]) for r in rows if name in r.get("steps", {}))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    if rows:
        e = np.array(sorted(r["edges"] for r in rows), dtype=float)
        ax.plot(e, e / e[0] * 10, "k--", lw=0.8, label="∝ edges (from 10 s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("edges")
    ax.set_ylabel("seconds")
    ax.set_title("kgrec scale benchmark: time per step vs graph size")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["10k", "100k"], choices=list(SIZES))
    parser.add_argument("--steps", nargs="+", default=["all"], choices=["all", *STEPS])
    parser.add_argument("--model", default="kgrec")
    parser.add_argument("--sampler", default="auto", help="TrainConfig.sampler for the train step (default auto)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--device", default="auto",
                        help="TrainConfig.device for train and evaluate: auto (CUDA when present), cpu, cuda")
    parser.add_argument("--ddp", action="store_true", help="100k: the 2-process gloo run against one process")
    parser.add_argument("--ddp-model", default="kgrec")
    parser.add_argument("--ddp-epochs", type=int, default=2)
    parser.add_argument("--ddp-reuse-singles", action="store_true",
                        help="reuse the one-process runs an earlier --ddp run of the same settings recorded")
    parser.add_argument("--recbole", action="store_true", help="100k: RecBole's LightGCN, one epoch")
    parser.add_argument("--no-text", action="store_true", help="train without text vectors (the text step, if asked, is still timed)")
    parser.add_argument("--no-finish", action="store_true",
                        help="train: the epoch and its validation only, no saved run (no closed-form search: "
                             "an hour of the 1m row's time); recommend then needs a run an earlier invocation saved")
    parser.add_argument("--stream-ingest", action="store_true",
                        help="ingest with synthetic_stream + store.write_stream (one block of users in memory at a "
                             "time); the graph is never built in memory: the steps after load use the one read back")
    parser.add_argument("--recbole-venv", default="/tmp/peers/recbole-venv")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scale")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kgrec-scale"))
    args = parser.parse_args(argv)
    if "all" in args.steps:
        args.steps = list(STEPS)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    raw_path = args.out / "scale.json"
    saved = json.loads(raw_path.read_text()) if raw_path.is_file() else {"rows": []}
    rows = {r["size"]: r for r in saved["rows"]}
    command = "python benchmarks/scale.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    for label in args.sizes:
        row = {"size": label, "users": SIZES[label][0], "items": SIZES[label][1], "command": command,
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count()}
        old = rows.get(label, {})
        args.previous_steps = old.get("steps", {})
        try:
            run_size(label, args, row)
        finally:
            row["steps"] = {**old.get("steps", {}), **row.get("steps", {})}
            rows[label] = {**old, **row}
            ordered = [rows[k] for k in SIZES if k in rows]
            alpha = alphas(ordered)
            raw_path.write_text(json.dumps({"rows": ordered, "alpha": alpha}, indent=1))
            (args.out / "scale.md").write_text(markdown(ordered, alpha))
            plot(ordered, args.out / "growth.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
