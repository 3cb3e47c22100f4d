"""Registered models, one per file: ``kgrec`` (the product's model) and the baselines ``pop``,
``itemknn``, ``bprmf``, ``lightgcn`` and ``textknn``. Importing this package registers them."""

# isort: off  (the import order is the registry's order)
from .base import Batch, ModelInputs, RecModel
from .kgrec import KGRec
from .pop import MostPopular
from .itemknn import ItemKNN
from .bprmf import BPRMF
from .lightgcn import LightGCN
from .textknn import TextKNN
# isort: on

__all__ = ["BPRMF", "Batch", "ItemKNN", "KGRec", "LightGCN", "ModelInputs", "MostPopular", "RecModel", "TextKNN"]
