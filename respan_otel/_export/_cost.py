"""A call's cost from its model and tokens, with the ``cost`` extra (``genai-prices``).

Only the price data bundled with the installed ``genai-prices`` is used: it is imported
on the first LLM row (never at import time), and nothing here starts its updater, so no
network is ever touched. An unknown model, or missing tokens, gives no cost, never a
guess. Without the extra, rows simply carry the costs the spans reported.

The library's full calculation takes about half a millisecond, more than mapping a span:
a model's price per input and output token is looked up once per day and reused when it
is flat (no tiers), and the full calculation runs only for tiered prices.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan

from respan_otel._log import log_internal_error

logger = logging.getLogger("respan_otel")

_lock = threading.Lock()
_library: Any = None
_tried = False

PROVIDERS: Final = {"azure.ai.openai": "azure", "az.ai.openai": "azure", "aws.bedrock": "aws"}
"""GenAI ``gen_ai.provider.name`` values the price library names otherwise."""
TIERED: Final = "tiered"
_DAY: Final = 86_400
_PER_MTOK: Final = Decimal(1_000_000)


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


@lru_cache(maxsize=1024)
def _rates(model: str, provider: str | None, day: int) -> Any:
    """``(per input token, per output token)`` in USD for a flat price, ``TIERED`` when
    the full calculation is needed, ``None`` for a model the library does not know.
    ``day``: days since the epoch (UTC), as prices change by date."""
    library = _prices()
    when = datetime.datetime.fromtimestamp(day * _DAY + _DAY // 2, tz=datetime.timezone.utc)
    try:
        library.calc_price(
            library.Usage(input_tokens=0, output_tokens=0),
            model_ref=model,
            provider_id=provider,
            genai_request_timestamp=when,
        )  # the public lookup: LookupError for an unknown model
    except LookupError:
        return None
    try:
        snapshot = library.data_snapshot.get_snapshot()
        _, found = snapshot.find_provider_model(model, None, provider, None)
        price = found.get_prices(when)
        per_input, per_output = price.input_mtok, price.output_mtok
    except Exception:  # the library's internals moved: always use its full calculation
        return TIERED
    if not all(rate is None or isinstance(rate, Decimal) for rate in (per_input, per_output)):
        return TIERED
    return (
        float((per_input or 0) / _PER_MTOK),
        float((per_output or 0) / _PER_MTOK),
    )


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
    seconds = time.time() if at_ns is None else at_ns / 1e9
    try:
        rates = _rates(model, provider_id, int(seconds // _DAY))
        if rates is None:
            return None
        if rates != TIERED:
            return float(prompt_tokens * rates[0] + completion_tokens * rates[1])
        when = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
        usage = library.Usage(input_tokens=int(prompt_tokens), output_tokens=int(completion_tokens))
        found = library.calc_price(
            usage, model_ref=model, provider_id=provider_id, genai_request_timestamp=when
        )
        return float(found.total_price)
    except Exception as exc:
        log_internal_error("computing a call's cost with genai-prices", exc)
        return None


def add_cost(span: ReadableSpan, metadata: dict[str, Any], metrics: dict[str, Any]) -> None:
    """The call's cost from model and tokens, when the span reports none."""
    model = metadata.get("model")
    if "cost" in metrics or not isinstance(model, str) or "prompt_tokens" not in metrics:
        return
    provider = metadata.get("provider")
    cost = cost_of(
        model,
        provider if isinstance(provider, str) else None,
        metrics["prompt_tokens"],
        metrics.get("completion_tokens", 0),
        at_ns=span.start_time,
    )
    if cost is not None:
        metrics["cost"] = cost
