"""OpenInference (Arize): flattened ``llm.input_messages.N.message.*`` messages,
``retrieval.documents.N.document.*``, ``embedding.embeddings.N.embedding.*``, tools and
invocation parameters, and the ``input.value``/``output.value`` blobs as a last resort."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from respan_otel._export.conventions._common import MISSING, joined_text, message, parse, text
from respan_otel._export.conventions._reader import Reader

SPAN_KIND: Final = "openinference.span.kind"
INPUT_VALUE: Final = "input.value"
OUTPUT_VALUE: Final = "output.value"
INPUT_MESSAGES: Final = "llm.input_messages."
OUTPUT_MESSAGES: Final = "llm.output_messages."
TOOLS: Final = "llm.tools."
INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
DOCUMENTS: Final = "retrieval.documents."
RERANKED: Final = "reranker.output_documents."
RERANK_QUERY: Final = "reranker.query"
EMBEDDINGS: Final = "embedding.embeddings."
EMBEDDING_MODEL: Final = "embedding.model_name"
METADATA: Final = "metadata"

KINDS: Final[Mapping[str, str]] = {
    "LLM": "llm",
    "CHAIN": "workflow",
    "AGENT": "agent",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "EMBEDDING": "embedding",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
}

PARAMETERS: Final = frozenset(
    {
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "max_output_tokens",
        "top_p",
        "top_k",
        "frequency_penalty",
        "presence_penalty",
        "stop",
        "seed",
        "n",
        "reasoning_effort",
        "response_format",
        "tool_choice",
    }
)
"""Invocation parameters that go into a row's metadata (model names, keys and clients do not)."""


def _message(item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    content: Any = item.get("content", MISSING)
    contents = item.get("contents")
    if content is MISSING and isinstance(contents, list):
        content = joined_text(contents)
    calls = item.get("tool_calls")
    return message(
        item.get("role"),
        content,
        tool_calls=calls if isinstance(calls, list) else (),
        tool_call_id=item.get("tool_call_id"),
        name=item.get("name"),
    )


def _messages(reader: Reader, prefix: str) -> list[dict[str, Any]] | Any:
    out = [m for m in (_message(item) for item in reader.flat(prefix)) if m is not None]
    return out or MISSING


def input_messages(reader: Reader) -> list[dict[str, Any]] | Any:
    return _messages(reader, INPUT_MESSAGES)


def output_messages(reader: Reader) -> list[dict[str, Any]] | Any:
    return _messages(reader, OUTPUT_MESSAGES)


def tools(reader: Reader) -> Any:
    found = []
    for item in reader.flat(TOOLS):
        schema = item.get("json_schema") if isinstance(item, dict) else None
        if isinstance(schema, str):
            parsed = parse(schema)
            found.append(schema if parsed is MISSING else parsed)
    return found or MISSING


def request_parameters(reader: Reader) -> dict[str, Any] | None:
    """The invocation parameters a row keeps, cleaned (read-only: see ``json_dict``)."""
    return reader.json_dict(INVOCATION_PARAMETERS, PARAMETERS)


def value(reader: Reader, key: str) -> Any:
    """``input.value``/``output.value``: parsed when its mime type is JSON (or unset)."""
    raw = reader.attributes.get(key)
    if raw is None:
        return MISSING
    if not isinstance(raw, str):
        return raw
    mime = reader.attributes.get(key.replace(".value", ".mime_type"))
    if mime not in (None, "application/json"):
        return text(raw)
    parsed = parse(raw)
    return text(raw) if parsed is MISSING else parsed


def documents(reader: Reader) -> list[dict[str, Any]] | Any:
    """Retrieved (or reranked) documents as ``[{"content", "id", "score", "metadata"}]``."""
    items = reader.flat(RERANKED) or reader.flat(DOCUMENTS)
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        document = {key: item[key] for key in ("content", "id", "score") if key in item}
        metadata = item.get("metadata")
        if metadata is not None:
            document["metadata"] = _json_or_text(metadata)
        out.append(document)
    return out or MISSING


def _json_or_text(raw: Any) -> Any:
    if isinstance(raw, str):
        parsed = parse(raw)
        return raw if parsed is MISSING else parsed
    return raw


def embedding(reader: Reader) -> tuple[Any, Any]:
    """The embedded texts, and a summary of the vectors (count, dimensions), never them."""
    items = [item for item in reader.flat(EMBEDDINGS) if isinstance(item, dict)]
    texts = [item["text"] for item in items if "text" in item]
    vectors = [item["vector"] for item in items if "vector" in item]
    summary: Any = MISSING
    if items:
        summary = {"count": len(items)}
        if vectors and isinstance(vectors[0], (list, tuple)):
            summary["dimensions"] = len(vectors[0])
    return (texts or MISSING), summary
