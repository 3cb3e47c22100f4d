"""`kgrec embed` and `kgrec profile` against the embedded store, with the real encoder."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app

_register()
runner = CliRunner()


@pytest.fixture(scope="module")
def cli_store(text_store, lastfm_pair_kg, lastfm_pair_vectors):
    """The pair graph in the embedded store as graph 'clipair'; its texts are in the default cache."""
    text_store.write(lastfm_pair_kg, graph="clipair")
    return text_store


def invoke(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_embed_a_graph_read_from_the_store_is_served_from_the_cache(cli_store, lastfm_pair_kg):
    url = cli_store.url
    out = invoke("embed", "--store", url, "--graph", "clipair", "--labels", "User,Artist,Tag", "--no-progress")
    # the graph read back from the store gives the same documents, so every vector is cached
    assert "encoder: not called" in out
    n_artists = lastfm_pair_kg.num_nodes("Artist")
    artist_line = next(line for line in out.splitlines() if line.strip().startswith("Artist"))
    assert artist_line.split()[1:] == [f"{n_artists:,}", "0", f"{n_artists:,}"]
    assert "node texts/s" in out


def test_embed_writes_vectors_when_asked(cli_store, lastfm_pair_kg):
    out = invoke("embed", "--store", cli_store.url, "--graph", "clipair", "--labels", "Artist",
                 "--write-vectors", "--no-progress")
    assert f"Artist {lastfm_pair_kg.num_nodes('Artist'):,}" in out
    rows = cli_store.query("MATCH (a:Artist) WHERE a.embedding IS NOT NULL RETURN count(a)", graph="clipair")
    assert rows.scalar() == lastfm_pair_kg.num_nodes("Artist")


def test_profile_computes_writes_then_reads_interest_tags(cli_store, lastfm_taste_users):
    metal_user, _ = lastfm_taste_users
    out = invoke("profile", metal_user, "--store", cli_store.url, "--graph", "clipair", "--k", "5", "--json",
                 "--no-progress")
    tags = json.loads(out)["interest_tags"]
    assert len(tags) == 5 and all("metal" in t["name"].lower() or t["label"] == "DbpediaEntity" for t in tags[:3])
    stored = cli_store.query("MATCH (:User {id: $u})-[r:INTERESTED_IN]->() RETURN count(r)", {"u": metal_user},
                             graph="clipair").scalar()
    assert stored == 5
    # second call: read from the store (same answer), printed for people
    text = invoke("profile", metal_user, "--store", cli_store.url, "--graph", "clipair", "--k", "5")
    assert f"Interest tags of user {metal_user}:" in text
    assert tags[0]["name"] in text.splitlines()[1]


def test_profile_of_an_unknown_user_is_an_error(cli_store):
    from kgrec.errors import UnknownUserError

    with pytest.raises(UnknownUserError):
        runner.invoke(app, ["profile", "nobody", "--store", cli_store.url, "--graph", "clipair", "--no-progress"],
                      catch_exceptions=False)
