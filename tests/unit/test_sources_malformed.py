"""The malformed-input corpus: every case raises exactly InputError naming the file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kgrec.errors import InputError
from kgrec.kg.sources import load_dataset
from tests.fixtures.kg import CYPHER_NAMES, CYPHER_TEXT, MALFORMED, MALFORMED_CASES


def test_corpus_is_large_and_every_folder_is_used():
    assert len(MALFORMED_CASES) >= 15
    used = set()
    for _, kwargs, _ in MALFORMED_CASES:
        for value in kwargs.values():
            if isinstance(value, Path):
                used.add(value.relative_to(MALFORMED).parts[0])
    folders = {p.name for p in MALFORMED.iterdir() if p.is_dir()}
    assert folders == used, f"corpus folders without a case: {sorted(folders - used)}"


@pytest.mark.parametrize(("case", "kwargs", "pattern"), MALFORMED_CASES, ids=[c[0] for c in MALFORMED_CASES])
def test_malformed_input_is_refused_with_file_and_line(case, kwargs, pattern):
    with pytest.raises(InputError) as info:
        load_dataset(**kwargs)
    err = info.value
    assert type(err) is InputError, f"{case}: expected exactly InputError, got {type(err).__name__}"
    assert re.search(pattern, str(err)), f"{case}: {str(err)!r} does not match {pattern!r}"
    # the message starts with the file and the line, and the error carries both
    assert err.path is not None and Path(err.path).parent.name == case
    assert isinstance(err.line, int) and err.line >= 1
    assert str(err).startswith(f"{err.path}:{err.line}: ")


def test_cypher_looking_values_are_legal_data_and_load_verbatim():
    kg = load_dataset(CYPHER_NAMES)
    users = set(kg.users["id"])
    assert CYPHER_TEXT in users  # as a user id
    items = kg.items.set_index("id")
    assert items.loc["i1", "name"] == CYPHER_TEXT  # as a name
    assert items.loc[CYPHER_TEXT, "name"] == "Robert'); DROP TABLE items;--"  # as an item id
    assert items.loc["i1", "text"] == 'MATCH (n) DETACH DELETE n; CALL db.clear() "quoted" `tick` $param'
    assert CYPHER_TEXT in set(kg.nodes["Genre"]["id"])  # as an attribute value
    entities = set(kg.nodes["Entity"]["id"])
    assert CYPHER_TEXT + " }]->(m) SET m.x=1" in entities
    assert ("Item", "DIRECTED_BY", "Entity") in kg.edges


def test_cypher_looking_relation_text_becomes_a_safe_identifier(tmp_path):
    (tmp_path / "interactions.csv").write_text("user_id,item_id\nu1,i1\n")
    (tmp_path / "triples.csv").write_text("head,relation,tail\ni1,\"x]->() DETACH DELETE n //\",e1\n")
    kg = load_dataset(tmp_path)
    (edge_type,) = [et for et in kg.edges if et[0] == "Item"]
    assert edge_type[1] == "X_DETACH_DELETE_N"
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", edge_type[1])
