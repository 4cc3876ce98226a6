"""The app side of a gateway: the stock OTLP/HTTP exporter, batched, with a client token.

``configure(gateway=...)`` (or ``RESPAN_GATEWAY_URL``) attaches this instead of the
dataset exporter, so the app holds no Respan key and the gateway holds the budget.
"""

from __future__ import annotations

import os

from opentelemetry.sdk.trace.export import BatchSpanProcessor

from respan_otel._log import logger
from respan_otel._settings import ENV_GATEWAY_TOKEN, ENV_GATEWAY_URL

TRACES_PATH = "/v1/traces"


def gateway_url(given: str | None) -> str | None:
    """The gateway's base URL from ``given`` or ``RESPAN_GATEWAY_URL``; ``None`` if neither."""
    url = given if given is not None else os.environ.get(ENV_GATEWAY_URL, "")
    return url.strip() or None


def gateway_processor(url: str, token: str | None) -> BatchSpanProcessor | None:
    """A batching processor sending OTLP/HTTP (gzip) to the gateway at ``url``.

    ``None``, with one warning naming the fix, when there is no client token.
    """
    token = token or os.environ.get(ENV_GATEWAY_TOKEN) or None
    if token is None:
        logger.warning(
            "respan_otel: a gateway is set (%s) but no client token; no spans are sent "
            "(set %s to one of the gateway's tokens)",
            url,
            ENV_GATEWAY_TOKEN,
        )
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ImportError(
            "sending to a gateway needs the OTLP exporter: "
            "pip install 'respan-otel[gateway-client]'"
        ) from None
    endpoint = url.rstrip("/")
    if not endpoint.endswith(TRACES_PATH):
        endpoint += TRACES_PATH
    exporter = OTLPSpanExporter(
        endpoint=endpoint,
        headers={"authorization": f"Bearer {token}"},
        compression=Compression.Gzip,
    )
    return BatchSpanProcessor(exporter)
