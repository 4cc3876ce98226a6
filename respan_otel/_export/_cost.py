"""A call's cost from its model and tokens, with the ``cost`` extra (``genai-prices``).

Only the price data bundled with the installed ``genai-prices`` is used: it is imported
on the first LLM row (never at import time), and nothing here starts its updater, so no
network is ever touched. An unknown model, or missing tokens, gives no cost, never a
guess. Without the extra, rows simply carry the costs the spans reported.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any, Final

from respan_otel._log import log_internal_error

logger = logging.getLogger("respan_otel")

_lock = threading.Lock()
_library: Any = None
_tried = False

PROVIDERS: Final = {"azure.ai.openai": "azure", "az.ai.openai": "azure", "aws.bedrock": "aws"}
"""GenAI ``gen_ai.provider.name`` values the price library names otherwise."""


def _prices() -> Any:
    """The ``genai_prices`` module, imported once; ``None`` when the extra is missing."""
    global _library, _tried
    if _tried:
        return _library
    with _lock:
        if not _tried:
            try:
                import genai_prices
            except ImportError:
                logger.debug("respan_otel: genai-prices not installed; no computed costs")
            else:
                _library = genai_prices
            _tried = True
    return _library


def available() -> bool:
    """Whether costs can be computed (the ``cost`` extra is installed)."""
    return _prices() is not None


def cost_of(
    model: str,
    provider: str | None,
    prompt_tokens: float,
    completion_tokens: float,
    *,
    at_ns: int | None = None,
) -> float | None:
    """The price in USD of one call, or ``None`` when it cannot be known."""
    library = _prices()
    if library is None or prompt_tokens < 0 or completion_tokens < 0:
        return None
    provider_id = PROVIDERS.get(provider, provider) if provider else None
    if (model, provider_id) in _missed:
        return None
    when = None
    if at_ns is not None:
        when = datetime.datetime.fromtimestamp(at_ns / 1e9, tz=datetime.timezone.utc)
    usage = library.Usage(input_tokens=int(prompt_tokens), output_tokens=int(completion_tokens))
    try:
        found = library.calc_price(
            usage, model_ref=model, provider_id=provider_id, genai_request_timestamp=when
        )
    except LookupError:
        if len(_missed) < MAX_MISSED:
            _missed.add((model, provider_id))
        return None
    except Exception as exc:
        log_internal_error("computing a call's cost with genai-prices", exc)
        return None
    return float(found.total_price)


MAX_MISSED: Final = 4096
_missed: set[tuple[str, str | None]] = set()
"""Models the library does not know (looked up once each; bounded)."""
