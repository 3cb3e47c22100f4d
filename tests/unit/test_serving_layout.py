"""The serving room keeps its shape (issue 15.1, 15.5, 15.6), checked on the source itself:

- every module under ``serving/`` is under 600 lines;
- no code reads or writes a private attribute (``x._name``) of anything but ``self`` / ``cls``
  (serving, and the run directory and fold-in modules it builds on);
- nothing in ``serving/`` reads environment variables or probes objects with ``getattr``;
- no dataset vocabulary in serving code (string constants outside docstrings).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVING = sorted((REPO / "serving").rglob("*.py"))
CHECKED = SERVING + [REPO / "gnn" / "run.py", REPO / "gnn" / "foldin.py", REPO / "kgrec" / "cli" / "serve.py"]
DATASET_WORDS = {"LISTENED_TO", "TAGGED", "FRIEND_OF", "HAS_TAG", "HAS_GENRE", "RATED", "Tag", "Artist", "Movie",
                 "Genre", "DBO_", "DBP_"}


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_the_serving_modules_were_found():
    names = {p.relative_to(REPO).as_posix() for p in SERVING}
    assert {"serving/recommender.py", "serving/index.py", "serving/scorer.py", "serving/explain.py",
            "serving/http/app.py", "serving/config.py"} <= names


@pytest.mark.parametrize("path", SERVING, ids=lambda p: p.relative_to(REPO).as_posix())
def test_modules_stay_under_600_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) < 600


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_private_attribute_of_another_object(path):
    found = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"{path.name}:{node.lineno}: .{node.attr} of {ast.unparse(owner)}")
    assert not found, found


@pytest.mark.parametrize("path", SERVING, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_environment_variables_and_no_getattr_probing(path):
    found = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
            found.append(f"{path.name}:{node.lineno}: os.{node.attr}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            found.append(f"{path.name}:{node.lineno}: {node.func.id}()")
    assert not found, found


@pytest.mark.parametrize("path", SERVING, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_dataset_vocabulary_in_serving_code(path):
    tree = _tree(path)
    docs = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            words = {w for w in DATASET_WORDS if w in node.value.replace("'", " ").replace('"', " ").split()
                     or (w.endswith("_") and w in node.value)}
            if words:
                found.append(f"{path.name}:{node.lineno}: {sorted(words)} in {node.value[:60]!r}")
    assert not found, found
