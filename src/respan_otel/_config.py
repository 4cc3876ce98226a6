"""Environment variables and the capture settings read from them.

Every variable respan-otel reads is a constant here, with its default, so the README's
configuration table and the code have one source. Parsing is strict: a malformed value
raises ``ValueError`` naming the variable. Code on the hot path never sees that error:
:func:`capture_settings` logs it once and keeps the defaults.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

_logger = logging.getLogger("respan_otel")

ENV_API_KEY: Final = "RESPAN_API_KEY"
"""Bearer token for the Respan API. Without it nothing is exported."""

ENV_BASE_URL: Final = "RESPAN_BASE_URL"
"""API root, with or without a trailing ``/api``. Default ``https://api.respan.ai``."""

ENV_DATASET_ID: Final = "RESPAN_DATASET_ID"
"""Dataset id that logs go to when a span names no dataset."""

ENV_CAPTURE_CONTENT: Final = "RESPAN_CAPTURE_CONTENT"
"""``false`` records no input or output anywhere. Default ``true``."""

ENV_REDACT_KEYS: Final = "RESPAN_REDACT_KEYS"
"""Comma-separated extra keys whose values are masked, added to the defaults."""

ENV_MAX_FIELD_BYTES: Final = "RESPAN_MAX_FIELD_BYTES"
"""Cap, in bytes of UTF-8 JSON, for each of input, output and metadata. Default 131072."""

ENV_MAX_STREAM_ITEMS: Final = "RESPAN_MAX_STREAM_ITEMS"
"""How many items of a traced generator are kept as its output. Default 1000."""

ENV_OTEL_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"
"""OpenTelemetry's own switch; ``true`` makes every respan-otel call a pass-through."""

DEFAULT_REDACT_KEYS: Final = (
    "api_key",
    "apikey",
    "authorization",
    "password",
    "passwd",
    "secret",
    "token",
    "access_key",
    "private_key",
    "cookie",
)
"""Keys masked by default. Matching rules live in :mod:`respan_otel._redact`."""

DEFAULT_MAX_FIELD_BYTES: Final = 128 * 1024
DEFAULT_MAX_STREAM_ITEMS: Final = 1000
MIN_FIELD_BYTES: Final = 256

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_bool(name: str, value: str) -> bool:
    """Parse a boolean setting; the error names the setting and the accepted words."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not a boolean; use true/false, 1/0, yes/no or on/off")


def parse_int(name: str, value: str, *, minimum: int) -> int:
    """Parse an integer setting that must be at least ``minimum``."""
    try:
        number = int(value.strip())
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer") from None
    if number < minimum:
        raise ValueError(f"{name}={number} is below the minimum of {minimum}")
    return number


def parse_list(value: str) -> tuple[str, ...]:
    """Split a comma-separated setting, dropping blanks."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def sdk_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``OTEL_SDK_DISABLED`` asks for every signal to be a no-op."""
    return environ.get(ENV_OTEL_SDK_DISABLED, "").strip().lower() == "true"


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """What ``@trace`` and ``span`` record, and how much of it."""

    capture_content: bool = True
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES
    max_stream_items: int = DEFAULT_MAX_STREAM_ITEMS
    disabled: bool = field(default=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> CaptureSettings:
        """Build settings from the environment; raises ``ValueError`` naming a bad variable."""
        capture = environ.get(ENV_CAPTURE_CONTENT)
        extra_keys = environ.get(ENV_REDACT_KEYS)
        field_bytes = environ.get(ENV_MAX_FIELD_BYTES)
        stream_items = environ.get(ENV_MAX_STREAM_ITEMS)
        return cls(
            capture_content=True if capture is None else parse_bool(ENV_CAPTURE_CONTENT, capture),
            redact_keys=DEFAULT_REDACT_KEYS + (parse_list(extra_keys) if extra_keys else ()),
            max_field_bytes=DEFAULT_MAX_FIELD_BYTES
            if field_bytes is None
            else parse_int(ENV_MAX_FIELD_BYTES, field_bytes, minimum=MIN_FIELD_BYTES),
            max_stream_items=DEFAULT_MAX_STREAM_ITEMS
            if stream_items is None
            else parse_int(ENV_MAX_STREAM_ITEMS, stream_items, minimum=0),
            disabled=sdk_disabled(environ),
        )


_settings: CaptureSettings | None = None


def capture_settings() -> CaptureSettings:
    """The settings in force, read from the environment on first use."""
    global _settings
    if _settings is None:
        try:
            _settings = CaptureSettings.from_env()
        except ValueError as exc:
            _logger.warning("respan_otel: %s; using the defaults for capture settings", exc)
            _settings = CaptureSettings(disabled=sdk_disabled())
    return _settings


def set_capture_settings(settings: CaptureSettings | None) -> None:
    """Replace the settings in force; ``None`` re-reads the environment on next use."""
    global _settings
    _settings = settings
