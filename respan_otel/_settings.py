"""Environment variables and the capture settings read from them.

Every variable respan-otel reads is a constant here, with its default, so the README's
configuration table and the code have one source. Parsing is strict: a malformed value
raises ``ValueError`` naming the variable. Code on the hot path never sees that error:
:func:`capture_settings` logs it once and keeps the defaults.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from respan_otel._log import logger

RowsMode = Literal["useful", "all", "roots"]
ROWS_MODES: Final[tuple[RowsMode, ...]] = ("useful", "all", "roots")

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

ENV_BATCH_SIZE: Final = "RESPAN_BATCH_SIZE"
"""Logs per bulk request, 1 to 500 (the API's limit). Default 500."""

ENV_MAX_REQUEST_BYTES: Final = "RESPAN_MAX_REQUEST_BYTES"
"""Cap on one bulk request body, in bytes; larger batches are split. Default 8388608."""

ENV_REQUESTS_PER_MINUTE: Final = "RESPAN_REQUESTS_PER_MINUTE"
"""Client-side pacing of requests per process (fractions allowed; 0 turns it off). It
adapts down when the server's 429s say the budget is shared. Default 30, or 0 when the
base URL is loopback (the local server has no limit unless asked)."""

ENV_EXPORT_TIMEOUT_SECONDS: Final = "RESPAN_EXPORT_TIMEOUT_SECONDS"
"""Deadline for one export call, waits and retries included. Default 30."""

ENV_REQUEST_TIMEOUT_SECONDS: Final = "RESPAN_REQUEST_TIMEOUT_SECONDS"
"""Timeout of one HTTP request (never beyond the export deadline). Default 15."""

ENV_SPOOL_DIR: Final = "RESPAN_SPOOL_DIR"
"""Directory where logs not delivered yet are kept and replayed from; ``off`` turns the
spool off. Default: the per-user cache (``$XDG_CACHE_HOME/respan-otel/spool``,
``~/.cache/...``, ``~/Library/Caches/...`` on macOS, ``%LOCALAPPDATA%`` on Windows),
else a per-user directory under the system's temporary directory when that is not
writable (serverless)."""

ENV_SPOOL_MAX_BYTES: Final = "RESPAN_SPOOL_MAX_BYTES"
"""Cap on the spool directory's size; beyond it logs are dropped and counted. Default 1 GiB."""

ENV_ONLY_ROOT_SPANS: Final = "RESPAN_ONLY_ROOT_SPANS"
"""``true`` exports only root spans (one log per end-to-end run). Default ``false``."""

ENV_ROWS: Final = "RESPAN_ROWS"
"""Which spans become rows: ``useful`` (default), ``all`` or ``roots``."""

ENV_GATEWAY_URL: Final = "RESPAN_GATEWAY_URL"
"""Send spans to this ``respan-otel gateway`` (OTLP/HTTP) instead of to Respan."""

ENV_GATEWAY_TOKEN: Final = "RESPAN_GATEWAY_TOKEN"
"""The client token sent to the gateway (never the Respan key)."""

ENV_GATEWAY_TOKENS: Final = "RESPAN_GATEWAY_TOKENS"
"""Gateway side: comma-separated client tokens it accepts."""

ENV_GATEWAY_DIR: Final = "RESPAN_GATEWAY_DIR"
"""Gateway side: its journal and spool directory. Default: per-user state dir."""

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

DEFAULT_BASE_URL: Final = "https://api.respan.ai"
MAX_BATCH_SIZE: Final = 500
DEFAULT_MAX_REQUEST_BYTES: Final = 8 * 1024 * 1024
DEFAULT_REQUESTS_PER_MINUTE: Final = 30.0
SPOOL_OFF: Final = frozenset({"off", "none", "false", "0", "no"})
"""Values of ``RESPAN_SPOOL_DIR`` (or ``spool_dir=``) that turn the spool off."""
DEFAULT_EXPORT_TIMEOUT_SECONDS: Final = 30.0
DEFAULT_REQUEST_TIMEOUT_SECONDS: Final = 15.0
DEFAULT_SPOOL_MAX_BYTES: Final = 1024 * 1024 * 1024
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


def parse_float(name: str, value: str, *, minimum: float) -> float:
    """Parse a number of seconds (or similar) that must be above ``minimum``."""
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None
    if not number > minimum or not math.isfinite(number):
        raise ValueError(f"{name}={number:g} must be a finite number greater than {minimum:g}")
    return number


def parse_list(value: str) -> tuple[str, ...]:
    """Split a comma-separated setting, dropping blanks."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def check_redact_keys(keys: object) -> tuple[str, ...]:
    """Validate ``redact_keys=``: an iterable of str (added to the default keys)."""
    if isinstance(keys, str) or not isinstance(keys, Iterable):
        raise TypeError("redact_keys must be an iterable of str, such as a list")
    checked = tuple(keys)
    for key in checked:
        if not isinstance(key, str) or not key:
            raise TypeError(f"redact_keys must contain non-empty str, got {key!r}")
    return checked


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
            logger.warning("respan_otel: %s; using the defaults for capture settings", exc)
            _settings = CaptureSettings(disabled=sdk_disabled())
    return _settings


def set_capture_settings(settings: CaptureSettings | None) -> None:
    """Replace the settings in force; ``None`` re-reads the environment on next use."""
    global _settings
    _settings = settings


def _env_or(
    environ: Mapping[str, str], name: str, given: object, parse: Callable[[str, str], object]
) -> object:
    """An argument when given, else the environment variable parsed as ``parse(name,
    value)`` (so errors name it), else ``None``."""
    if given is not None:
        return given
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return None
    return parse(name, raw)


def _text(name: str, value: str) -> str:
    return value.strip()


def _at_least(minimum: int) -> Callable[[str, str], int]:
    return lambda name, value: parse_int(name, value, minimum=minimum)


def _rows_mode(name: str, value: str) -> str:
    mode = value.strip().lower()
    if mode not in ROWS_MODES:
        raise ValueError(f"{name}={value!r} must be one of {', '.join(ROWS_MODES)}")
    return mode


def _seconds(name: str, value: str) -> float:
    return parse_float(name, value, minimum=0)


def _rate(name: str, value: str) -> float:
    if value.strip() in ("0", "0.0"):
        return 0.0
    return parse_float(name, value, minimum=0)


def default_spool_dir(environ: Mapping[str, str] = os.environ, destination: str = "") -> str:
    """The per-user cache location of the spool on this platform (of one destination's
    folder in it: :func:`destination_key`)."""
    from pathlib import Path  # here, not at import: it is ~3 ms of `import respan_otel`

    home = Path.home()
    if sys.platform == "win32":
        base = Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Caches"
    else:
        base = Path(environ.get("XDG_CACHE_HOME") or home / ".cache")
    return str(base / "respan-otel" / "spool" / destination)


def destination_key(base_url: str, api_key: str | None) -> str:
    """The default spool's folder for one destination (API root and key, hashed): apps of
    one user that send to different servers or organizations never replay each other's
    logs with their own key."""
    import hashlib  # here, not at import (loading OpenSSL is ~2 ms of `import respan_otel`)

    return hashlib.sha256(f"{base_url}\0{api_key or ''}".encode()).hexdigest()[:16]


def fallback_spool_dir(destination: str = "") -> str:
    """Where the default spool goes when the cache is not writable (serverless)."""
    import tempfile  # here, not at import (with shutil, ~3 ms of `import respan_otel`)
    from pathlib import Path

    user = getattr(os, "getuid", lambda: "user")()
    return str(Path(tempfile.gettempdir()) / f"respan-otel-{user}" / "spool" / destination)


def _is_loopback(url: object) -> bool:
    if not isinstance(url, str):
        return False
    from urllib.parse import urlsplit

    from respan_otel.client._transport import is_loopback_host

    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return False
    return bool(host) and is_loopback_host(host or "")


@dataclass(frozen=True, slots=True)
class ExporterSettings:
    """How the dataset exporter delivers: arguments first, then ``RESPAN_*``, then defaults.

    Every value is validated here, so a bad setting fails when the exporter is built,
    with a message naming the argument or variable.
    """

    api_key: str | None
    base_url: str
    dataset_id: str | None
    batch_size: int
    max_request_bytes: int
    requests_per_minute: float
    export_timeout: float
    request_timeout: float
    spool_dir: str | None
    """``None``: no spool."""
    spool_max_bytes: int
    only_root_spans: bool
    rows: RowsMode
    redact_keys: tuple[str, ...]
    spool_is_default: bool = False
    """The spool is at its default place, so a fallback is allowed when unwritable."""

    def __repr__(self) -> str:
        key = "set" if self.api_key else "missing"
        return (
            f"ExporterSettings(api_key=<{key}>, base_url={self.base_url!r}, "
            f"dataset_id={self.dataset_id!r}, batch_size={self.batch_size}, "
            f"requests_per_minute={self.requests_per_minute}, spool_dir={self.spool_dir!r})"
        )

    @classmethod
    def resolve(
        cls,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dataset_id: str | None = None,
        batch_size: int | None = None,
        max_request_bytes: int | None = None,
        requests_per_minute: float | None = None,
        export_timeout: float | None = None,
        request_timeout: float | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int | None = None,
        only_root_spans: bool | None = None,
        rows: str | None = None,
        redact_keys: Iterable[str] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> ExporterSettings:
        def number(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
            if value < minimum or (maximum is not None and value > maximum):
                bound = f"between {minimum} and {maximum}" if maximum else f">= {minimum}"
                raise ValueError(f"{name}={value} must be {bound}")
            return value

        def seconds(name: str, value: object) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number of seconds")
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"{name}={value} must be a finite number greater than 0")
            return float(value)

        key = _env_or(environ, ENV_API_KEY, api_key, _text)
        url = _env_or(environ, ENV_BASE_URL, base_url, _text) or DEFAULT_BASE_URL
        dataset = _env_or(environ, ENV_DATASET_ID, dataset_id, _text)
        size = _env_or(environ, ENV_BATCH_SIZE, batch_size, _at_least(1))
        request_bytes = _env_or(environ, ENV_MAX_REQUEST_BYTES, max_request_bytes, _at_least(1024))
        rpm = _env_or(environ, ENV_REQUESTS_PER_MINUTE, requests_per_minute, _rate)
        deadline = _env_or(environ, ENV_EXPORT_TIMEOUT_SECONDS, export_timeout, _seconds)
        per_request = _env_or(environ, ENV_REQUEST_TIMEOUT_SECONDS, request_timeout, _seconds)
        spool = _env_or(environ, ENV_SPOOL_DIR, spool_dir, _text)
        spool_bytes = _env_or(environ, ENV_SPOOL_MAX_BYTES, spool_max_bytes, _at_least(1024))
        roots = _env_or(environ, ENV_ONLY_ROOT_SPANS, only_root_spans, parse_bool)
        mode = _env_or(environ, ENV_ROWS, rows, _rows_mode)
        if mode is None:
            mode = "roots" if roots else "useful"
        elif mode not in ROWS_MODES:
            raise ValueError(f"rows={mode!r} must be one of {', '.join(ROWS_MODES)}")
        extra = environ.get(ENV_REDACT_KEYS)
        keys = DEFAULT_REDACT_KEYS + (parse_list(extra) if extra else ())
        if redact_keys is not None:
            keys += check_redact_keys(redact_keys)
        if only_root_spans is not None and not isinstance(only_root_spans, bool):
            raise TypeError(
                f"only_root_spans must be True or False, got {type(only_root_spans).__name__}"
            )
        if spool_dir is not None and not isinstance(spool_dir, (str, os.PathLike)):
            raise TypeError(f"spool_dir must be a path, got {type(spool_dir).__name__}")
        if key is not None and not isinstance(key, str):
            raise TypeError("api_key must be a str")
        if not isinstance(url, str):
            raise TypeError("base_url must be a str")
        if dataset is not None and (not isinstance(dataset, str) or not dataset):
            raise TypeError("dataset_id must be a non-empty str")
        if rpm is None:
            rpm = 0.0 if _is_loopback(url) else DEFAULT_REQUESTS_PER_MINUTE
        if isinstance(rpm, bool) or not isinstance(rpm, (int, float)):
            raise TypeError(f"requests_per_minute must be a number, got {type(rpm).__name__}")
        if not rpm >= 0 or not math.isfinite(rpm):
            raise ValueError(f"requests_per_minute={rpm} must be >= 0 (and finite)")
        spool_default = spool is None
        if spool is None:
            spool = default_spool_dir(environ, destination_key(url, key))
        elif str(os.fspath(spool)).strip().lower() in SPOOL_OFF:  # type: ignore[call-overload]
            spool = None
        return cls(
            api_key=key or None,
            base_url=url,
            dataset_id=dataset,
            batch_size=number("batch_size", MAX_BATCH_SIZE if size is None else size, 1, 500),
            max_request_bytes=number(
                "max_request_bytes",
                DEFAULT_MAX_REQUEST_BYTES if request_bytes is None else request_bytes,
                1024,
            ),
            requests_per_minute=float(rpm),
            export_timeout=seconds(
                "export_timeout", DEFAULT_EXPORT_TIMEOUT_SECONDS if deadline is None else deadline
            ),
            request_timeout=seconds(
                "request_timeout",
                DEFAULT_REQUEST_TIMEOUT_SECONDS if per_request is None else per_request,
            ),
            spool_dir=None if spool is None else os.fspath(spool),  # type: ignore[call-overload]
            spool_max_bytes=number(
                "spool_max_bytes",
                DEFAULT_SPOOL_MAX_BYTES if spool_bytes is None else spool_bytes,
                1024,
            ),
            only_root_spans=mode == "roots",
            rows=mode,  # type: ignore[arg-type]  # checked against ROWS_MODES above
            redact_keys=keys,
            spool_is_default=spool_default,
        )
