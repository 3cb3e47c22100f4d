"""CI runs the README's test command exactly as the README prints it (issue 14 A1: a relative
``KGREC_DATA_HOME`` included), so the README's command cannot silently stop working."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFIX = ". .venv/bin/activate && "


def readme_test_command() -> str:
    """The README's test command (the line that runs pytest), without the venv activation."""
    lines = [line.strip() for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines()
             if re.search(r"python -m pytest -m \"not slow\"", line)]
    assert lines, "the README prints no test command"
    return lines[0].removeprefix(PREFIX)


def test_ci_runs_the_readme_test_command_verbatim():
    command = readme_test_command()
    assert command.startswith("KGREC_DATA_HOME=../shared/data ")  # relative, as a newcomer types it
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert command in ci, f"{command!r} is not a line of .ci/run"
    # run from the repository root, where ../shared/data is meant
    assert 'cd "$(dirname "$0")/.."' in ci
    # and nothing before it exports an absolute KGREC_DATA_HOME that would hide a relative-path bug
    before = ci[:ci.index(command)]
    assert not [line for line in before if line.startswith("export") and "KGREC_DATA_HOME" in line]
