"""`kgrec quickstart` (synthetic, offline; the real lastfm run is `slow`) over `kgrec.pipeline`, and
`KnowledgeGraph.core`, the training graph it selects."""

from __future__ import annotations

import re

import pytest

STEP_LINES = [r"1/5 loaded \S+", r"2/5 (wrote [\d,]+ nodes and [\d,]+ edges to the store|graph '\S+' is already in the store)",
              r"3/5 text vectors of [\d,]+ \w+ nodes from short documents \(name, 3 tags, 1 fact\) with ",
              r"4/5 trained kgrec for at most \d+ epochs \(a short quickstart budget; `kgrec train` runs longer\)",
              r"5/5 done in \d+s"]


def test_quickstart_falls_back_to_synthetic_data_offline(tmp_path, monkeypatch, serving_store):
    from kgrec.cli.quickstart import run_quickstart

    monkeypatch.setenv("KGREC_DATA_HOME", str(tmp_path / "no-data"))
    lines: list[str] = []
    result = run_quickstart("lastfm", epochs=2, k=3, store_url=f"unix://{serving_store.socket_path}",
                            download=False, out=tmp_path / "run", threads=1, echo=lines.append)
    text = "\n".join(lines)
    assert result.synthetic and result.dataset == "synthetic"
    assert "No local copy of 'lastfm'" in text and "SYNTHETIC" in text
    # what it printed, in quickstart's order (the pipeline's steps printed as they always were)
    assert lines[0].startswith("No local copy of 'lastfm' and it cannot be downloaded here (")
    assert lines[1].startswith("Running on a SYNTHETIC dataset")
    assert lines[2] == "    torch CPU threads: 1 (--threads N to change)"
    positions = [next(i for i, line in enumerate(lines) if re.match(p, line)) for p in STEP_LINES]
    assert positions == sorted(positions), lines
    assert f"run directory {tmp_path / 'run'}" in text
    assert "[SYNTHETIC data]" in next(line for line in lines if line.startswith("Recommendations for user"))
    assert len(result.recommendations) == 3
    assert result.checked > 0 and result.invalid == 0
    assert f"{result.checked} of {result.checked} return exactly their path" in text
    # feedback on the first recommendation changes the next list at once: the item is now seen, and the
    # items that stay are scored with the folded-in user vector
    before = {r.item.id: r.score for r in result.recommendations}
    after = {r.item.id: r.score for r in result.after_feedback}
    assert result.feedback_item.id == result.recommendations[0].item.id
    assert result.feedback_item.id not in after and len(after) == 3
    assert any(abs(after[i] - before[i]) > 1e-6 for i in after.keys() & before.keys()) or after.keys() - before.keys()
    assert any(line.startswith("Feedback: user ") for line in lines)
    # the demonstrated feedback stayed in memory: the store has no such interaction
    rows = serving_store.query("MATCH (u:User {id: $u})-[r]->(i {id: $i}) RETURN count(r)",
                               {"u": result.user, "i": result.feedback_item.id}, graph="synthetic").rows
    assert rows[0][0] == 0
    # quickstart is a few lines over the pipeline: the same config, the same run
    assert result.pipeline.run.path == tmp_path / "run"
    assert result.pipeline.config.text.documents == "short" and result.pipeline.config.text.labels == "items"
    assert result.pipeline.vectors.labels == [result.pipeline.graph.schema.item_label]


def test_quickstart_is_its_own_command_module():
    import kgrec.cli.serve as serve

    for gone in ("quickstart", "run_quickstart", "core_graph", "QUICKSTART_DOCUMENTS", "QuickstartResult"):
        assert not hasattr(serve, gone), gone
    from kgrec.cli import _register, app

    _register()
    commands = {c.name or c.callback.__name__: c.callback.__module__ for c in app.registered_commands}
    assert commands["quickstart"] == "kgrec.cli.quickstart"


def test_core_keeps_the_items_with_enough_interactions_and_only_real_edges(lastfm_small_kg):
    kg = lastfm_small_kg
    counts = kg.interactions["dst"].value_counts()
    core = kg.core(min_interactions=3)
    core.validate()
    item, user = kg.schema.item_label, kg.schema.user_label
    assert set(core.nodes[item]["id"]) == set(counts.index[counts >= 3]) and 0 < core.num_nodes(item) < kg.num_nodes(item)
    assert set(core.nodes[user]["id"]) == set(core.interactions["src"])
    for et, df in core.edges.items():  # every edge is one of the whole graph's (so its Cypher finds it)
        whole = set(zip(kg.edges[et]["src"], kg.edges[et]["dst"]))
        assert set(zip(df["src"], df["dst"])) <= whole
    assert kg.core(min_interactions=1) is kg
    again = core.core(min_interactions=3)  # idempotent: the item counts are the same in the core
    assert again.equals(core)
    assert all(again.nodes[label]["id"].tolist() == core.nodes[label]["id"].tolist() for label in core.nodes)
    assert core.metadata["min_interactions"] == 3


@pytest.mark.slow
def test_quickstart_on_lastfm(tmp_path, data_home):
    """The README's main command on the real data (minutes on a 2-core CPU), in its own store."""
    import shutil
    import tempfile

    from kgrec.cli.quickstart import run_quickstart
    from kgrec.kg.stores import open_store

    folder = tempfile.mkdtemp(prefix="kgrec-qs-", dir="/tmp")
    lines: list[str] = []
    try:
        result = run_quickstart("lastfm", k=5, store_url=f"embedded:{folder}", out=tmp_path / "run",
                                echo=lines.append)
    finally:
        open_store(f"embedded:{folder}").stop()
        shutil.rmtree(folder, ignore_errors=True)
    assert not result.synthetic and result.dataset == "lastfm"
    assert result.checked > 0 and result.invalid == 0
    assert not any("SYNTHETIC" in line for line in lines)
    assert any(re.fullmatch(r"    training on the 2,828 of [\d,]+ Artist nodes with at least 5 interactions \(77% "
                            r"of the 92,834 interactions; --min-interactions 1 or `kgrec train` for all\)", line)
               for line in lines), lines
    assert result.after_feedback and result.feedback_item.id not in {r.item.id for r in result.after_feedback}
