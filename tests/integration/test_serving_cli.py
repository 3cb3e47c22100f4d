"""`kgrec recommend`, `kgrec explain` (a real subprocess) and `kgrec quickstart` (synthetic, offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def kgrec(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from kgrec.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ})


def test_recommend_and_explain_commands(serving_run, serving_store, lastfm_small_kg, recommender):
    store_url = f"unix://{serving_store.socket_path}"
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[7]  # no other test gives this user feedback
    done = kgrec("recommend", str(serving_run.path), "--user", user, "-k", "3", "--explain", "--json",
                 "--store", store_url, "--graph", lastfm_small_kg.name)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    recs = body["recommendations"]
    assert [r["rank"] for r in recs] == [1, 2, 3]
    assert [r["item"]["id"] for r in recs] == [r.item.id for r in recommender.recommend(user, 3, explain=False)]
    item = recs[0]["item"]["id"]
    done = kgrec("explain", str(serving_run.path), "--user", user, "--item", item, "--store", store_url,
                 "--graph", lastfm_small_kg.name)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Why ") and "cypher: MATCH p = " in done.stdout
    done = kgrec("recommend", str(serving_run.path), "--user", "no-such-user", "--store", store_url,
                 "--graph", lastfm_small_kg.name)
    assert done.returncode == 1 and "unknown user 'no-such-user'" in done.stderr


def test_printed_cypher_returns_its_path_through_kgrec_query(recommender, serving_store, lastfm_small_kg):
    from kgrec.cli.serve import query_command

    user = sorted(recommender.users(), key=lambda s: (len(s), s))[1]
    e = next(e for r in recommender.recommend(user, 5) for e in r.explanations)
    line = query_command(e, graph=lastfm_small_kg.name, store=f"unix://{serving_store.socket_path}")
    assert line.startswith("kgrec query ")
    done = subprocess.run(["bash", "-c", line.replace("kgrec query", f"{sys.executable} -c "
                                                      "'from kgrec.cli import main; main()' query", 1) + " --json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["ids"] == [n.id for n in e.path.nodes]
    assert row["relations"] == [x.type for x in e.path.relations]


def test_quickstart_falls_back_to_synthetic_data_offline(tmp_path, monkeypatch, serving_store):
    from kgrec.cli.serve import run_quickstart

    monkeypatch.setenv("KGREC_DATA_HOME", str(tmp_path / "no-data"))
    lines: list[str] = []
    result = run_quickstart("lastfm", epochs=2, k=3, store_url=f"unix://{serving_store.socket_path}",
                            download=False, out=tmp_path / "run", echo=lines.append)
    text = "\n".join(lines)
    assert result.synthetic and result.dataset == "synthetic"
    assert "No local copy of 'lastfm'" in text and "SYNTHETIC" in text
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


def test_core_graph_keeps_the_items_with_enough_interactions_and_only_real_edges(lastfm_small_kg):
    from kgrec.cli.serve import core_graph

    kg = lastfm_small_kg
    counts = kg.interactions["dst"].value_counts()
    core = core_graph(kg, min_interactions=3)
    core.validate()
    item, user = kg.schema.item_label, kg.schema.user_label
    assert set(core.nodes[item]["id"]) == set(counts.index[counts >= 3]) and 0 < core.num_nodes(item) < kg.num_nodes(item)
    assert set(core.nodes[user]["id"]) == set(core.interactions["src"])
    for et, df in core.edges.items():  # every edge is one of the whole graph's (so its Cypher finds it)
        whole = set(zip(kg.edges[et]["src"], kg.edges[et]["dst"]))
        assert set(zip(df["src"], df["dst"])) <= whole
    assert core_graph(kg, min_interactions=1) is kg


@pytest.mark.slow
def test_quickstart_on_lastfm(tmp_path, data_home):
    """The README's main command on the real data (minutes on a 2-core CPU), in its own store."""
    import shutil
    import tempfile

    from kgrec.cli.serve import run_quickstart
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
    assert result.after_feedback and result.feedback_item.id not in {r.item.id for r in result.after_feedback}
