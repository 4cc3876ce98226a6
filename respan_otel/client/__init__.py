"""``RespanClient``: the datasets and experiments API over HTTP."""

from respan_otel.client._client import RespanClient

__all__ = ["RespanClient"]
