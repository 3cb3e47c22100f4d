"""The house keeps its shape (issue 15), checked on the source itself, for every layer:

- imports go one way only: ``kg`` → nothing; ``text`` → ``kg``; ``gnn`` → ``kg``, ``text``;
  ``serving`` → all three. Every layer may use the foundations (``kgrec.errors``, ``kgrec.config``,
  ``kgrec.resolver``); no layer imports the top package (``import kgrec``, ``kgrec.api``,
  ``kgrec.settings``, ``kgrec.cli``, ``kgrec.notebook``), which only re-exports and wires;
- no module in ``kg/ text/ gnn/ serving/ kgrec/`` is over 600 lines;
- no module reads or writes a private attribute (``x._name``) that it does not define itself
  (``self``/``cls``/``super()`` and another instance of a class of the same module are fine;
  ``_replace``/``_asdict``/``_fields`` are namedtuple's public API).

See docs/architecture.md for the picture and the table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = {"kg": set(), "text": {"kg"}, "gnn": {"kg", "text"}, "serving": {"kg", "text", "gnn"}}
FOUNDATIONS = {"errors", "config", "resolver"}
MODULES = sorted(p for folder in (*LAYERS, "kgrec") for p in (REPO / folder).rglob("*.py"))
LAYER_MODULES = [p for p in MODULES if p.relative_to(REPO).parts[0] in LAYERS]
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}


def _name(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _imports(path: Path, root: Path = REPO) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every kgrec import in a module (relative ones resolved)."""
    parts = ["kgrec", *path.relative_to(root).parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - (node.level - 1)]
                out.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            else:
                out.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in out if m == "kgrec" or m.startswith("kgrec.")]


def test_the_layers_were_found():
    names = {_name(p) for p in LAYER_MODULES}
    assert {"kg/schema.py", "text/encoder.py", "gnn/train.py", "serving/recommender.py"} <= names


@pytest.mark.parametrize("path", LAYER_MODULES, ids=_name)
def test_imports_go_along_the_layers(path):
    layer = path.relative_to(REPO).parts[0]
    allowed = {layer} | LAYERS[layer] | FOUNDATIONS
    wrong = [f"{_name(path)}:{line}: {m}" for line, m in _imports(path)
             if m == "kgrec" or m.split(".")[1] not in allowed]
    assert not wrong, f"{layer} may import {sorted(allowed)}; found {wrong}"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_is_over_600_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 600


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_private_attribute_defined_in_another_module(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
           and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")}
    own |= {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
            continue
        if node.attr in own or node.attr in NAMEDTUPLE_API:
            continue
        found.append(f"{_name(path)}:{node.lineno}: .{node.attr} of {ast.unparse(owner)}")
    assert not found, found


def test_the_import_check_sees_relative_and_absolute_imports(tmp_path):
    bad = tmp_path / "kg" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("from kgrec.serving import Recommender\nfrom ..gnn import train\nfrom .schema import Schema\n",
                   encoding="utf-8")
    assert [m for _, m in _imports(bad, tmp_path)] == ["kgrec.serving", "kgrec.gnn", "kgrec.kg.schema"]
