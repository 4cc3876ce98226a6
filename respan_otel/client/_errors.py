"""The exceptions :class:`~respan_otel.RespanClient` raises.

Every error is a :class:`RespanError` and carries the request's ``method`` and ``path``
(the path only: never the host's credentials, never a header), the HTTP ``status_code``
(``None`` when no response arrived) and the server's ``detail``. Messages read like::

    POST /api/datasets/abc/logs/bulk/ -> 422: Validation error (input: This field is required.)

The API key is never part of a message, an attribute or an exception chain: transport
failures are re-raised without ``__cause__`` or ``__context__`` (the underlying
``requests`` exception holds the prepared request, headers included), and any text that
comes back from the server is scrubbed of the key before it is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from respan_otel.client._types import BulkResult

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RespanError",
    "ServerError",
    "ValidationError",
]


class RespanError(Exception):
    """Base class of every error raised by the Respan client.

    Also raised as is for statuses without a subclass (402, 405, 409, 413, an unexpected
    redirect) and for a successful response whose body is not the JSON that was expected.
    """

    method: str
    path: str
    status_code: int | None
    detail: str | None
    body: Any
    retry_after: float | None
    bulk_result: BulkResult | None
    """For :meth:`~respan_otel.client._client.DatasetLogs.bulk_create`: the combined result of the
    chunks written before this error, so a caller knows where to resume."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status_code: int | None = None,
        detail: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status_code = status_code
        self.detail = detail
        self.body = body
        self.retry_after = retry_after
        self.bulk_result = None

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "method": self.method,
            "path": self.path,
            "status_code": self.status_code,
            "detail": self.detail,
            "body": self.body,
            "retry_after": self.retry_after,
        }
        return (_rebuild, (type(self), self.message, kwargs))


def _rebuild(cls: type[RespanError], message: str, kwargs: dict[str, Any]) -> RespanError:
    """Unpickle helper: exceptions with keyword-only arguments need one."""
    return cls(message, **kwargs)


class AuthenticationError(RespanError):
    """401: the API key is missing, invalid or expired."""


class PermissionDeniedError(RespanError):
    """403: the key is valid but may not do this (another organisation's dataset, a plan limit)."""


class NotFoundError(RespanError):
    """404: no such dataset, log or experiment in this organisation."""


class ValidationError(RespanError):
    """400 or 422: the request was refused as invalid.

    ``errors`` holds the server's field errors when it gave any, as it gave them
    (usually ``{"field": ["message", ...]}``), else an empty dict.
    """

    errors: Mapping[str, Any]

    def __init__(
        self, message: str, *, errors: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.errors = dict(errors or {})

    def __reduce__(self) -> tuple[Any, ...]:
        rebuilt = super().__reduce__()
        kwargs = dict(rebuilt[1][2])
        kwargs["errors"] = self.errors
        return (_rebuild, (type(self), self.message, kwargs))


class RateLimitError(RespanError):
    """429: too many requests. ``retry_after`` is the wait the server asked for, in seconds
    (from the body's ``retry_after`` or the ``Retry-After`` header), or ``None``."""


class ServerError(RespanError):
    """5xx: the server failed. Safe to retry for reads; the client already did."""


class APIConnectionError(RespanError):
    """No response: the connection could not be made or was dropped mid-request.

    For a create request this means the outcome is unknown: the write may have happened.
    """


class APITimeoutError(APIConnectionError):
    """No response within the client's ``timeout``. Same caveat as its base class."""


def format_detail(detail: object, errors: object = None, *, limit: int = 300) -> str | None:
    """Render a server ``detail`` and field ``errors`` as one short line, or ``None``.

    ``{"detail": "Validation error", "errors": {"input": ["This field is required."]}}``
    becomes ``"Validation error (input: This field is required.)"``.
    """
    text = _flatten(detail) if detail is not None else ""
    extra = _flatten(errors) if errors else ""
    if extra:
        text = f"{text} ({extra})" if text else extra
    text = " ".join(text.split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            parts.append(f"{key}: {_flatten(item)}")
        return "; ".join(parts)
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return " ".join(_flatten(item) for item in value)
    return str(value)
