"""Shared pieces of the local server: the API error type, JSON and time helpers."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Final

logger = logging.getLogger("respan_otel.local")

JSONObject = dict[str, object]


class ApiError(Exception):
    """An HTTP error answer, raised anywhere below the handler and rendered as JSON.

    The body is ``{"detail": detail}``, plus ``errors`` (field -> messages) when given and
    any ``extra`` keys (such as the bulk counters of an all-failed bulk request).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        extra: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = dict(errors) if errors else None
        self.extra = dict(extra) if extra else {}
        self.headers = dict(headers) if headers else {}

    def body(self) -> JSONObject:
        """The JSON body of the error response."""
        out: JSONObject = {"detail": self.detail}
        if self.errors is not None:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


def not_found(what: str) -> ApiError:
    """A 404 in the API's words."""
    return ApiError(404, f"{what} not found")


def dumps(value: object) -> str:
    """Compact JSON text, as stored in SQLite and sent over the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str | bytes) -> object:
    """Strict JSON parsing: ``NaN`` and ``Infinity`` are refused, as JSON requires."""
    return json.loads(text, parse_constant=_reject_constant)


def json_problem(value: object) -> str | None:
    """Why a parsed JSON value cannot be stored or sent back, or ``None`` when it can.

    Valid JSON text can still hold a number beyond a double (``1e400`` reads as infinity)
    or an unpaired UTF-16 surrogate escape (``"\\ud800"``), which no UTF-8 text can carry.
    """
    try:
        dumps(value).encode("utf-8")
    except ValueError as exc:
        if isinstance(exc, UnicodeEncodeError):
            return "text contains an unpaired UTF-16 surrogate escape (such as \\ud800)"
        return "a number is too large to be represented (such as 1e400)"
    except RecursionError:
        return "the value is nested too deeply"
    return None


def new_uuid() -> str:
    """A dashed UUID4 string, the form Respan issues dataset and experiment ids in."""
    return str(uuid.uuid4())


def new_log_id() -> str:
    """A 32-hex-digit id, the form Respan issues dataset log ``unique_id`` values in."""
    return uuid.uuid4().hex


def canonical_id(raw: str, *, dashed: bool) -> str:
    """The stored form of an id given in a path: UUIDs in any spelling map to one form."""
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        return raw
    return str(parsed) if dashed else parsed.hex


_DATETIME_RE: Final = re.compile(
    r"""^(\d{4})-(\d{2})-(\d{2})
        (?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?
        \s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$""",
    re.VERBOSE,
)


def format_time(moment: dt.datetime) -> str:
    """UTC ISO 8601 with microseconds and ``Z``: sorts and compares correctly as text."""
    utc = moment.astimezone(dt.timezone.utc)
    # not strftime: its %Y drops the zero padding of years before 1000 on some platforms
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"


def now_iso() -> str:
    """The current time in the stored form."""
    return format_time(dt.datetime.now(dt.timezone.utc))


def parse_time(value: str) -> str | None:
    """Parse an ISO 8601 date or date-time into the stored form; ``None`` if invalid.

    A value without an offset is taken as UTC. More than six fractional digits are cut.
    """
    match = _DATETIME_RE.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    # an offset of 24 h or more, or a date that leaves years 1-9999 once moved to UTC,
    # is invalid input, not a server error
    try:
        tz = dt.timezone.utc
        if offset and offset not in ("Z", "z"):
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
            tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
        return format_time(moment)
    except (ValueError, OverflowError):
        return None
