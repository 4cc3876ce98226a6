"""Where a span's attributes become a row's ``input`` and ``output``, per kind of step.

One module per convention, each reading its own attribute names:

- :mod:`.respan` — our ``@trace``/``span()`` attributes (always win);
- :mod:`.genai` — OpenTelemetry GenAI semconv, latest-experimental and older forms;
- :mod:`.openinference` — OpenInference (Arize);
- :mod:`.traceloop` — Traceloop/OpenLLMetry and respan-tracing;
- :mod:`.frameworks` — LangChain blobs, chain envelopes, raw provider responses: the
  last resort when a span has no structured content.

:func:`log_type` decides the kind of step; :func:`content` gives its input and output in
the one shape per kind (see ``docs/conventions.md``). The rest of a row (metadata,
metrics) is assembled in :mod:`respan_otel._export._mapping`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from respan_otel._export.conventions import frameworks, genai, openinference, respan, traceloop
from respan_otel._export.conventions._common import MISSING, system_first
from respan_otel._export.conventions._reader import Reader

__all__ = ["MISSING", "Reader", "content", "log_type"]


def log_type(attributes: Mapping[str, Any]) -> str:
    """The row's ``log_type``: ours, else OpenInference's, Traceloop's, then GenAI's kind."""
    own = respan.kind(attributes)
    if own is not None:
        return own
    oi_kind = attributes.get(openinference.SPAN_KIND)
    if isinstance(oi_kind, str):
        return openinference.KINDS.get(oi_kind.upper(), "custom")
    tl_kind = traceloop.kind(attributes)
    if tl_kind is not None:
        return tl_kind
    operation = attributes.get(genai.OPERATION)
    if isinstance(operation, str):
        return genai.OPERATION_KINDS.get(operation, "custom")
    return "custom"


def content(reader: Reader, kind: str) -> tuple[Any, Any]:
    """The step's input and output (``MISSING`` when not recorded), not yet cleaned."""
    reader_for = _READERS.get(kind, _generic)
    return reader_for(reader)


def _blob_input(reader: Reader) -> Any:
    found = openinference.value(reader, openinference.INPUT_VALUE)
    if found is MISSING:
        found = traceloop.entity_input(reader)
    return found


def _blob_output(reader: Reader) -> Any:
    found = openinference.value(reader, openinference.OUTPUT_VALUE)
    if found is MISSING:
        found = traceloop.entity_output(reader)
    return found


def _llm(reader: Reader) -> tuple[Any, Any]:
    messages = genai.input_messages(reader)
    if messages is MISSING:
        messages = openinference.input_messages(reader)
    system = genai.system(reader)
    if messages is MISSING and not system:
        step_input = frameworks.unblob(_blob_input(reader))
    else:
        step_input = {"messages": system_first(system, [] if messages is MISSING else messages)}
        tools = _first_found(reader, (genai.tools, openinference.tools, traceloop.tools))
        if tools is not MISSING:
            step_input["tools"] = tools
    output = genai.output_messages(reader)
    if output is MISSING:
        output = openinference.output_messages(reader)
    if output is MISSING:
        output = frameworks.provider_response(frameworks.unblob(_blob_output(reader)))
    elif len(output) == 1:
        output = output[0]
    return step_input, output


def _first_found(reader: Reader, readers: Any) -> Any:
    for read in readers:
        found = read(reader)
        if found is not MISSING:
            return found
    return MISSING


def _retriever(reader: Reader) -> tuple[Any, Any]:
    query = reader.attributes.get(openinference.RERANK_QUERY)
    step_input = frameworks.unwrap(_blob_input(reader)) if query is None else query
    output = openinference.documents(reader)
    if output is MISSING:
        output = frameworks.documents(frameworks.unwrap(_blob_output(reader)))
    return step_input, output


def _embedding(reader: Reader) -> tuple[Any, Any]:
    texts, summary = openinference.embedding(reader)
    if texts is MISSING:
        raw = _blob_input(reader)
        texts = raw.get("input", MISSING) if isinstance(raw, dict) else raw
    return texts, summary  # never output.value: it may hold the vectors


def _tool(reader: Reader) -> tuple[Any, Any]:
    arguments, result = genai.tool_io(reader)
    if arguments is MISSING:
        arguments = frameworks.unwrap(_blob_input(reader))
    if result is MISSING:
        result = frameworks.unwrap(_blob_output(reader))
    return arguments, result


def _generic(reader: Reader) -> tuple[Any, Any]:
    return frameworks.unwrap(_blob_input(reader)), frameworks.unwrap(_blob_output(reader))


_READERS: Final = {
    "llm": _llm,
    "retriever": _retriever,
    "embedding": _embedding,
    "tool": _tool,
}
