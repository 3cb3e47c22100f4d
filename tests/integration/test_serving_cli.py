"""`kgrec recommend` and `kgrec explain` (a real subprocess); quickstart's tests are in test_quickstart.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def kgrec(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from kgrec.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ})


def test_recommend_and_explain_commands(serving_run, serving_store, lastfm_small_kg, recommender):
    store_url = f"unix://{serving_store.socket_path}"
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[7]  # no other test gives this user feedback
    done = kgrec("recommend", str(serving_run.path), "--user", user, "-k", "10", "--explain", "--json",
                 "--store", store_url, "--graph", lastfm_small_kg.name)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    recs = body["recommendations"]
    assert [r["rank"] for r in recs] == list(range(1, 11))
    assert [r["item"]["id"] for r in recs] == [r.item.id for r in recommender.recommend(user, 10, explain=False)]
    # the first item the list explains: this user listens to niche artists, and the closed-form
    # block's text rows rank other niche artists with no path of <= 3 hops to them at the top
    item = next(r["item"]["id"] for r in recs if r["explanations"])
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
