"""Registered models, one per file: ``kgrec`` (the product's model) and the baselines ``pop``,
``itemknn``, ``bprmf``, ``lightgcn``, ``textknn``, ``ease`` and ``xsimgcl``. Importing this package
registers them."""

# isort: off  (the import order is the registry's order)
from .base import Batch, ModelInputs, RecModel
from .kgrec import KGRec
from .pop import MostPopular
from .itemknn import ItemKNN
from .bprmf import BPRMF
from .lightgcn import LightGCN
from .textknn import TextKNN
from .ease import EASE
from .xsimgcl import XSimGCL
# isort: on

__all__ = ["BPRMF", "Batch", "EASE", "ItemKNN", "KGRec", "LightGCN", "ModelInputs", "MostPopular", "RecModel",
           "TextKNN", "XSimGCL"]
