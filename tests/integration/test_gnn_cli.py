"""`kgrec train | evaluate | benchmark` through an embedded store: the graph is ingested when absent,
read back from the store (feedback written there is trained on), and the run directory checks out."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.gnn import Run
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore

_register()
runner = CliRunner()


def kgrec(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def store_url(tmp_path_factory):
    url = f"embedded:{tmp_path_factory.mktemp('gnn_cli')}"
    yield url
    EmbeddedStore(url).stop()


def test_train_ingests_then_trains_from_the_store(store_url, tmp_path):
    out = tmp_path / "run"
    result = kgrec("train", "synthetic", "--model", "bprmf", "--store", store_url, "--out", out, "--device", "cpu",
                   "--seed", "3", "--set", "epochs=2", "--set", "checkpoint_every=0", "--no-progress")
    assert result.exit_code == 0, result.output
    run = Run.load(out)
    assert run.config.model == "bprmf" and run.config.seed == 3 and run.config.epochs == 2
    assert run.graph == "synthetic"
    with open_store(store_url) as store:
        assert "synthetic" in store.graphs()

    # feedback written to the store is part of the next training run
    user, item = run.id_maps[run.user_label].id(0), None
    known = set(run.split.positives("train")[1][run.split.positives("train")[0] == 0].tolist())
    for i in range(len(run.id_maps[run.item_label])):
        if i not in known:
            item = run.id_maps[run.item_label].id(i)
            break
    with open_store(store_url) as store:
        before = store.read(graph="synthetic").num_edges(tuple(run.interaction))
        store.add_interaction(user, item, graph="synthetic")
    out2 = tmp_path / "run2"
    result = kgrec("train", "synthetic", "--model", "pop", "--store", store_url, "--out", out2, "--no-progress")
    assert result.exit_code == 0, result.output
    run2 = Run.load(out2)
    total = sum(run2.split.positives(p).shape[1] for p in ("train", "valid", "test"))
    assert total == before + 1

    # evaluate recomputes the saved test metrics from the saved vectors
    result = kgrec("evaluate", out, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    for key, value in report["saved_test"].items():
        assert report["test"][key] == pytest.approx(value, abs=1e-5), key


def test_train_refuses_unknown_keys_and_models(store_url, tmp_path):
    from kgrec.errors import ConfigError

    result = kgrec("train", "synthetic", "--store", store_url, "--set", "learning_rate=0.1", "--no-progress")
    assert isinstance(result.exception, ConfigError) and "learning_rate" in str(result.exception)
    result = kgrec("train", "synthetic", "--store", store_url, "--model", "nope", "--no-progress")
    assert isinstance(result.exception, ConfigError) and "lightgcn" in str(result.exception)


def test_benchmark_writes_table_and_chart(store_url, tmp_path):
    out = tmp_path / "bench"
    result = kgrec("benchmark", "synthetic", "--models", "pop,bprmf", "--seeds", "2", "--store", store_url,
                   "--set", "epochs=2", "--set", "checkpoint_every=0", "--out", out, "--no-progress")
    assert result.exit_code == 0, result.output
    table = (out / "benchmark.md").read_text()
    assert "| pop |" in table and "| bprmf |" in table and "±" in table
    assert (out / "benchmark.png").read_bytes()[:4] == b"\x89PNG"
    data = json.loads((out / "benchmark.json").read_text())
    assert [r["model"] for r in data["results"]] == ["pop", "bprmf"]
    assert all(len(r["test"]) == 2 for r in data["results"])
