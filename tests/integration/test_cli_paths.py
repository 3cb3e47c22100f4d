"""Relative ``KGREC_HOME`` / ``KGREC_DATA_HOME`` are resolved once at the edge, and every "not found"
message shows the resolved path (issue 14 A1)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def kgrec(*args: str, cwd, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from kgrec.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env={**os.environ, **env})


def test_a_missing_dataset_names_the_resolved_folders(tmp_path, monkeypatch):
    from kgrec.errors import DatasetNotFoundError
    from kgrec.kg.sources import load_dataset

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KGREC_DATA_HOME", "no-data")
    monkeypatch.setenv("KGREC_HOME", "home")
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("movielens-small", download=False)
    message = str(caught.value)
    assert str(tmp_path / "no-data" / "ml-latest-small") in message
    assert str(tmp_path / "home" / "datasets" / "ml-latest-small") in message


def test_the_cli_shows_resolved_run_and_store_folders(tmp_path):
    env = {"KGREC_HOME": "home", "KGREC_DATA_HOME": "no-data"}
    done = kgrec("evaluate", "missing-run", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert f"{tmp_path / 'missing-run'}: no such run directory" in done.stderr
    done = kgrec("store", "status", cwd=tmp_path, env=env)
    assert f"data: {tmp_path / 'home' / 'store'}" in done.stdout + done.stderr


def test_the_cli_entry_pins_the_folders_before_any_command(tmp_path, monkeypatch, capsys):
    from kgrec.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KGREC_HOME", "home")
    monkeypatch.setenv("KGREC_DATA_HOME", "../data")
    monkeypatch.setattr(sys, "argv", ["kgrec", "--help"])
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None)
    assert "Usage" in capsys.readouterr().out
    assert os.environ["KGREC_HOME"] == str(tmp_path / "home")
    assert os.environ["KGREC_DATA_HOME"] == str(tmp_path.parent / "data")
