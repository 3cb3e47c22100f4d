"""kgrec: knowledge-graph-augmented recommendations with text-featured GNNs and explanations.

The public API, imported lazily so that ``import kgrec`` stays fast. One call runs it all::

    import kgrec
    result = kgrec.pipeline("lastfm", config=kgrec.KgrecConfig(
        text=kgrec.TextConfig(documents="short", labels="items")))   # dataset → store → vectors → run
    result.recommender.recommend("2", k=10)
    result.save("runs/lastfm"); kgrec.load_pipeline("runs/lastfm")  # and back

or the parts, each on its own::

    kg = kgrec.load_dataset("lastfm")                     # KnowledgeGraph
    store = kgrec.open_store()                            # embedded FalkorDB
    store.write(kg)
    run = kgrec.train(kg, kgrec.TrainConfig(epochs=50))   # Run: metrics, vectors, save()/load()
    rec = kgrec.Recommender.load(run.path, store=store)
    for r in rec.recommend("2", k=10, explain=True):
        print(r.item.name, r.score, r.explanations[0].sentence, r.explanations[0].cypher)
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

from kgrec.errors import KgrecError

try:
    __version__ = version("kgrec")
except PackageNotFoundError:  # a source tree without an install
    __version__ = "0+unknown"

# public name -> module that defines it
_LAZY = {
    "pipeline": "kgrec.api",
    "load_pipeline": "kgrec.api",
    "PipelineResult": "kgrec.api",
    "KgrecConfig": "kgrec.settings",
    "StoreConfig": "kgrec.kg.stores.config",
    "TextConfig": "kgrec.text",
    "KnowledgeGraph": "kgrec.kg",
    "Schema": "kgrec.kg",
    "load_dataset": "kgrec.kg.sources",
    "list_datasets": "kgrec.kg.sources",
    "synthetic": "kgrec.kg.sources",
    "open_store": "kgrec.kg.stores",
    "TextEncoder": "kgrec.text",
    "embed_graph": "kgrec.text",
    "TrainConfig": "kgrec.gnn",
    "train": "kgrec.gnn",
    "Run": "kgrec.gnn",
    "Recommender": "kgrec.serving",
    "Recommendation": "kgrec.serving",
    "Explanation": "kgrec.serving",
}

# public module name -> the module it stands for (``kgrec.events.publish(...)``)
_MODULES = {
    "events": "kgrec.serving.events",
}

__all__ = ["KgrecError", "__version__", *_LAZY, *_MODULES]


def __getattr__(name: str):
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kgrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
