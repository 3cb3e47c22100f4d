"""Reading a delimited file in chunks (kgrec.kg.sources.chunks): the same table and the same errors,
with the same lines, as reading it whole, for every chunk size; quoted fields that span lines are
never cut; a lone quote cannot hold a chunk open."""

from __future__ import annotations

import pandas as pd
import pytest

from kgrec.errors import InputError
from kgrec.kg.sources import _io
from kgrec.kg.sources.chunks import read_table_chunks

TABLES = {
    "plain": "user_id,item_id,rating\n" + "".join(f"u{i},i{i % 7},{i % 5}\n" for i in range(23)),
    "quoted": "a,b\n" + "".join(f'x{i},"multi\nline {i}"\n' if i % 3 == 0 else f'x{i},"q ""{i}"" ok"\n'
                                for i in range(20)),
    "blank_lines": "a,b\n\n1,2\n\n\n3,4\n\n5,6\n",
    "crlf_no_final_newline": "a,b\r\n1,2\r\n3,4\r\n5,6",
    "bom": "\ufeffa,b\n1,2\n3,4\n",
    "lone_quote": 'a,b\nx"y,1\n2,3\n4,5\n6,7\n',
    "header_only": "a,b\n",
    "utf8": "a,b\né,中文\n😀,x\n",
}

ERRORS = {
    "short_row": "a,b,c\n1,2,3\n4,5,6\n7,8\n9,1,2\n",
    "long_row": "a,b\n1,2\n3,4\n5,6,7\n8,9\n",
    "repeated_header": "a,a\n1,2\n",
    "empty": "",
    "blank_header": "\n1,2\n",
    "bad_byte": "a,b\n1,2\n3,4\n\udcff,5\n",
}


@pytest.mark.parametrize("name", TABLES)
@pytest.mark.parametrize("rows", [1, 2, 3, 5, 1000])
def test_chunks_add_up_to_the_whole_table(tmp_path, name, rows):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(TABLES[name].encode("utf-8"))
    whole = _io.read_table(path)
    chunks = list(read_table_chunks(path, chunk_rows=rows))
    assert len(chunks) >= 1 and all(len(c) for c in chunks[1:])
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole, check_dtype=False)


@pytest.mark.parametrize("name", ERRORS)
@pytest.mark.parametrize("rows", [1, 2, 1000])
def test_errors_are_the_errors_of_a_whole_read(tmp_path, name, rows):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(ERRORS[name].encode("utf-8", errors="surrogateescape"))
    with pytest.raises(InputError) as whole:
        _io.read_table(path)
    with pytest.raises(InputError) as chunked:
        list(read_table_chunks(path, chunk_rows=rows))
    assert str(chunked.value) == str(whole.value)
    assert chunked.value.line == whole.value.line is not None


def test_a_late_error_names_its_line_in_the_file(tmp_path):
    path = tmp_path / "big.csv"
    rows = [f"u{i},i{i}\n" for i in range(10_000)]
    rows[7_776] = "u,i,extra\n"  # line 7,778 (the header is line 1)
    path.write_text("user_id,item_id\n" + "".join(rows), encoding="utf-8")
    chunks = read_table_chunks(path, chunk_rows=1000)
    got = [next(chunks) for _ in range(7)]
    assert got[-1]["_line"].tolist() == list(range(6002, 7002))
    with pytest.raises(InputError, match=r"big.csv:7778: expected 2 fields, saw 3"):
        next(chunks)


def test_a_quoted_field_over_a_chunk_end_stays_whole(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,text\n1,a\n2,"one\ntwo\nthree"\n3,b\n', encoding="utf-8")
    chunks = list(read_table_chunks(path, chunk_rows=2))  # the plain cut would fall inside row 2's field
    assert [c["_line"].tolist() for c in chunks] == [[2, 3], [6]]
    assert chunks[0]["text"].tolist() == ["a", "one\ntwo\nthree"]


def test_memory_holds_a_chunk_not_the_file(tmp_path, monkeypatch):
    import kgrec.kg.sources.chunks as module

    path = tmp_path / "many.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(50_000)), encoding="utf-8")
    monkeypatch.setattr(module, "_READ_BYTES", 4096)
    seen = []
    original = module.parse_table

    def spy(raw, *args, **kwargs):
        seen.append(len(raw))
        return original(raw, *args, **kwargs)

    monkeypatch.setattr(module, "parse_table", spy)
    total = sum(len(c) for c in read_table_chunks(path, chunk_rows=500))
    assert total == 50_000
    assert max(seen) < 10_000 < path.stat().st_size // 20

