"""The old home of the RDF vocabulary, kept for code that imports it from here (``serving/cypher.py``
does): everything now lives in :mod:`kgrec.kg.rdf.vocab`."""

from .rdf.vocab import *  # noqa: F401,F403
from .rdf.vocab import __all__  # noqa: F401
