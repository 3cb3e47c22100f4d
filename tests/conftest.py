"""Shared test set-up. Each area keeps its fixtures in its own module under tests/fixtures/.

This is an edge: a relative ``KGREC_DATA_HOME`` / ``KGREC_HOME`` (the README's
``KGREC_DATA_HOME=../shared/data python -m pytest``) is made absolute here, once, against the
directory pytest started in, before any test or notebook kernel (which runs in ``notebooks/``) reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kgrec.config import pin_environment

PINNED = pin_environment()
"""The environment variables this session made absolute (name → absolute path)."""

pytest_plugins = [
    "tests.fixtures.kg",
    "tests.fixtures.store",
    "tests.fixtures.text",
    "tests.fixtures.gnn",
    "tests.fixtures.serving",
    "tests.fixtures.devices",
    "tests.fixtures.ui",
]

REPO = Path(__file__).resolve().parents[1]


def _data_home() -> Path | None:
    value = os.environ.get("KGREC_DATA_HOME")
    if value:
        return Path(os.path.abspath(value))
    beside = REPO.parent / "shared" / "data"
    return beside if beside.is_dir() else None


@pytest.fixture(scope="session")
def data_home() -> Path:
    """The folder of real datasets (KGREC_DATA_HOME, else ../shared/data beside the checkout)."""
    path = _data_home()
    if path is None or not path.is_dir():
        pytest.skip("real datasets not found: set KGREC_DATA_HOME (CI points it at ../shared/data)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test session gets its own KGREC_HOME (embedded store data, caches, runs) and the
    real datasets from KGREC_DATA_HOME; the user's ~/.kgrec is never touched."""
    home = tmp_path_factory.mktemp("kgrec_home")
    os.environ["KGREC_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    path = _data_home()
    if path is not None:
        os.environ.setdefault("KGREC_DATA_HOME", str(path))
    return home
