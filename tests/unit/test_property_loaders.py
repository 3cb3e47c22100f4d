"""Property-based tests (hypothesis) of the generic CSV/TSV loader.

- Round trip: any set of interactions (ids with commas, quotes, tabs, unicode, RTL marks, emoji),
  written as CSV or TSV by the standard ``csv`` module, loads back as exactly those pairs, ratings
  and items.
- Robustness: any bytes at all in an interactions / items / triples file either load as a valid
  graph whose ids are in the clean form of :mod:`kgrec.kg.ids`, or raise an :class:`InputError`
  that names one of the files given; never another exception.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kgrec.errors import InputError, KgrecError
from kgrec.kg.ids import clean_id
from kgrec.kg.sources import load_dataset

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])

# ids: printable text (no control characters: the loader refuses NUL; CR/LF inside a field are
# legal CSV but ids with line breaks are not ids), format characters included, never empty once
# clean; the loader keeps each id in its clean form (kgrec.kg.ids), so two spellings of one clean
# id are one id
_id_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x00")
ids = st.text(_id_chars, min_size=1, max_size=24).filter(lambda s: clean_id(s) != "")
pairs = st.lists(st.tuples(ids, ids, st.integers(min_value=1, max_value=5)), min_size=1, max_size=40,
                 unique_by=lambda t: (clean_id(t[0]), clean_id(t[1])))


def _write(path: Path, header: list[str], rows: list[tuple], delimiter: str) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


@SETTINGS
@given(rows=pairs, delimiter=st.sampled_from([",", "\t"]))
def test_generic_interactions_round_trip(rows, delimiter, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rt")
    path = folder / ("interactions.csv" if delimiter == "," else "interactions.tsv")
    _write(path, ["user_id", "item_id", "rating"], rows, delimiter)
    kg = load_dataset("generic", interactions=path)
    kg.validate()
    inter = kg.interactions
    got = {(str(s), str(d), float(r)) for s, d, r in zip(inter["src"], inter["dst"], inter["rating"])}
    assert got == {(clean_id(u), clean_id(i), float(r)) for u, i, r in rows}
    assert set(kg.nodes[kg.schema.user_label]["id"].astype(str)) == {clean_id(u) for u, _, _ in rows}
    assert set(kg.nodes[kg.schema.item_label]["id"].astype(str)) == {clean_id(i) for _, i, _ in rows}


@SETTINGS
@given(rows=pairs, names=st.lists(st.text(_id_chars, min_size=1, max_size=40).map(str.strip).filter(bool),
                                  min_size=40, max_size=40))
def test_generic_items_names_round_trip(rows, names, tmp_path_factory):
    folder = tmp_path_factory.mktemp("items")
    _write(folder / "interactions.csv", ["user_id", "item_id"], [(u, i) for u, i, _ in rows], ",")
    items = sorted({clean_id(i) for _, i, _ in rows})
    named = dict(zip(items, names))
    _write(folder / "items.csv", ["item_id", "name"], list(named.items()), ",")
    kg = load_dataset("generic", interactions=folder / "interactions.csv", items=folder / "items.csv")
    table = kg.nodes[kg.schema.item_label]
    assert dict(zip(table["id"].astype(str), table["name"].astype(str))) == named  # names load verbatim


@SETTINGS
@given(data=st.binary(max_size=600), role=st.sampled_from(["interactions", "items", "triples"]),
       suffix=st.sampled_from([".csv", ".tsv", ".txt"]))
def test_any_bytes_load_or_raise_a_kgrec_error(data, role, suffix, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bytes")
    good = folder / "good.csv"
    good.write_text("user_id,item_id\nu1,i1\nu2,i2\n", encoding="utf-8")
    path = folder / f"{role}{suffix}"
    path.write_bytes(data)
    options = {"interactions": path} if role == "interactions" else {"interactions": good, role: path}
    try:
        kg = load_dataset("generic", **options)
    except InputError as e:
        assert e.path in (str(path), str(good)), e  # the message names the file at fault
        return
    _assert_clean(kg)


def _assert_clean(kg) -> None:
    """What loads is a valid graph whose every node id is non-empty and in its clean form."""
    kg.validate()
    for label, table in kg.nodes.items():
        for value in table["id"].astype(str):
            assert value and clean_id(value) == value, (label, value)


@SETTINGS
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=400),
       header=st.sampled_from(["user_id,item_id,rating\n", "user_id\titem_id\n", "head,relation,tail\n", ""]))
def test_any_text_after_a_header_loads_or_raises_a_kgrec_error(text, header, tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    path = folder / "interactions.csv"
    path.write_text(header + text, encoding="utf-8")
    assume(path.stat().st_size > 0)
    try:
        kg = load_dataset("generic", interactions=path)
    except InputError as e:
        assert e.path == str(path), e
        return
    _assert_clean(kg)
    rows = (header + text).count("\n") + (header + text).count("\r") + 1  # at least one line per row
    assert 1 <= kg.num_edges(kg.schema.interaction) <= rows


def test_a_missing_file_is_an_input_error_naming_it():
    missing = Path("/nonexistent/interactions.csv")
    with pytest.raises(KgrecError, match=r"/nonexistent/interactions\.csv: no such file"):
        load_dataset("generic", interactions=missing)
