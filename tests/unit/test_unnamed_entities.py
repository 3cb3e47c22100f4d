"""Entities whose only name is a machine id get no text from that id (issue 16).

The graph is the real ml-latest-small with its genres and tags renamed to Freebase-like ids
(``m.0abc12``, as ``benchmarks/crossval.py`` builds its ``movielens-opaque`` variant): a proxy of a
Freebase KG whose entities have no readable names.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from kgrec.text.documents import display_names, is_opaque_name, node_documents

CROSSVAL = Path(__file__).resolve().parents[2] / "benchmarks" / "crossval.py"
MID = re.compile(r"m\.0[0-9a-z_]{5}")


@pytest.fixture(scope="module")
def crossval():
    spec = importlib.util.spec_from_file_location("kgrec_bench_crossval", CROSSVAL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def opaque_kg(crossval, movielens_kg):
    return crossval.make_opaque(movielens_kg, ["Genre", "Tag"], name="movielens-opaque")


@pytest.mark.parametrize("name, node_id, opaque", [
    ("m.0abc12", None, True), ("/m/0abc12", None, True), ("g.11b6vz", "x", True),
    ("123e4567-e89b-12d3-a456-426614174000", None, True),
    ("satori:2086", "satori:2086", True), ("Q42", "Q42", True), ("deadbeef12", "deadbeef12", True),
    ("1984", "1984", True),
    ("1984", "m1", False), ("U2", "U2", False), ("Blink-182", "Blink-182", False), ("Q42", None, False),
    ("Opeth", "opeth", False), ("progressive metal", None, False),
])
def test_machine_ids_are_not_names(name, node_id, opaque):
    assert is_opaque_name(name, node_id) is opaque


def test_opaque_entities_have_no_readable_name(opaque_kg):
    for label in ("Genre", "Tag"):
        ids = opaque_kg.nodes[label]["id"]
        assert ids.str.match(MID.pattern).all()          # the variant really is opaque
        assert display_names(opaque_kg, label).isna().all()
    # movies keep their titles
    assert display_names(opaque_kg, "Movie").notna().mean() > 0.99


def test_no_document_carries_an_id_string(opaque_kg):
    docs = node_documents(opaque_kg, labels=["Movie", "Genre", "Tag"])
    for label, texts in docs.items():
        leaked = [t for t in texts if MID.search(t)]
        assert not leaked, f"{label}: {len(leaked)} documents name an opaque id, e.g. {leaked[0]!r}"
    # an unnamed genre is described by what it links to: the movies that have it
    genre = docs["Genre"]
    assert all(t.startswith("entity: ") for t in genre)
    assert sum("genres of" in t for t in genre) >= len(genre) - 1     # "(no genres listed)" may link none


def test_the_readable_graph_is_unchanged(movielens_kg):
    names = display_names(movielens_kg, "Genre")
    assert names.notna().all() and "Comedy" in set(names)
