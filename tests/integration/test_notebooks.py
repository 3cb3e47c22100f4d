"""The notebooks under ``notebooks/`` run top to bottom (nbclient, kernel ``python3``) on the real
lastfm data and the embedded store; a failing cell fails the test.

They run in the session's ``KGREC_HOME`` (the kernel inherits the environment), so they share the
text cache with each other and with the serving fixtures. The executed copies are written under
``test-artifacts/notebooks/`` (or ``KGREC_TEST_ARTIFACTS``) for a look at their outputs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

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
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as e:
        pytest.fail(f"{name}: a cell failed:\n{e}")
    finally:
        out = _artifacts() / name
        nbformat.write(book, out)
        print(f"\n{name}: {time.perf_counter() - start:.1f} s; executed copy: {out}")
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = _text(outputs)
    for wanted in MUST_SHOW[name]:
        assert wanted in text, f"{name}: outputs lack {wanted!r}"
    images = sum(1 for o in outputs if "data" in o and "image/png" in o["data"])
    assert images >= MIN_IMAGES[name], f"{name}: {images} plots, expected at least {MIN_IMAGES[name]}"
