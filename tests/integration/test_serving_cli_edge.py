"""The serving CLI at its edges (issue 14 A3, A5, A6, B8): a one-off `kgrec recommend` reuses the
serving index saved with the run, prints a ready-to-run `kgrec query` line under every explanation,
says "not a run directory" for a folder that is not one, cleans ids; `kgrec serve` says when it
changes the shared store's durability. Real subprocesses, the real embedded store."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import pytest


def kgrec(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from kgrec.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ})


@pytest.fixture(scope="module")
def run_dir(serving_run, tmp_path_factory):
    """A copy of the serving run (this module saves a graph index into it)."""
    from kgrec.gnn.run import ATTACHABLE, copy_run, detach_files

    path = copy_run(serving_run.path, tmp_path_factory.mktemp("cli-edge") / "run")
    detach_files(path, ATTACHABLE)  # another test may have saved an index into the original
    return path


def test_recommend_reuses_the_index_saved_with_the_run(run_dir, serving_store, lastfm_small_kg, recommender):
    store = f"unix://{serving_store.socket_path}"
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[9]
    args = ("recommend", str(run_dir), "--user", user, "-k", "3", "--explain", "--json", "--store", store,
            "--graph", lastfm_small_kg.name)
    first = kgrec(*args)
    assert first.returncode == 0, first.stderr
    assert "reading graph" in first.stderr  # once: the graph is read and indexed
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {"graph_index.json", "graph_index.safetensors"} <= set(manifest["files"])
    second = kgrec(*args)
    assert second.returncode == 0, second.stderr
    assert "reading graph" not in second.stderr  # the saved index, checked against the store's counts
    assert json.loads(second.stdout) == json.loads(first.stdout)
    expected = [r.item.id for r in recommender.recommend(user, 3, explain=False)]
    assert [r["item"]["id"] for r in json.loads(second.stdout)["recommendations"]] == expected


def test_every_printed_explanation_comes_with_a_kgrec_query_line(run_dir, serving_store, lastfm_small_kg, recommender):
    store = f"unix://{serving_store.socket_path}"
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[9]
    done = kgrec("recommend", str(run_dir), "--user", user, "-k", "3", "--explain", "--store", store,
                 "--graph", lastfm_small_kg.name)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    sentences = [i for i, line in enumerate(lines) if line.startswith("      - ")]
    runs = [line.strip()[len("run it: "):] for line in lines if line.strip().startswith("run it: kgrec query ")]
    assert sentences and len(runs) == len(sentences)
    for line in runs:
        words = shlex.split(line)
        params = json.loads(words[words.index("--params") + 1])
        assert params and all(isinstance(v, str) for v in params.values())
        assert words[words.index("--graph") + 1] == lastfm_small_kg.name and words[words.index("--store") + 1] == store
    done = subprocess.run(["bash", "-c", runs[0].replace("kgrec query", f"{sys.executable} -c "
                           "'from kgrec.cli import main; main()' query", 1) + " --json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["ids"][0] == user


def test_a_folder_that_is_not_a_run_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    done = kgrec("recommend", str(tmp_path), "--user", "2", "--no-store")
    assert done.returncode == 1
    assert "not a run directory" in done.stderr and "interrupted" not in done.stderr


def test_invisible_characters_in_a_user_id_are_cleaned(run_dir, serving_store, lastfm_small_kg, recommender):
    store = f"unix://{serving_store.socket_path}"
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[9]
    done = kgrec("recommend", str(run_dir), "--user", "\ufeff" + user + "\u200b", "-k", "3", "--json", "--store",
                 store, "--graph", lastfm_small_kg.name)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["user"] == user
    done = kgrec("recommend", str(run_dir), "--user", "\u200b", "--store", store, "--graph", lastfm_small_kg.name)
    assert done.returncode == 1 and "is empty" in done.stderr


def test_serving_says_when_it_raises_the_shared_stores_durability(caplog):
    """The embedded server's appendfsync is shared by every process using the store: the service
    never weakens it, and raising it is a warning that names the change (never silent)."""
    from kgrec.kg.stores import open_store
    from kgrec.serving.http import StoreKeeper

    folder = tempfile.mkdtemp(prefix="kgrec-fsync-", dir="/tmp")
    store = open_store(f"embedded:{folder}")
    try:
        assert store.appendfsync_now() == "everysec"
        leave = StoreKeeper(store, feedback_fsync=None)  # feedback_fsync="store"
        leave.prepare()
        assert store.appendfsync_now() == "everysec" and leave.changed is None
        keeper = StoreKeeper(store, feedback_fsync="always")
        with caplog.at_level(logging.WARNING, logger="kgrec.serving.http.keeper"):
            keeper.prepare()
        assert store.appendfsync_now() == "always" and keeper.changed == ("everysec", "always")
        [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert "from 'everysec' to 'always'" in warning.getMessage() and folder in warning.getMessage()
        assert "every process using that store" in warning.getMessage()
        caplog.clear()
        again = StoreKeeper(store, feedback_fsync="always")
        with caplog.at_level(logging.WARNING, logger="kgrec.serving.http.keeper"):
            again.prepare()
        assert again.changed is None and not caplog.records  # nothing changed, nothing to warn about
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)
