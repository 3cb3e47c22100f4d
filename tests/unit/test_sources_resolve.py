"""Finding dataset files: KGREC_DATA_HOME, then the user cache, then a checked download.

There is no internet here: the download path is exercised with ``file://`` URLs, which urllib
serves through the same code (stream to a staging folder, extract, sha256, move into place).
"""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from kgrec.config import kgrec_home
from kgrec.errors import DatasetNotFoundError
from kgrec.kg.sources import load_dataset
from kgrec.kg.sources.resolve import FolderSpec, locate


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


A, B = b"user_id,item_id\nu1,i1\n", b"item_id,name\ni1,One\n"


@pytest.fixture
def no_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KGREC_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("KGREC_HOME", str(tmp_path / "home"))
    return tmp_path


def spec(**kw) -> FolderSpec:
    return FolderSpec(folder="tiny", files={"a.csv": sha(A), "sub/b.csv": sha(B)}, homepage="https://example.org", **kw)


def test_data_home_comes_before_the_cache(no_data_home):
    for root in (no_data_home / "data", kgrec_home() / "datasets"):
        (root / "tiny" / "sub").mkdir(parents=True)
        (root / "tiny" / "a.csv").write_bytes(A)
        (root / "tiny" / "sub" / "b.csv").write_bytes(B)
    assert locate(spec(), download=False) == no_data_home / "data" / "tiny"
    (no_data_home / "data" / "tiny" / "a.csv").unlink()  # incomplete: the cache is next
    assert locate(spec(), download=False) == kgrec_home() / "datasets" / "tiny"


def test_missing_offline_says_where_to_put_the_files(no_data_home):
    with pytest.raises(DatasetNotFoundError) as info:
        locate(spec(), download=False)
    message = str(info.value)
    assert "a.csv, sub/b.csv" in message
    assert str(no_data_home / "data" / "tiny") in message
    assert str(kgrec_home() / "datasets" / "tiny") in message
    assert "https://example.org" in message


def test_real_dataset_missing_offline(no_data_home):
    with pytest.raises(DatasetNotFoundError, match=r"ml-latest-small.*movies\.csv.*download=False"):
        load_dataset("movielens-small", download=False)


def test_download_of_a_zip_is_checked_and_cached(no_data_home):
    archive = no_data_home / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("tiny-1.0/a.csv", A)
        zf.writestr("tiny-1.0/b.csv", B)
        zf.writestr("../../evil.csv", b"never written")
    folder = locate(spec(archive_url=archive.as_uri()))
    assert folder == kgrec_home() / "datasets" / "tiny"
    assert (folder / "a.csv").read_bytes() == A and (folder / "sub" / "b.csv").read_bytes() == B
    assert not (no_data_home / "evil.csv").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["tiny"]  # no staging left behind
    archive.unlink()
    assert locate(spec(archive_url=archive.as_uri())) == folder  # now from the cache


def test_download_with_a_wrong_checksum_leaves_nothing(no_data_home):
    (no_data_home / "a.csv").write_bytes(A)
    (no_data_home / "b.csv").write_bytes(B + b"tampered\n")
    urls = {"a.csv": (no_data_home / "a.csv").as_uri(), "sub/b.csv": (no_data_home / "b.csv").as_uri()}
    with pytest.raises(DatasetNotFoundError, match=r"the download failed: .*b\.csv: sha256 [0-9a-f]{64} does not match"):
        locate(spec(file_urls=urls))
    assert not (kgrec_home() / "datasets" / "tiny").exists()
    assert not any((kgrec_home() / "datasets").iterdir())


def test_unreachable_url_is_a_dataset_not_found_error(no_data_home):
    with pytest.raises(DatasetNotFoundError, match="the download failed: cannot download"):
        locate(spec(archive_url=(no_data_home / "nowhere.zip").as_uri()), timeout=5)


def test_local_copies_can_be_verified(no_data_home):
    (no_data_home / "data" / "tiny" / "sub").mkdir(parents=True)
    (no_data_home / "data" / "tiny" / "a.csv").write_bytes(A)
    (no_data_home / "data" / "tiny" / "sub" / "b.csv").write_bytes(b"other")
    assert locate(spec(), download=False)  # not checked by default
    with pytest.raises(DatasetNotFoundError, match="does not match the published"):
        locate(spec(), download=False, verify_local=True)
