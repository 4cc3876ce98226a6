"""Log bodies to request bytes: compact UTF-8 JSON, and requests within both caps."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from respan_otel._export.conventions.respan import OwnJSON, native
from respan_otel._serialize import to_jsonable

BODY_OVERHEAD: Final = len(b'{"logs":[]}')
"""Bytes of a bulk request body around its logs."""

_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; values standard JSON cannot hold go through the serializer.

    Our own JSON text (:class:`OwnJSON`, top-level input/output) is written as is when
    it is strict JSON, else as the data it holds. Lone surrogates (which Python strings
    may hold and UTF-8 cannot) become U+FFFD.
    """
    try:
        if type(body.get("input")) is OwnJSON or type(body.get("output")) is OwnJSON:
            text = _spliced(body)
        else:
            text = _ENCODER.encode(body)
    except (TypeError, ValueError, RecursionError):
        plain = {key: native(value) for key, value in body.items()}
        text = json.dumps(to_jsonable(plain), ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def _spliced(body: Mapping[str, Any]) -> str:
    """``body`` as JSON text, our own JSON text written in place, the rest encoded in
    order (the same text the data would encode to: compact, as our serializer writes)."""
    parts: list[str] = []
    rest: dict[str, Any] = {}
    for key, value in body.items():
        if type(value) is OwnJSON:
            raw = value.spliceable()
            if raw is not None:
                if rest:
                    parts.append(_ENCODER.encode(rest)[1:-1])  # without its braces
                    rest = {}
                parts.append(f"{_ENCODER.encode(key)}:{raw}")
                continue
            value = value.value()
        rest[key] = value
    if rest:
        parts.append(_ENCODER.encode(rest)[1:-1])
    return "{" + ",".join(parts) + "}"


def request_body(logs: Sequence[bytes]) -> bytes:
    """The bulk request body holding ``logs`` (each already encoded)."""
    return b'{"logs":[' + b",".join(logs) + b"]}"


def take_request(logs: Sequence[bytes], *, batch_size: int, max_bytes: int) -> int:
    """How many of the first ``logs`` fit one request (at least one)."""
    size = BODY_OVERHEAD
    for count, item in enumerate(logs):
        extra = len(item) + (1 if count else 0)
        if count and (count >= batch_size or size + extra > max_bytes):
            return count
        size += extra
    return len(logs)


def chunks(logs: Sequence[bytes], *, batch_size: int, max_bytes: int) -> Iterator[list[bytes]]:
    """Consecutive runs of ``logs`` within both the count and the byte cap."""
    start = 0
    while start < len(logs):
        count = take_request(logs[start:], batch_size=batch_size, max_bytes=max_bytes)
        yield list(logs[start : start + count])
        start += count
