"""The lastfm benchmark without a store: kgrec and its LightGCN on the lastfm graph read from files, on
whatever device ``--device`` names (default auto: CUDA when present, with its default bfloat16
autocast), one table out.

``kgrec benchmark lastfm`` ingests the graph into the embedded store first; a lent GPU machine has no
FalkorDB, so this reads the same graph with ``load_dataset`` and calls the same
:func:`kgrec.gnn.benchmark.benchmark` (the split, the seeds and the table are the CLI's).

    KGREC_DATA_HOME=../shared/data python benchmarks/gpu/lastfm.py --out /tmp/bench/lastfm-gpu [--seeds 1]
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--models", default="kgrec,lightgcn")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)

    from kgrec.gnn import TrainConfig
    from kgrec.gnn.benchmark import benchmark
    from kgrec.kg.sources import load_dataset

    kg = load_dataset("lastfm", download=False)
    command = "python benchmarks/gpu/lastfm.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    result = benchmark(kg, models=args.models.split(","), seeds=range(args.seeds),
                       config=TrainConfig(device=args.device), out=args.out, command=command)
    print(result.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
