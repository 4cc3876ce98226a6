"""``respan-otel gateway``: one egress holding the organization's budget, behind OTLP/HTTP.

The server needs the ``gateway`` extra (``pip install 'respan-otel[gateway]'``); apps
that send to it need only ``gateway-client``. See ``docs/fleet.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from respan_otel.gateway._service import DEFAULT_PORT, Gateway

__all__ = ["DEFAULT_PORT", "Gateway"]


def __getattr__(name: str) -> Any:
    # the server's libraries load only when the server is asked for, so an app that
    # imports respan_otel.gateway._client needs just the OTLP exporter
    if name in __all__:
        from respan_otel.gateway import _service

        return getattr(_service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
