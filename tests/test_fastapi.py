"""A traced FastAPI route keeps its parameters; a traced generator streams correctly."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from respan_otel import trace
from tests.conftest import by_name


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/answer/{item_id}")
    @trace(kind="workflow")
    async def answer(item_id: int, q: str = "none") -> dict[str, object]:
        return {"item_id": item_id, "q": q}

    @trace(name="tokens")
    async def tokens(n: int):
        for i in range(n):
            yield f"t{i} "

    @app.get("/stream")
    async def stream(n: int = 3) -> StreamingResponse:
        return StreamingResponse(tokens(n), media_type="text/plain")

    return app


def test_route_parameters_are_validated_and_recorded(exporter):
    with TestClient(build_app()) as client:
        ok = client.get("/answer/7", params={"q": "hi"})
        bad = client.get("/answer/not-a-number")
    assert ok.json() == {"item_id": 7, "q": "hi"}
    assert bad.status_code == 422, "the route must still see item_id: int"
    (route_span,) = [s for s in exporter.get_finished_spans() if s.name.endswith("answer")]
    assert json.loads(route_span.attributes["respan.input"]) == {"item_id": 7, "q": "hi"}
    openapi = build_app().openapi()
    params = {p["name"] for p in openapi["paths"]["/answer/{item_id}"]["get"]["parameters"]}
    assert params == {"item_id", "q"}


def test_streaming_a_traced_generator(exporter, caplog):
    caplog.set_level(logging.DEBUG, logger="opentelemetry.context")
    with TestClient(build_app()) as client:
        body = client.get("/stream", params={"n": 4}).text
    assert body == "t0 t1 t2 t3 "
    span = by_name(exporter.get_finished_spans(), "tokens")
    assert json.loads(span.attributes["respan.output"]) == ["t0 ", "t1 ", "t2 ", "t3 "]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
