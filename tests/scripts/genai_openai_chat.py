"""Child process for tests/test_genai_openai.py: real openai-v2 instrumentation, real client.

Run as ``python genai_openai_chat.py CONFIG_JSON`` in a fresh interpreter, so the
instrumentor's global patches and the ``OTEL_INSTRUMENTATION_GENAI_*`` variables (read
when the instrumentor and its telemetry handler are built) apply to this process only.

CONFIG_JSON: ``stub`` (the OpenAI stub's root URL), ``respan`` (a LocalRespan base URL),
``api_key``, ``dataset_id``, ``model``, ``messages``, ``sessions`` (session ids for the
plain and the streamed call). The script sends one plain and one streamed chat
completion, each inside ``propagate(session_id=...)``, through a provider with
``PropagationSpanProcessor``, an in-memory exporter and ``SimpleSpanProcessor(
RespanDatasetExporter(...))``, shuts down, and prints one ``RESULT {json}`` line: the
answers, every finished span (name, kind, scope, attributes) and the exporter's stats.
"""

from __future__ import annotations

import json
import sys
from typing import Any

RESULT_MARK = "RESULT "


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def main() -> None:
    config = json.loads(sys.argv[1])

    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import respan_otel

    provider = TracerProvider()
    provider.add_span_processor(respan_otel.PropagationSpanProcessor())
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    exporter = respan_otel.RespanDatasetExporter(
        api_key=config["api_key"],
        base_url=config["respan"],
        dataset_id=config["dataset_id"],
        requests_per_minute=0,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    client = openai.OpenAI(
        base_url=config["stub"] + "/v1", api_key="test", max_retries=0, timeout=10.0
    )
    plain_session, stream_session = config["sessions"]
    try:
        with respan_otel.propagate(session_id=plain_session):
            completion = client.chat.completions.create(
                model=config["model"],
                messages=config["messages"],
                temperature=0.2,
                max_tokens=64,
            )
        with respan_otel.propagate(session_id=stream_session):
            stream = client.chat.completions.create(
                model=config["model"],
                messages=config["messages"],
                stream=True,
                stream_options={"include_usage": True},
            )
            pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    finally:
        client.close()
        instrumentor.uninstrument()
        provider.shutdown()

    spans = [
        {
            "name": span.name,
            "kind": span.kind.name,
            "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
            "attributes": {key: _plain(value) for key, value in (span.attributes or {}).items()},
        }
        for span in memory.get_finished_spans()
    ]
    result = {
        "answer": completion.choices[0].message.content,
        "streamed": "".join(pieces),
        "spans": spans,
        "stats": exporter.stats.snapshot(),
    }
    print(RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
