"""Test a RecBole checkpoint of a run that was stopped before early stopping ended it.

RecBole saves the model at each new best validation epoch, and tests only when training ends. A
run stopped earlier (a peer too slow for this CPU: KGCN on lastfm) still leaves that checkpoint;
this script gives the test metrics at its best validation epoch so far, with the validation
metrics recomputed beside the logged ones as a check that the checkpoint is that epoch's model.

Runs in RecBole's virtualenv (``../shared/peers/recbole/setup.sh``), not kgrec's::

    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 /tmp/peers/recbole-venv/bin/python benchmarks/recbole_checkpoint.py \
        MODEL.pth [--threads 1]

The checkpoint's own config (the exported split files under its ``data_path``) rebuilds the data.
Prints one JSON line: the epoch, the logged best validation score, the recomputed validation and
the test metrics.
"""

import argparse
import json
import os
import tempfile
import time

p = argparse.ArgumentParser()
p.add_argument("checkpoint")
p.add_argument("--threads", type=int, default=None)
a = p.parse_args()
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from recbole.quick_start import load_data_and_model  # noqa: E402
from recbole.utils import get_trainer  # noqa: E402

np.float = np.float64  # RecBole's metrics use np.float; its Config sets this alias, load_data_and_model does not
if a.threads:
    torch.set_num_threads(a.threads)
checkpoint = os.path.abspath(a.checkpoint)
os.chdir(tempfile.mkdtemp(prefix="recbole-checkpoint-"))  # RecBole writes ./log here
saved = torch.load(checkpoint, map_location="cpu")
t0 = time.time()
config, model, dataset, train_data, valid_data, test_data = load_data_and_model(checkpoint)
trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
valid = trainer.evaluate(valid_data, load_best_model=False, show_progress=False)
test = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
print(json.dumps({"model": config["model"], "seed": config["seed"], "checkpoint": checkpoint,
                  "epoch": saved["epoch"] + 1, "logged_best_valid_score": float(saved["best_valid_score"]),
                  "valid": {k: float(v) for k, v in valid.items()}, "test": {k: float(v) for k, v in test.items()},
                  "wall_s": round(time.time() - t0, 1)}))
