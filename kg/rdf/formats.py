"""The RDF serialisations kgrec writes and reads: the one table of their names, aliases, file
suffixes and Oxigraph formats. :mod:`kgrec.kg.export` registers a writer for each; :func:`import_rdf
<kgrec.kg.rdf.decode.import_rdf>` reads each back (from the suffix when no format is given)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kgrec.resolver import Registry


@dataclass(frozen=True)
class RdfFormat:
    """One RDF serialisation.

    Args:
        name: the canonical name (``ttl``, ``nt``, ``jsonld``).
        suffixes: file suffixes that mean this format, the first one preferred.
        oxigraph: the name of its ``pyoxigraph.RdfFormat`` member.
        aliases: other names it is asked for by.
    """

    name: str
    suffixes: tuple[str, ...]
    oxigraph: str
    aliases: tuple[str, ...] = ()

    def pyoxigraph(self):
        """The ``pyoxigraph.RdfFormat`` value."""
        import pyoxigraph as ox

        return getattr(ox.RdfFormat, self.oxigraph)


RDF_FORMATS: Registry[RdfFormat] = Registry("RDF format")
for _fmt in (
    RdfFormat("ttl", (".ttl", ".turtle"), "TURTLE", aliases=("turtle",)),
    RdfFormat("nt", (".nt", ".ntriples"), "N_TRIPLES", aliases=("ntriples", "n-triples")),
    RdfFormat("jsonld", (".jsonld", ".json"), "JSON_LD", aliases=("json-ld", "json")),
):
    RDF_FORMATS.register(_fmt.name, _fmt, aliases=_fmt.aliases)


def rdf_format_of(path: str | Path) -> RdfFormat | None:
    """The RDF format a file's suffix names, or None."""
    suffix = Path(path).suffix.lower()
    for name in RDF_FORMATS.names():
        fmt = RDF_FORMATS.resolve(name)
        if suffix in fmt.suffixes:
            return fmt
    return None


__all__ = ["RDF_FORMATS", "RdfFormat", "rdf_format_of"]
