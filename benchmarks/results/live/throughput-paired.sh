#!/usr/bin/env bash
# before/after the batched fold-in, interleaved (ABAB), same machine, same run, 50,000 events each
set -e
cd /work/main
. .venv/bin/activate
export KGREC_HOME=/tmp/bench/home KGREC_DATA_HOME=/work/shared/data HF_HUB_OFFLINE=1
for round in 1 2; do
  for code in before after; do
    if [ $code = before ]; then git stash push -q -- gnn/foldin.py gnn/run.py serving/; fi
    for batch in 2000 5000; do
      line=$(python benchmarks/live.py throughput /tmp/bench/runs/lastfm-kgrec --events 50000 --batch $batch 2>/dev/null | tail -1)
      echo "{\"code\": \"$code\", \"round\": $round, \"load1\": $(cut -d' ' -f1 /proc/loadavg), \"result\": $line}"
    done
    if [ $code = before ]; then git stash pop -q; fi
  done
done
