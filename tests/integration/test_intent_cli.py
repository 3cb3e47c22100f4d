"""`kgrec recommend --query/--session`, `kgrec feedback` and the preferences in `kgrec profile` (issue
19), each a real subprocess over the session's run and embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(1800)


def kgrec(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from kgrec.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ})


def test_recommend_with_a_query_and_a_session(serving_run, serving_store, lastfm_small_kg, recommender):
    recommender.intent.ready()  # built once per session (saved in the run directory): the commands reuse it
    where = ["--store", f"unix://{serving_store.socket_path}", "--graph", lastfm_small_kg.name]
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[-1]
    done = kgrec("recommend", str(serving_run.path), "--user", user, "--query", "female vocalists", "-k", "4",
                 "--json", *where)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["matches"][0]["name"].casefold() == "female vocalists"
    expected = recommender.recommend(user, 4, query="female vocalists", explain=False)
    assert [r["item"]["id"] for r in body["recommendations"]] == [r.item.id for r in expected]
    session = [i.id for i in recommender.seen(user)][:2]
    done = kgrec("recommend", str(serving_run.path), "--session", ",".join(session), "-k", "3", "--explain", *where)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Recommendations for user (anonymous):")
    assert "In this session you chose " in done.stdout and "cypher: MATCH p = " in done.stdout
    done = kgrec("recommend", str(serving_run.path), "--session", "no-such-item", *where)
    assert done.returncode == 1 and "no-such-item" in done.stderr


def test_feedback_command_and_profile(serving_run, serving_store, lastfm_small_kg, recommender):
    from kgrec.text import InterestTag, write_profiles

    recommender.intent.ready()
    where = ["--store", f"unix://{serving_store.socket_path}", "--graph", lastfm_small_kg.name]
    user = sorted(recommender.users(), key=lambda s: (len(s), s))[-2]
    tag = recommender.index.node_id("Tag", 0)
    # a stored profile of one interest tag, so that `kgrec profile --k 1` reads it instead of computing
    write_profiles(serving_store, {user: [InterestTag("Tag", tag, recommender.index.name("Tag", 0), 0.5)]},
                   graph=lastfm_small_kg.name)
    try:
        done = kgrec("feedback", str(serving_run.path), "--user", user, "--text", "less rock, more electronic",
                     *where)
        assert done.returncode == 0, done.stderr
        assert "avoid 'rock' [less]: rock (Tag, 1.00)" in done.stdout
        assert "+ PREFERS electronic (Tag" in done.stdout and "- AVOIDS  rock (Tag" in done.stdout
        done = kgrec("profile", user, "--k", "1", "--json", *where)
        assert done.returncode == 0, done.stderr
        said = json.loads(done.stdout)["text_preferences"]
        assert {(p["name"], p["relation"]) for p in said} >= {("rock", "AVOIDS"), ("electronic", "PREFERS")}
        done = kgrec("profile", user, "--k", "1", *where)
        assert "Text preferences of user" in done.stdout and "AVOIDS  rock" in done.stdout
        done = kgrec("feedback", str(serving_run.path), "--user", user, "--text", "меньше металла", *where)
        assert done.returncode == 1 and "CYRILLIC" in done.stderr
    finally:
        done = kgrec("feedback", str(serving_run.path), "--user", user, "--clear", *where)
        write_profiles(serving_store, {user: []}, graph=lastfm_small_kg.name)
    assert done.returncode == 0, done.stderr
    assert "(no text preferences)" in done.stdout
