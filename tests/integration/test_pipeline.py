"""`kgrec.pipeline()`: the named steps on the real embedded store and the real encoder (synthetic data, a
short budget), `save()` / `kgrec.load_pipeline()` as inverses; the text layer's public quick path;
`kgrec.train()` from Python shows progress on a terminal (issue 14 A4)."""

from __future__ import annotations

import io
import shutil
import sys
import tempfile

import pytest

import kgrec


@pytest.fixture(scope="module")
def pipeline_store():
    from kgrec.kg.stores import open_store

    folder = tempfile.mkdtemp(prefix="kgrec-pipe-", dir="/tmp")  # a unix socket path must stay short
    store = open_store(f"embedded:{folder}")
    try:
        yield store
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)


def quick_config(**train):
    return kgrec.KgrecConfig(text=kgrec.TextConfig(documents="short", labels="items"),
                             train=kgrec.TrainConfig(**{"epochs": 2, "device": "cpu", "checkpoint_every": 0,
                                                        "min_interactions": 3, **train}))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_pipeline_runs_its_steps_then_saves_and_loads_back(tmp_path, pipeline_store):
    from kgrec.api import STEPS

    seen: list[tuple[str, bool]] = []
    result = kgrec.pipeline("synthetic", config=quick_config(), store=pipeline_store, out=tmp_path / "run",
                            on_step=lambda step, r: seen.append((step, r.run is not None)))
    assert [s for s, _ in seen] == list(STEPS) and [has_run for _, has_run in seen] == [False] * 4 + [True]
    kg, core = result.graph, result.training_graph
    item = kg.schema.item_label
    # write: the whole graph went into the store
    assert result.graph_name == "synthetic" and "synthetic" in pipeline_store.graphs()
    assert result.write_report.num_nodes == kg.num_nodes() and result.write_report.num_edges == kg.num_edges()
    # select: the core graph of the items with at least 3 interactions
    counts = core.interactions["dst"].value_counts()
    assert counts.min() >= 3 and core.num_nodes(item) < kg.num_nodes(item)
    # embed: short documents of the items only
    assert result.vectors.labels == [item] and len(result.vectors.ids[item]) == core.num_nodes(item)
    assert max(len(d) for d in result.vectors.documents[item]) <= 120 + len(" …")  # cut at a word, marked
    # train: the run, its effective config recorded in the result
    assert result.run.path == tmp_path / "run" and result.run.config.min_interactions == 3
    assert result.config.train == result.run.config and result.config.train.loss == "softmax"
    assert set(result.seconds) == {*STEPS, "total"}
    # the recommender: explained, over the store
    user = sorted(result.recommender.users())[0]
    recs = result.recommender.recommend(user, 3)
    assert len(recs) == 3 and result.recommender.store is pipeline_store
    assert any(r.explanations for r in recs)

    saved = result.save(tmp_path / "pipeline")
    assert saved.path == tmp_path / "pipeline" and (tmp_path / "pipeline" / "run" / "manifest.json").is_file()
    assert result.config.store.url == pipeline_store.url  # the store it was given, recorded
    loaded = kgrec.load_pipeline(tmp_path / "pipeline", store=pipeline_store)
    assert loaded.config == result.config and loaded.dataset == "synthetic" and loaded.synthetic
    assert loaded.run.metrics.test.to_dict() == result.run.metrics.test.to_dict()
    assert loaded.vectors.ids == result.vectors.ids
    assert loaded.training_graph.equals(core)
    again = loaded.recommender.recommend(user, 3, explain=False)
    assert [r.item.id for r in again] == [r.item.id for r in recs]

    # a second run finds the graph in the store and does not write it again
    second = kgrec.pipeline("synthetic", config=quick_config(model="pop"), store=pipeline_store, out=tmp_path / "pop")
    assert second.write_report is None and second.vectors is None and second.run.config.model == "pop"


def test_load_pipeline_on_a_folder_that_is_not_one_names_it(tmp_path, monkeypatch):
    from kgrec.errors import RunDirError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match=f"{tmp_path / 'empty'}: not a pipeline directory"):
        kgrec.load_pipeline("empty", store=False)


def test_the_quick_text_path_is_public_short_item_documents(synthetic_kg, text_encoder):
    from kgrec.text import TextConfig, embed_features, embed_graph, node_documents

    quick = embed_graph(synthetic_kg, config=TextConfig(documents="short", labels="items"), encoder=text_encoder)
    item = synthetic_kg.schema.item_label
    assert quick.labels == [item] and quick.vectors[item].shape == (synthetic_kg.num_nodes(item), quick.dim)
    assert max(len(d) for d in quick.documents[item]) <= 120 + len(" …")
    full = node_documents(synthetic_kg, templates=TextConfig().templates(), labels=[item])
    assert max(len(d) for d in full[item]) > 120
    # training's default never encodes users (their documents are not features)
    trained_on = embed_features(synthetic_kg, TextConfig(documents="short"))
    assert synthetic_kg.schema.user_label not in trained_on.labels
    assert set(trained_on.labels) == set(synthetic_kg.nodes) - {synthetic_kg.schema.user_label}


def test_train_from_python_shows_progress_on_a_terminal_and_not_in_a_log(synthetic_kg, monkeypatch):
    config = kgrec.TrainConfig(model="lightgcn", epochs=1, device="cpu", checkpoint_every=0)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    kgrec.train(synthetic_kg, config, save=False)
    assert "train lightgcn" in terminal.getvalue() and "epoch" in terminal.getvalue()
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    kgrec.train(synthetic_kg, config, save=False)
    assert log.getvalue() == ""
