"""Property tests of the generic loader: valid CSVs round-trip, garbage only ever raises InputError."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgrec.errors import InputError
from kgrec.kg.ids import clean_id
from kgrec.kg.sources import load_generic

# ids: printable text without control/line-separator characters, with format characters (U+FEFF,
# U+200B ...) and surrounding blanks that the id rule removes; never an id that is empty once clean
_id_chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn"))
ids = st.text(_id_chars, min_size=1, max_size=12).filter(lambda s: clean_id(s) != "")
rows = st.lists(st.tuples(ids, ids, st.one_of(st.none(), st.floats(-10, 10, allow_nan=False).map(lambda x: round(x, 3)))),
                min_size=1, max_size=40)

pytestmark = pytest.mark.filterwarnings("error")  # a parser warning would mean data lost silently

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _write(rows_, delimiter: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="kgrec-prop-"))
    path = folder / ("interactions.tsv" if delimiter == "\t" else "interactions.csv")
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["user_id", "item_id", "rating"])
    for user, item, rating in rows_:
        writer.writerow([user, item, "" if rating is None else repr(rating)])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@SETTINGS
@given(rows=rows, delimiter=st.sampled_from([",", "\t"]))
def test_valid_csv_round_trips_counts_and_values(rows, delimiter):
    path = _write(rows, delimiter)
    kg = load_generic(path, on_duplicate="first")
    first: dict[tuple[str, str], float | None] = {}
    for user, item, rating in rows:  # the loader keeps ids in their clean form (kgrec.kg.ids)
        first.setdefault((clean_id(user), clean_id(item)), rating)
    assert kg.num_edges(kg.schema.interaction) == len(first)
    assert set(kg.users["id"]) == {u for u, _ in first}
    assert set(kg.items["id"]) == {i for _, i in first}
    loaded = {(s, d): (None if pd.isna(r) else float(r))
              for s, d, r in zip(kg.interactions["src"], kg.interactions["dst"],
                                 kg.interactions["rating"].astype(object))}
    assert loaded == {k: (None if v is None else float(v)) for k, v in first.items()}


@SETTINGS
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash_with_anything_but_input_error(data):
    folder = Path(tempfile.mkdtemp(prefix="kgrec-prop-"))
    path = folder / "interactions.csv"
    path.write_bytes(b"user_id,item_id\n" + data)
    try:
        kg = load_generic(path)
    except InputError as e:
        assert e.path == str(path)
    else:
        assert kg.num_edges(kg.schema.interaction) >= 1


@SETTINGS
@given(text=st.text(st.sampled_from(list("ab,\"\t\r\n \\'x1.") + ["\x00", "é"]), max_size=200),
       header=st.sampled_from(["user_id,item_id", "user_id,item_id,rating", "user_id\titem_id\ttimestamp", ""]))
def test_random_delimited_text_never_crashes_with_anything_but_input_error(text, header):
    folder = Path(tempfile.mkdtemp(prefix="kgrec-prop-"))
    path = folder / "interactions.csv"
    path.write_text(header + "\n" + text, encoding="utf-8")
    items = folder / "items.csv"
    items.write_text("item_id,name,genre\n" + text, encoding="utf-8")
    try:
        load_generic(path)
        load_generic(path, items=items, on_duplicate="last")
    except InputError as e:
        assert e.path in (str(path), str(items)), e  # the file at fault, by name
