"""RDF: how a :class:`~kgrec.kg.graph.KnowledgeGraph` is RDF, in one place for the exporter
(:mod:`kgrec.kg.export`) and the rdf store (:mod:`kgrec.kg.stores.rdf`).

- :mod:`.vocab`: the vocabulary: the base IRI, IRIs of nodes, edges, classes, relations,
  properties, the graph, kgrec's own terms (``docs/rdf-vocabulary.md``);
- :mod:`.formats`: the RDF serialisations (names, aliases, suffixes);
- :mod:`.ntriples`: encoding a graph as N-Triples, column-wise;
- :mod:`.decode`: reading a graph back (files, Oxigraph databases), terms as Python values;
- :mod:`.sparql`: the SPARQL text the rdf store sends, and the guard of analysts' SPARQL.
"""

from .decode import import_rdf, read_oxigraph
from .formats import RDF_FORMATS, RdfFormat
from .vocab import DEFAULT_BASE_IRI, FORMAT_VERSION, Vocabulary, quote_id

__all__ = ["DEFAULT_BASE_IRI", "FORMAT_VERSION", "RDF_FORMATS", "RdfFormat", "Vocabulary", "import_rdf", "quote_id",
           "read_oxigraph"]
