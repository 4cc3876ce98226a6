"""The gateway's HTTP surface, an ASGI app: OTLP/HTTP traces in, health and counters out.

``POST /v1/traces``  OTLP/HTTP (protobuf or JSON, optionally gzip), Bearer token required;
                     200 only once the request is journalled and fsynced, 429/503 with
                     ``Retry-After`` when the gateway cannot take it now.
``GET /healthz``     the process is serving (liveness).
``GET /readyz``      it can take traffic now: journal open and not full, delivery running.
``GET /stats``       counters as JSON; ``GET /metrics`` the same for Prometheus.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection
from typing import Protocol

from anyio import to_thread
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from respan_otel.gateway._decode import (
    JSON,
    PROTOBUF,
    BadRequestError,
    TooLargeError,
    UnsupportedMediaError,
    media_type,
)
from respan_otel.gateway._stats import Snapshot, prometheus_text

_METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Receiver(Protocol):
    """What the app needs from the gateway behind it."""

    closing: bool
    retry_after: int
    max_body_bytes: int

    def accept(self, body: bytes, encoding: str, kind: str) -> int:
        """Make the request durable; the number of spans. Raises on refusal."""

    def count(self, outcome: str) -> None: ...

    def readiness(self) -> dict[str, bool]: ...

    def snapshot(self) -> Snapshot: ...


class Throttled(Exception):  # noqa: N818 (an answer, not a failure)
    """Answer 429 (journal full) or 503 (cannot write now) with Retry-After."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def build_app(receiver: Receiver, tokens: Collection[str]) -> Starlette:
    """The ASGI application; ``tokens`` are the client tokens accepted as Bearer."""
    secrets = [token.encode() for token in tokens]
    if not secrets:
        raise ValueError("the gateway needs at least one client token")

    def authorized(header: str | None) -> bool:
        scheme, _, credential = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not credential:
            return False
        given = credential.strip().encode()
        # compare with every token, so timing does not tell which one nearly matched
        return sum(hmac.compare_digest(given, secret) for secret in secrets) > 0

    async def traces(request: Request) -> Response:
        if not authorized(request.headers.get("authorization")):
            receiver.count("unauthorized")
            return PlainTextResponse(
                "a client token is required: Authorization: Bearer <token> "
                "(OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<token>)",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            kind = media_type(request.headers.get("content-type", ""))
            if receiver.closing:
                raise Throttled(503, "the gateway is shutting down")
            body = await _read_body(request, receiver.max_body_bytes)
            await to_thread.run_sync(
                receiver.accept, body, request.headers.get("content-encoding", ""), kind
            )
        except UnsupportedMediaError as exc:
            return _refuse(receiver, "unsupported", 415, str(exc))
        except TooLargeError as exc:
            return _refuse(receiver, "too_large", 413, str(exc))
        except BadRequestError as exc:
            return _refuse(receiver, "bad_request", 400, str(exc))
        except Throttled as exc:
            outcome = "throttled" if exc.status == 429 else "unavailable"
            headers = {"Retry-After": str(receiver.retry_after)}
            return _refuse(receiver, outcome, exc.status, str(exc), headers)
        if kind == JSON:
            return Response(b"{}", media_type=JSON)
        # no partial_success: every span was kept
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = receiver.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"ready": ready, "checks": checks},
            status_code=200 if ready else 503,
            headers=None if ready else {"Retry-After": str(receiver.retry_after)},
        )

    async def stats(request: Request) -> Response:
        return JSONResponse(receiver.snapshot())

    async def metrics(request: Request) -> Response:
        return Response(prometheus_text(receiver.snapshot), media_type=_METRICS_TYPE)

    return Starlette(
        routes=[
            Route("/v1/traces", traces, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"the body is over the gateway's cap of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"the body is over the gateway's cap of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(
    receiver: Receiver,
    outcome: str,
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    receiver.count(outcome)
    return PlainTextResponse(message, status_code=status, headers=headers)
