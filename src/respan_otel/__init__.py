"""respan-otel: turn a running LLM application into Respan evaluation datasets."""

from respan_otel._version import __version__

__all__ = ["__version__"]
