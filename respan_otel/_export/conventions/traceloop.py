"""Traceloop/OpenLLMetry (and respan-tracing, built on it): ``traceloop.entity.input`` /
``traceloop.entity.output`` envelopes, span kinds, association properties and the
``llm.request.functions.N.*`` tool definitions. Its messages use the GenAI conventions
(:mod:`.genai`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from respan_otel._export.conventions import genai
from respan_otel._export.conventions._common import MISSING
from respan_otel._export.conventions._reader import Reader

SPAN_KIND: Final = "traceloop.span.kind"
ENTITY_INPUT: Final = "traceloop.entity.input"
ENTITY_OUTPUT: Final = "traceloop.entity.output"
REQUEST_TYPE: Final = "llm.request.type"
FUNCTIONS: Final = "llm.request.functions."

SPAN_KINDS: Final = frozenset({"workflow", "task", "agent", "tool"})
REQUEST_KINDS: Final[Mapping[str, str]] = {
    "chat": "llm",
    "completion": "llm",
    "embedding": "embedding",
    "rerank": "retriever",
}

_ENVELOPE_EXTRAS: Final = frozenset({"tags", "metadata", "kwargs"})
_OUTPUT_ENVELOPE: Final = frozenset({"outputs", "kwargs"})


def entity_input(reader: Reader) -> Any:
    """The entity input without Traceloop's ``{"inputs", "tags", "metadata", "kwargs"}``."""
    value = reader.json(ENTITY_INPUT)
    if isinstance(value, dict) and "tags" in value and "kwargs" in value:
        data = value.keys() - _ENVELOPE_EXTRAS
        if len(data) == 1:  # "inputs", or "query" for a retriever
            return value[next(iter(data))]
    if isinstance(value, dict) and value.keys() == {"args", "kwargs"}:
        # the SDK's decorators: positional arguments, then keyword ones
        args, kwargs = value["args"], value["kwargs"]
        if not args:
            return kwargs
        if not kwargs and isinstance(args, list) and len(args) == 1:
            return args[0]
    return value


def entity_output(reader: Reader) -> Any:
    value = reader.json(ENTITY_OUTPUT)
    if isinstance(value, dict) and "outputs" in value and value.keys() <= _OUTPUT_ENVELOPE:
        return value["outputs"]
    return value


def tools(reader: Reader) -> Any:
    found = [item for item in reader.flat(FUNCTIONS) if isinstance(item, dict)]
    return found or MISSING


def kind(attributes: Mapping[str, Any]) -> str | None:
    """Traceloop's kind; a generic ``task`` yields to what the GenAI operation says."""
    span_kind = attributes.get(SPAN_KIND)
    if isinstance(span_kind, str) and span_kind in SPAN_KINDS:
        operation = attributes.get(genai.OPERATION)
        if span_kind == "task" and isinstance(operation, str):
            return genai.OPERATION_KINDS.get(operation, span_kind)
        return span_kind
    request_type = attributes.get(REQUEST_TYPE)
    if isinstance(request_type, str):
        return REQUEST_KINDS.get(request_type)
    return None
