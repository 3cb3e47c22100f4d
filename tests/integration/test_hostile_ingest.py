"""Hostile input at ingest (issue 14, B7-B11 and A6): every attack class through the Python API
(``load_dataset`` then ``store.write``) and through the CLI (``kgrec ingest``), each refused with an
error that names the file (and the line where there is one), and each leaving the store exactly as
it was: the server-side fingerprint of :mod:`test_reliability_hostile` (counts, sums over every id,
name and property, the meta node, the append-only file's size) and the sha256 of every persistence
file (the AOF base, its increments, its manifest, any RDB).

The store holds a real graph (``lastfm_small_kg``: Last.fm seen from 60 users) in an embedded
FalkorDB of its own.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.errors import DatasetNotFoundError, InputError, KgrecError
from kgrec.kg.sources import load_dataset
from kgrec.kg.sources._io import MAX_CELL_VALUES, MAX_FIELD_LENGTH
from kgrec.kg.stores import open_store
from tests.integration.test_reliability_hostile import fingerprint

_register()
runner = CliRunner()
pytestmark = pytest.mark.timeout(120)  # a FIFO that hung the reader would fail here, not hang the run


@dataclass
class Env:
    store: Any
    url: str
    graph: str
    files: Path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


INTER = "user_id,item_id\nu1,i1\nu2,i2\n"


def _files(root: Path) -> None:
    """One folder per attack, each a generic dataset (interactions.csv [items.csv] [triples.csv])."""
    w = _write
    w(root / "dup_header_genre/interactions.csv", INTER)
    w(root / "dup_header_genre/items.csv", "item_id,genre,genre\ni1,Drama,Comedy\ni2,Drama,Horror\n")
    w(root / "dup_header_user/interactions.csv", "user_id,item_id,user_id\nu1,i1,u9\n")
    w(root / "header_spaces/interactions.csv", "user_id, item_id ,user_id \nu1,i1,u2\n")
    w(root / "blank_header/interactions.csv", "user_id,,item_id\nu1,x,i1\n")
    w(root / "mapped_onto_taken/interactions.csv", "userId,user_id,item_id\nu1,u2,i1\n")
    w(root / "relation_collision/interactions.csv", INTER)
    w(root / "relation_collision/triples.csv", "head,relation,tail\ni1,film.genre,x\ni2,film_genre,y\n")
    w(root / "non_ascii_collision/interactions.csv", INTER)
    w(root / "non_ascii_collision/triples.csv", "head,relation,tail\ni1,Café,x\ni2,cafe,y\n")
    w(root / "invisible_only_id/interactions.csv", "user_id,item_id\nu1,i1\n\ufeff\u200b\u2060,i2\n")
    w(root / "invisible_only_head/interactions.csv", INTER)
    w(root / "invisible_only_head/triples.csv", "head,relation,tail\ni1,r,x\n\u200d,r,y\n")
    w(root / "short_row/interactions.csv", "user_id,item_id,rating\nu1,i1,3\nu3,i2\n")
    w(root / "huge_field/interactions.csv", INTER)
    w(root / "huge_field/items.csv", "item_id,name\ni1,One\ni2," + "n" * (MAX_FIELD_LENGTH + 10) + "\n")
    w(root / "huge_cell/interactions.csv", INTER)
    w(root / "huge_cell/items.csv", "item_id,tag\ni1,a\ni2," + "|".join(f"t{k}" for k in range(5 * MAX_CELL_VALUES))
      + "\n")
    w(root / "nul_attribute/interactions.csv", INTER)
    w(root / "nul_attribute/items.csv", "item_id,genre\ni1,Drama\ni2,Gen\x00re\n")
    w(root / "reserved_label/interactions.csv", INTER)
    w(root / "reserved_label/triples.csv", "head,relation,tail,tail_label\ni1,r,x,Thing\ni2,r,y,KgrecMeta\n")
    w(root / "relation_interacted/interactions.csv", INTER)
    w(root / "relation_interacted/triples.csv", "head,relation,tail,head_label,tail_label\nu1,interacted,i2,User,Item\n")
    # not regular files
    w(root / "fifo_interactions/placeholder.txt", "")
    os.mkfifo(root / "fifo_interactions/interactions.csv")
    w(root / "fifo_items/interactions.csv", INTER)
    os.mkfifo(root / "fifo_items/items.csv")
    w(root / "dev_zero_link/interactions.csv", INTER)
    (root / "dev_zero_link/triples.csv").symlink_to("/dev/zero")
    (root / "directory_as_file/interactions.csv").mkdir(parents=True)
    # RecBole atomic files
    w(root / "recbole_cell/rb.inter", "user_id:token\titem_id:token\n1\t10\n")
    w(root / "recbole_cell/rb.item", "item_id:token\tclass:token_seq\n10\t" + " ".join(["c"] * 2000) + "\n")
    os.mkfifo(root / "recbole_fifo.inter")
    (root / "recbole_fifo").mkdir()
    os.mkfifo(root / "recbole_fifo/rb.inter")


@pytest.fixture(scope="module")
def env(lastfm_small_kg, tmp_path_factory):
    folder = tempfile.mkdtemp(prefix="kgrec-hostile-ingest-", dir="/tmp")
    url = f"embedded:{folder}"
    store = open_store(url)
    store.write(lastfm_small_kg, graph=lastfm_small_kg.name)
    files = tmp_path_factory.mktemp("hostile_ingest")
    _files(files)
    try:
        yield Env(store, url, lastfm_small_kg.name, files)
    finally:
        store.stop()
        shutil.rmtree(folder, ignore_errors=True)


def persistence(env: Env) -> dict[str, str]:
    """sha256 of every persistence file of the store (AOF base, increments, manifest, RDB)."""
    out = {}
    for path in sorted(Path(env.store.data_dir).rglob("*")):
        if path.is_file() and (path.suffix in (".aof", ".rdb", ".manifest") or ".aof." in path.name):
            out[str(path.relative_to(env.store.data_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


# -- channels ------------------------------------------------------------------------------------
def api(case: str, *, items: bool = False, triples: bool = False, folder: bool = False,
        **options) -> Callable[[Env], Any]:
    """``load_dataset`` on one attack's files, then (were it to load) a write to the store."""
    def call(env: Env):
        base = env.files / case
        if folder:
            kg = load_dataset(base, **options)
        else:
            kw = {"interactions": base / "interactions.csv", **options}
            if items:
                kw["items"] = base / "items.csv"
            if triples:
                kw["triples"] = base / "triples.csv"
            kg = load_dataset("generic", **kw)
        env.store.write(kg, graph=env.graph)
    return call


def cli(case: str, *, items: bool = False, triples: bool = False, folder: bool = False,
        args: tuple[str, ...] = ()) -> Callable[[Env], Any]:
    """``kgrec ingest`` on one attack's files into the store's graph."""
    def call(env: Env):
        base = env.files / case
        if folder:
            argv = ["ingest", str(base)]
        else:
            argv = ["ingest", "--interactions", str(base / "interactions.csv")]
            if items:
                argv += ["--items", str(base / "items.csv")]
            if triples:
                argv += ["--triples", str(base / "triples.csv")]
        result = runner.invoke(app, [*argv, *args, "--store", env.url, "--graph", env.graph, "--no-progress"])
        assert result.exit_code == 1, (result.exit_code, result.output[-500:])
        raise result.exception
    return call


@dataclass(frozen=True)
class Case:
    name: str
    attack: str  # the attack class
    call: Callable[[Env], Any]
    error: type[KgrecError]
    message: str  # a regex the message must match: the file (and line) and what was wrong


def both(name: str, attack: str, error: type[KgrecError], message: str, **kw) -> list[Case]:
    """The same attack through the Python API and the CLI."""
    cli_kw = {k: v for k, v in kw.items() if k in ("items", "triples", "folder")}
    if "columns" in kw:
        cli_kw["args"] = ("--columns", ",".join(f"{k}={v}" for k, v in kw["columns"].items()))
    return [Case(f"api-{name}", attack, api(name, **kw), error, message),
            Case(f"cli-{name}", attack, cli(name, **cli_kw), error, message)]


CASES: list[Case] = [
    *both("dup_header_genre", "duplicate header", InputError,
          r"items\.csv:1: the header names column 'genre' twice", items=True),
    *both("dup_header_user", "duplicate header", InputError,
          r"interactions\.csv:1: the header names column 'user_id' twice"),
    *both("header_spaces", "header spaces", InputError,
          r"interactions\.csv:1: the header names column 'user_id' twice"),
    *both("blank_header", "header spaces", InputError, r"interactions\.csv:1: field 2 of the header is blank"),
    *both("mapped_onto_taken", "duplicate header", InputError,
          r"interactions\.csv:1: column 'userId' is mapped to 'user_id', but the header has", columns={"user_id": "userId"}),
    *both("relation_collision", "relation collision", InputError,
          r"triples\.csv:3: relation 'film_genre' and relation 'film\.genre' \(line 2\) both become FILM_GENRE",
          triples=True),
    *both("non_ascii_collision", "non-ASCII relation collision", InputError,
          r"triples\.csv:3: relation 'cafe' and relation 'Café' \(line 2\) both become CAFE", triples=True),
    *both("invisible_only_id", "invisible characters", InputError,
          r"interactions\.csv:3: empty user_id \('\\ufeff\\u200b\\u2060' holds only blanks and invisible"),
    *both("invisible_only_head", "invisible characters", InputError, r"triples\.csv:3: empty head", triples=True),
    *both("short_row", "short row", InputError, r"interactions\.csv:3: expected 3 fields, saw 2"),
    *both("huge_field", "huge field", InputError,
          rf"items\.csv:3: name is {MAX_FIELD_LENGTH + 10} characters long; at most {MAX_FIELD_LENGTH} allowed",
          items=True),
    *both("huge_cell", "huge multi-valued cell", InputError,
          rf"items\.csv:3: column 'tag': a cell holds {5 * MAX_CELL_VALUES:,} values", items=True),
    *both("nul_attribute", "NUL", InputError, r"items\.csv:3: column 'genre' value 'Gen\\x00re' contains a NUL",
          items=True),
    *both("reserved_label", "reserved label", InputError,
          r"triples\.csv:3: tail_label 'KgrecMeta': label 'KgrecMeta' is reserved", triples=True),
    *both("relation_interacted", "relation colliding with the interaction", InputError,
          r"triples\.csv:2: relation 'interacted' from User to Item becomes INTERACTED, the relation type of the "
          r"interactions", triples=True),
    *both("fifo_interactions", "FIFO", InputError, r"interactions\.csv: is a FIFO \(named pipe\)"),
    *both("fifo_items", "FIFO", InputError, r"items\.csv: is a FIFO", folder=True),
    *both("dev_zero_link", "/dev/zero", InputError, r"triples\.csv: is a character device", triples=True),
    *both("directory_as_file", "directory as a file", InputError, r"interactions\.csv: is a directory, expected a file"),
    *both("recbole_cell", "huge multi-valued cell", InputError,
          r"rb\.item:2: column 'class': a cell holds 2,000 values", folder=True),
    *both("recbole_fifo", "FIFO", InputError, r"rb\.inter: is a FIFO", folder=True),
    Case("api-dev-zero", "/dev/zero", lambda e: load_dataset("generic", interactions="/dev/zero"), InputError,
         r"/dev/zero: is a character device, only regular files are read"),
    Case("cli-dev-zero", "/dev/zero", lambda e: _cli_raise(["ingest", "--interactions", "/dev/zero",
                                                            "--store", e.url, "--graph", e.graph]),
         InputError, r"/dev/zero: is a character device"),
    Case("api-fifo-file-as-dataset", "FIFO", lambda e: load_dataset(str(e.files / "recbole_fifo.inter")), InputError,
         r"recbole_fifo\.inter: is a FIFO"),
    Case("cli-unknown-dataset", "unknown name", lambda e: _cli_raise(["ingest", "lastfn", "--store", e.url]),
         DatasetNotFoundError, r"unknown dataset 'lastfn'; did you mean 'lastfm'\?"),
]


def _cli_raise(argv: list[str]):
    result = runner.invoke(app, [*argv, "--no-progress"])
    assert result.exit_code == 1, (result.exit_code, result.output[-500:])
    raise result.exception


def test_the_corpus_covers_every_attack_class_through_both_channels():
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)
    attacks = {c.attack for c in CASES}
    assert {"duplicate header", "header spaces", "relation collision", "non-ASCII relation collision",
            "invisible characters", "FIFO", "/dev/zero", "huge field", "huge multi-valued cell", "short row",
            "NUL", "reserved label", "relation colliding with the interaction"} <= attacks
    for attack in attacks - {"unknown name"}:
        channels = {c.name.split("-", 1)[0] for c in CASES if c.attack == attack}
        assert channels == {"api", "cli"}, attack


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_ingest_is_refused_and_changes_nothing(case: Case, env: Env):
    before, files = fingerprint(env), persistence(env)
    assert files, "no persistence file found: the check would be empty"
    with pytest.raises(case.error) as info:
        case.call(env)
    assert re.search(case.message, str(info.value)), str(info.value)
    assert fingerprint(env) == before, f"{case.name} changed the store"
    assert persistence(env) == files, f"{case.name} changed a persistence file"
