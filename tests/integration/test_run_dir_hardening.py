"""Run directories that are not what they claim (issue 14 B10, A6) and what a run declares it holds
per user (issue 15.5), on real runs of the synthetic graph (a minute on a CPU)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from kgrec.errors import RunDirError
from kgrec.gnn import Run
from kgrec.gnn.run import MANIFEST, attach_files, detach_files, sha256_file
from tests.fixtures.gnn import make_config


@pytest.fixture(scope="module")
def small_runs(synthetic_kg, tmp_path_factory):
    """One short run per model that keeps per-user weights (and pop, which keeps none)."""
    from kgrec.gnn import train

    runs = {}
    for model in ("lightgcn", "bprmf", "pop"):
        out = tmp_path_factory.mktemp(f"run-{model}") / "run"
        runs[model] = train(synthetic_kg, make_config(model=model, epochs=1, seed=0), out=out)
    return runs


@pytest.fixture()
def run_copy(small_runs, tmp_path) -> Path:
    return Path(shutil.copytree(small_runs["bprmf"].path, tmp_path / "run"))


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / MANIFEST).read_text())


def _write_manifest(run_dir: Path, manifest: dict | str) -> None:
    (run_dir / MANIFEST).write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))


def test_a_deeply_nested_manifest_is_a_run_dir_error(run_copy):
    _write_manifest(run_copy, '{"format": 1, "files": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(RunDirError, match="nested too deeply|unreadable manifest"):
        Run.load(run_copy)


def test_an_entry_outside_the_run_directory_is_refused_even_with_the_right_hash(run_copy, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("a file that is not the run's\n")
    manifest = _manifest(run_copy)
    relative = os.path.relpath(outside, run_copy)
    assert relative.startswith("..")
    manifest["files"][relative] = {"sha256": sha256_file(outside), "bytes": outside.stat().st_size}
    _write_manifest(run_copy, manifest)
    with pytest.raises(RunDirError, match="not a file of a run directory"):
        Run.load(run_copy)
    manifest["files"].pop(relative)
    manifest["files"][str(outside)] = {"sha256": sha256_file(outside), "bytes": outside.stat().st_size}
    _write_manifest(run_copy, manifest)
    with pytest.raises(RunDirError, match="not a file of a run directory"):
        Run.load(run_copy)


def test_a_symlink_out_of_the_run_directory_is_refused(run_copy, tmp_path):
    target = tmp_path / "elsewhere.json"
    shutil.copy(run_copy / "metrics.json", target)
    (run_copy / "metrics.json").unlink()
    (run_copy / "metrics.json").symlink_to(target)  # same bytes, same hash: only the place is wrong
    with pytest.raises(RunDirError, match="leads outside the run directory"):
        Run.load(run_copy)


@pytest.mark.parametrize("text", ['{"files": {"config.yaml": "x"}}', '{"files": []}', "[]", '{"files": {"config.yaml": '
                                  '{"sha256": "0", "bytes": true}}}'])
def test_a_malformed_manifest_is_a_run_dir_error(run_copy, text):
    _write_manifest(run_copy, text)
    with pytest.raises(RunDirError):
        Run.load(run_copy)


def test_a_folder_that_is_not_a_run_says_so(tmp_path):
    folder = tmp_path / "not-a-run"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(RunDirError, match="not a run directory") as e:
        Run.load(folder)
    assert "interrupted" not in str(e.value)
    (folder / "checkpoint.safetensors").write_bytes(b"x")
    with pytest.raises(RunDirError, match="an interrupted run"):
        Run.load(folder)
    with pytest.raises(RunDirError, match="no such run directory"):
        Run.load(tmp_path / "missing")


def test_attached_files_are_verified_and_dropped_when_the_run_is_saved_again(run_copy):
    (run_copy / "graph_index.json").write_text("{}")
    (run_copy / "graph_index.safetensors").write_bytes(b"\0" * 16)
    attach_files(run_copy, ["graph_index.json", "graph_index.safetensors"])
    run = Run.load(run_copy)  # verifies the attached files too
    (run_copy / "graph_index.json").write_text('{"changed": 1}')
    with pytest.raises(RunDirError, match="graph_index.json"):
        Run.load(run_copy)
    detach_files(run_copy, ["graph_index.json", "graph_index.safetensors"])
    assert not (run_copy / "graph_index.json").exists() and "graph_index.json" not in _manifest(run_copy)["files"]
    attach_files(run_copy, [])  # a clean manifest
    (run_copy / "graph_index.json").write_text("{}")
    attach_files(run_copy, ["graph_index.json"])
    run.save(run_copy)
    assert not (run_copy / "graph_index.json").exists() and "graph_index.json" not in _manifest(run_copy)["files"]
    with pytest.raises(RunDirError, match="cannot be attached"):
        attach_files(run_copy, ["config.yaml"])


@pytest.mark.parametrize("model, weight", [("lightgcn", "net.embedding.weight"), ("bprmf", "user.weight")])
def test_forgetting_clears_every_per_user_weight_the_model_declares(small_runs, model, weight, tmp_path):
    """LightGCN keeps users and items in one table (``net.embedding.weight``): guessing per-user
    weights from names and shapes missed it; the model's declaration does not."""
    from kgrec.serving.privacy import forget_in_run_dir

    run = small_runs[model]
    assert run.user_weights == (weight,)
    path = Path(shutil.copytree(run.path, tmp_path / model))
    user = run.id_maps[run.user_label].ids[3]
    table = np.asarray(run.weights[weight])
    assert table[3].any() and table.shape[0] >= len(run.id_maps[run.user_label])
    assert forget_in_run_dir(path, user)
    after = Run.load(path)
    assert not np.asarray(after.weights[weight])[3].any() and not after.node_vectors[run.user_label][3].any()
    assert np.asarray(after.weights[weight])[4].any()  # only that user
    assert np.array_equal(np.asarray(after.weights[weight])[len(run.id_maps[run.user_label]):],
                          table[len(run.id_maps[run.user_label]):])  # the items' rows stay
    assert user not in after.id_maps[run.user_label] and after.user_weights == (weight,)


def test_a_model_without_per_user_weights_declares_none(small_runs):
    run = small_runs["pop"]
    assert run.user_weights == () and run.declared_user_weights() == ()
    without, knew = run.without_user(run.id_maps[run.user_label].ids[0])
    assert knew and without.id_maps[run.user_label].ids[0].startswith("forgotten-")
