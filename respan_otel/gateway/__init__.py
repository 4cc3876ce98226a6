"""``respan-otel gateway``: one egress holding the organization's budget, behind OTLP/HTTP.

Needs the ``gateway`` extra (``pip install 'respan-otel[gateway]'``). See ``docs/fleet.md``.
"""

from respan_otel.gateway._service import DEFAULT_PORT, Gateway

__all__ = ["DEFAULT_PORT", "Gateway"]
