"""A half-written graph is never used silently: after a real ingest is killed (SIGKILL) the graph's
state stays ``writing``; ``read()`` (what train and serve use) refuses it with IncompleteGraphError
saying how to finish it, ``kgrec stats`` still counts it but warns, and running the ingest again
completes it."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from kgrec.cli import _register, app
from kgrec.errors import IncompleteGraphError
from kgrec.kg.stores import open_store
from kgrec.kg.stores.embedded import EmbeddedStore
from kgrec.kg.stores.rdf import RdfStore
from tests.integration.test_store_crash import REPO, WRITER, _kill_half_way

_register()


@pytest.fixture()
def killed_dir(tmp_path):
    path = tmp_path / "killed"
    yield path
    EmbeddedStore(f"embedded:{path}").stop()


def test_a_killed_ingest_is_refused_by_read_and_flagged_by_stats(lastfm_small_kg, killed_dir, tmp_path):
    url, graph, kg = f"embedded:{killed_dir}", "lastfm", lastfm_small_kg
    with open_store(url):
        pass
    pickled = tmp_path / "kg.pkl"
    pickled.write_bytes(pickle.dumps(kg))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(pickled), url, "300", graph], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _kill_half_way(proc, url, graph, kg.num_edges(), "writer")

    with open_store(url) as store:
        assert store.state(graph=graph) == "writing"
        assert not store.graph_meta(graph=graph).complete
        with pytest.raises(IncompleteGraphError, match=r"'lastfm' .* is incomplete: its last write did not finish.*"
                                                        r"Run the same ingest again"):
            store.read(graph=graph)
        partial = store.read(graph=graph, allow_incomplete=True)  # on purpose only
        assert 0 < partial.num_edges() < kg.num_edges()

    result = CliRunner().invoke(app, ["stats", "--store", url, "--graph", graph, "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: graph 'lastfm' is incomplete" in result.stderr
    assert '"state": "writing"' in result.stdout
    export = CliRunner().invoke(app, ["export", "-o", str(tmp_path / "x.ttl"), "--store", url, "--graph", graph])
    assert export.exit_code == 1 and isinstance(export.exception, IncompleteGraphError)

    with open_store(url) as store:  # the ingest again: complete, and read() gives the whole graph
        store.write(kg, graph=graph)
        assert store.state(graph=graph) == "complete"
        assert store.read(graph=graph).differences(kg) == []
    result = CliRunner().invoke(app, ["stats", "--store", url, "--graph", graph])
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_an_rdf_rewrite_cut_off_half_way_leaves_the_graph_incomplete(tmp_path, tiny_kg, monkeypatch):
    """The rdf store writes a new graph atomically (a folder renamed into place); a write into an
    existing graph is not, and a failure in the middle of it (here: the disk refusing a chunk,
    injected) leaves the graph marked ``writing``."""
    url = f"rdf:{tmp_path / 'rdf'}"
    with open_store(url) as store:
        store.write(tiny_kg)
        changed = tiny_kg.replace(nodes={**tiny_kg.nodes, "Tag": pd.concat(
            [tiny_kg.nodes["Tag"], pd.DataFrame({"id": ["new-tag"], "name": ["new"]})], ignore_index=True)})

        def disk_full(self, name, chunks):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(RdfStore, "_insert_chunks", disk_full)
        with pytest.raises(OSError):
            store.write(changed)
        monkeypatch.undo()
    with open_store(url) as store:  # reopened: the state survived
        assert store.state() == "writing"
        with pytest.raises(IncompleteGraphError):
            store.read()
        store.write(changed)
        assert store.state() == "complete"
        assert store.read().differences(changed) == []
