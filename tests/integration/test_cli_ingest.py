"""`kgrec ingest` and `kgrec datasets` on a real embedded store: the --columns mapping, non-ASCII
relation names kept apart with their text, the id rule, how relations read (phrases, symmetry,
quoted labels) surviving the store, "did you mean" and generated datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.cli.kg import parse_columns
from kgrec.errors import InputError
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore

REPO = Path(__file__).resolve().parents[2]
_register()
runner = CliRunner()


def kgrec(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def url(tmp_path):
    url = f"embedded:{tmp_path / 'store'}"
    yield url
    EmbeddedStore(url).stop()


def test_columns_map_other_header_names(tmp_path, url):
    ratings = tmp_path / "ratings.tsv"
    ratings.write_text("userId\tmovieId\tstars\nA\t1\t2.5\nB\t1\t4\nB\t2\t3\n", encoding="utf-8")
    refused = kgrec("ingest", "--interactions", ratings, "--store", url, "--graph", "mapped", "--no-progress")
    assert refused.exit_code == 1 and "missing column 'user_id'" in str(refused.exception)
    result = kgrec("ingest", "--interactions", ratings, "--columns", "user_id=userId,item_id=movieId",
                   "--columns", "rating=stars", "--store", url, "--graph", "mapped", "--no-progress")
    assert result.exit_code == 0, (result.output, result.exception)
    with open_store(url, graph="mapped") as store:
        kg = store.read()
    assert sorted(kg.users["id"]) == ["A", "B"]
    assert sorted(float(r) for r in kg.interactions["rating"]) == [2.5, 3.0, 4.0]
    assert "--columns" in kgrec("ingest", "--help").output


def test_parse_columns():
    assert parse_columns(["user_id=userId, item_id = movieId", "rating=stars"]) == {
        "user_id": "userId", "item_id": "movieId", "rating": "stars"}
    for bad in (["user_id"], ["=x"], ["user_id="], ["user_id=a", "user_id=b"]):
        with pytest.raises(InputError):
            parse_columns(bad)


def test_non_ascii_relations_and_invisible_ids_through_the_store(tmp_path, url):
    folder = tmp_path / "films"
    folder.mkdir()
    (folder / "interactions.csv").write_text("user_id,item_id\n2,f1\n\ufeff2,f2\nu\u200b3,f1\n", encoding="utf-8")
    (folder / "triples.csv").write_text("head,relation,tail\nf1,导演,Zhang\nf1,主演,Gong\nf2,导演,Zhang\n",
                                        encoding="utf-8")
    result = kgrec("ingest", folder, "--store", url, "--no-progress")
    assert result.exit_code == 0, (result.output, result.exception)
    with open_store(url, graph="films") as store:
        kg = store.read()
    assert sorted(kg.users["id"]) == ["2", "u3"]  # '\ufeff2' is user 2, 'u\u200b3' is u3
    director = kg.schema.relation(("Item", "R_5BFC_6F14", "Entity"))
    actor = kg.schema.relation(("Item", "R_4E3B_6F14", "Entity"))
    assert (director.description, actor.description) == ("导演", "主演")
    assert director.phrases[1] == "has the 导演"
    assert sorted(kg.edges[("Item", "R_5BFC_6F14", "Entity")]["src"]) == ["f1", "f2"]
    assert list(kg.edges[("Item", "R_4E3B_6F14", "Entity")]["dst"]) == ["Gong"]


def test_lastfm_relations_read_as_their_source_declares_through_the_store(lastfm_small_kg, url):
    with open_store(url) as store:
        store.write(lastfm_small_kg, graph="lastfm")
        schema = store.read(graph="lastfm").schema
    friends = schema.relation(("User", "FRIEND_OF", "User"))
    assert friends.symmetric and friends.phrase("out", you=False) == "is friends with"
    assert schema.relation(("User", "LISTENED_TO", "Artist")).phrases == (
        "listen to", "listens to", "are listened to by", "is listened to by")
    assert schema.relation(("Artist", "HAS_TAG", "Tag")).phrase("in", you=False) == "is a tag of"
    assert schema.node("Tag").quoted and not schema.node("Artist").quoted
    genre = next(r for r in schema.relations if r.name == "DBO_GENRE")
    assert genre.phrase("out", you=False) == "has the genre"  # no 'dbo' in the sentence
    assert schema.to_dict() == lastfm_small_kg.schema.to_dict()  # nothing lost on the way


def test_datasets_says_which_are_generated():
    text = kgrec("datasets").output
    block = text[text.index("synthetic"):]
    assert "generated on demand" in block and "downloaded" not in block
    rows = {d["name"]: d for d in json.loads(kgrec("datasets", "--json").output)}
    assert rows["synthetic"]["availability"] == "generated" and rows["synthetic"]["generated"] is True
    assert rows["lastfm"]["availability"] in ("local", "download") and rows["lastfm"]["generated"] is False


def test_an_unknown_dataset_gets_a_did_you_mean_from_the_real_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-c", "from kgrec.cli import main; main()", "ingest", "movielens-smal",
                           "--store", f"embedded:{tmp_path}"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 1
    assert "error: unknown dataset 'movielens-smal'; did you mean 'movielens-small'?" in done.stderr
