"""Encoding speed of quickstart's short item documents with 1 thread and with 2, alternating.

    python benchmarks/serving_threads.py [--dataset lastfm] [--sample 400] [--rounds 2]

Why ``kgrec quickstart`` sets torch's threads to the idle cores: on a busy machine torch's default
(one thread per core) is slower than one thread. Each round loads a fresh packaged encoder per
setting and encodes the same random sample (seed 0) of quickstart's item documents.
"""

from __future__ import annotations

import argparse
import logging
import random
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="lastfm")
    ap.add_argument("--sample", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import os

    from kgrec.kg.sources import load_dataset
    from kgrec.text import TextEncoder
    from kgrec.text.documents import DocumentTemplates, node_documents

    from kgrec.text import SHORT_DOCUMENTS as QUICKSTART_DOCUMENTS

    kg = load_dataset(args.dataset)
    label = kg.schema.item_label
    docs = node_documents(kg, templates=DocumentTemplates(**QUICKSTART_DOCUMENTS), labels=[label])[label]
    sample = random.Random(0).sample(docs, min(args.sample, len(docs)))
    for r in range(args.rounds):
        for threads in (2, 1):
            enc = TextEncoder(threads=threads)
            enc.encode(["warm up"])
            t = time.perf_counter()
            enc.encode(sample)
            dt = time.perf_counter() - t
            print(f"round {r + 1}, threads {threads}: {len(sample) / dt:.1f} texts/s "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
