"""Choose the explainer's path scoring on fidelity measured on *validation* users (issue 20).

    python benchmarks/explain_scoring.py --run RUN_DIR [--run RUN_DIR ...] [--users 200] [--seed 0]
        [--scorings geometric,weakest,anchored] [--json OUT.json]

For every run and every scoring of :data:`kgrec.serving.search.SCORINGS`, the explanation report
(:func:`kgrec.serving.explain_report.explain_report`) over ``--users`` users drawn (``--seed``) among
the users with a validation pair: how far the explanations' paths weigh in their items' scores
against random paths of the same length and kind, and their quality (SEP, ETD). Test users are
left for the figures that are reported (``kgrec explain-report RUN --from test``). Each run's
graph is loaded from its dataset (``--no-store``'s way); the serving index saved in the run
directory is reused.

Prints a markdown table per run and writes every report as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, action="append", required=True, help="a run directory (repeatable)")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--max-paths", type=int, default=3)
    ap.add_argument("--scorings", default="geometric,weakest,anchored")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from kgrec.gnn import Run
    from kgrec.serving import Recommender
    from kgrec.serving.explain_report import explain_report
    from kgrec.serving.loading import serving_index

    out = {}
    for run_dir in args.run:
        run = Run.load(run_dir)
        index, kg = serving_index(run, run_dir, store=None, graph=None)
        print(f"\n### {run_dir.name}: {run.graph} · {run.model}, {args.users} validation users (seed {args.seed})\n")
        print("| scoring | measured | path drop | control drop | path beats control | users where path wins "
              "| left top-k (fid+) | lead spent | kept alone (1 − fid−) | charact. | mean drop, unmeasured as 0 "
              "| SEP | ETD | seconds |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for scoring in args.scorings.split(","):
            rec = Recommender(run, kg, index=index, scoring=scoring)
            started = time.perf_counter()
            report = explain_report(rec, users=args.users, seed=args.seed, k=args.k, max_paths=args.max_paths,
                                    users_from="valid", run_name=run_dir.name)
            seconds = time.perf_counter() - started
            f, c = report.paired, report.control
            print(f"| {scoring} | {report.fidelity.explanations} of {report.explanations} | {f.mean_drop:.4f} | "
                  f"{c.mean_drop:.4f} | {100 * report.beats_control:.1f}% | {100 * report.users_path_wins:.1f}% | "
                  f"{100 * report.fidelity.left_top_k:.1f}% | {100 * report.fidelity.lead_share:.1f}% | "
                  f"{100 * report.fidelity.kept_in_top_k:.1f}% | {report.fidelity.characterization:.3f} | "
                  f"{report.mean_drop_all:.4f} | {report.sep:.3f} | {report.etd:.3f} | {seconds:.0f} |", flush=True)
            out[f"{run_dir.name}/{scoring}"] = {**report.to_dict(), "seconds": seconds}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
