"""The notebooks under ``notebooks/`` run top to bottom (nbclient, kernel ``python3``) on the real
lastfm data and the embedded store; a failing cell fails the test.

They run in the session's ``KGREC_HOME`` (the kernel inherits the environment), so they share the
text cache with each other and with the serving fixtures. The kernel runs in ``notebooks/``: the
runner (:func:`execute`, an edge) hands it ``KGREC_DATA_HOME`` / ``KGREC_HOME`` made absolute, so the
README's relative ``KGREC_DATA_HOME=../shared/data`` still names the data there. Their outputs must
hold no warning (``TqdmWarning: IProgress not found`` and the like). The executed copies are written
under ``test-artifacts/notebooks/`` (or ``KGREC_TEST_ARTIFACTS``) for a look at their outputs.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from kgrec.config import pin_environment

pytestmark = pytest.mark.notebooks

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
NAMES = ["01_exploring_the_kg.ipynb", "02_training_and_comparing.ipynb", "03_explanations_with_cypher.ipynb"]

# What each notebook must show in its outputs, besides running without error: text printed by a
# cell after its own checks passed.
MUST_SHOW = {
    "01_exploring_the_kg.ipynb": ["LISTENED_TO: 92,834   Satori triples: 15,518", "Cypher and SPARQL agree on", "refused:"],
    "02_training_and_comparing.ipynb": ["cold items in the test split:"],
    "03_explanations_with_cypher.ipynb": ["explanation queries each returned their path", "INTERESTED_IN edges written:"],
}
MIN_IMAGES = {"01_exploring_the_kg.ipynb": 2, "02_training_and_comparing.ipynb": 3, "03_explanations_with_cypher.ipynb": 2}


def _artifacts() -> Path:
    folder = Path(os.environ.get("KGREC_TEST_ARTIFACTS", REPO / "test-artifacts")) / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


WARNING = re.compile(r"\b\w*Warning\b|IProgress not found")


def execute(book, *, cwd: Path = NOTEBOOKS, timeout: int = 600) -> None:
    """Run every cell of ``book`` in a fresh ``python3`` kernel started in ``cwd``, with the folder
    variables of the environment made absolute first (the kernel's directory is not ours)."""
    from nbclient import NotebookClient

    env = dict(os.environ)
    pin_environment(env)
    client = NotebookClient(book, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)


def warnings_in(outputs) -> list[str]:
    """Lines of the outputs that are warnings (a stream line or an error naming one)."""
    found = []
    for o in outputs:
        text = o.get("text", "") if o.get("output_type") == "stream" else \
            (o.get("data", {}).get("text/plain", "") if "data" in o else "")
        found += [line for line in str(text).splitlines() if WARNING.search(line)]
    return found


def _text(outputs) -> str:
    parts = []
    for o in outputs:
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        elif "data" in o:
            parts.append(o["data"].get("text/plain", ""))
    return "".join(parts)


def test_notebooks_are_committed_without_outputs():
    import nbformat

    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        book = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(book)
        assert book.metadata["kernelspec"]["name"] == "python3"
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: a cell has outputs"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, data_home):
    import nbformat
    from nbclient.exceptions import CellExecutionError

    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    start = time.perf_counter()
    try:
        execute(book)
    except CellExecutionError as e:
        pytest.fail(f"{name}: a cell failed:\n{e}")
    finally:
        out = _artifacts() / name
        nbformat.write(book, out)
        print(f"\n{name}: {time.perf_counter() - start:.1f} s; executed copy: {out}")
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert not warnings_in(outputs), f"{name}: warnings in the outputs: {warnings_in(outputs)}"
    text = _text(outputs)
    for wanted in MUST_SHOW[name]:
        assert wanted in text, f"{name}: outputs lack {wanted!r}"
    images = sum(1 for o in outputs if "data" in o and "image/png" in o["data"])
    assert images >= MIN_IMAGES[name], f"{name}: {images} plots, expected at least {MIN_IMAGES[name]}"


def test_a_kernel_in_notebooks_finds_a_relative_data_home(data_home, monkeypatch):
    """The README's ``KGREC_DATA_HOME=../shared/data`` is relative to the repository; the kernel runs
    in ``notebooks/``, where the same relative path names nothing. The runner pins it first."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("KGREC_DATA_HOME", os.path.relpath(data_home, REPO))
    assert not (NOTEBOOKS / os.environ["KGREC_DATA_HOME"]).is_dir()  # what the kernel would see unpinned
    book = new_notebook(cells=[new_code_cell("from kgrec.config import data_home\n"
                                             "print(data_home(), data_home().is_dir())")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    execute(book, timeout=120)
    printed = "".join(o.get("text", "") for o in book.cells[0].outputs)
    assert printed.split() == [str(data_home), "True"], printed
    nbformat.validate(book)


def test_warnings_in_finds_the_tqdm_warning():
    outputs = [{"output_type": "stream", "name": "stderr",
                "text": "/x/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter and ipywidgets.\n"},
               {"output_type": "stream", "name": "stdout", "text": "fine\n"}]
    assert warnings_in(outputs) == [outputs[0]["text"].strip()]
    assert warnings_in([{"output_type": "stream", "name": "stdout", "text": "no warning here"}]) == []
