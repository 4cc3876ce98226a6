"""OpenTelemetry GenAI semantic conventions: the latest-experimental JSON attributes
(``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``,
``gen_ai.tool.definitions``) and the older flattened ``gen_ai.prompt.N.*`` /
``gen_ai.completion.N.*`` that Traceloop/OpenLLMetry still writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from respan_otel._export.conventions._common import MISSING, joined_text, message, parse_maybe
from respan_otel._export.conventions._reader import Reader

INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
PROMPT_PREFIX: Final = "gen_ai.prompt."
COMPLETION_PREFIX: Final = "gen_ai.completion."
TOOL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
TOOL_RESULT: Final = "gen_ai.tool.call.result"
OPERATION: Final = "gen_ai.operation.name"
RESPONSE_ID: Final = "gen_ai.response.id"

OPERATION_KINDS: Final[Mapping[str, str]] = {
    "chat": "llm",
    "generate_content": "llm",
    "text_completion": "llm",
    "embeddings": "embedding",
    "retrieval": "retriever",
    "vector_db_retrieve": "retriever",  # Traceloop's LangChain retrievers
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "invoke_workflow": "workflow",
}

REQUEST_PARAMETERS: Final[Mapping[str, str]] = {
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.top_p": "top_p",
    "gen_ai.request.top_k": "top_k",
    "gen_ai.request.frequency_penalty": "frequency_penalty",
    "gen_ai.request.presence_penalty": "presence_penalty",
    "gen_ai.request.stop_sequences": "stop_sequences",
    "gen_ai.request.seed": "seed",
    "gen_ai.request.choice.count": "n",
}
"""Request options written as their own attributes, and their name in a row's metadata."""


def _from_parts(item: Any) -> dict[str, Any] | None:
    """One ``{"role", "parts": [...]}`` message in the row's message shape."""
    if not isinstance(item, dict):
        return None
    parts = item.get("parts")
    if not isinstance(parts, list):
        return message(item.get("role"), item.get("content", MISSING))
    calls = [p for p in parts if isinstance(p, dict) and p.get("type") == "tool_call"]
    responses = [p for p in parts if isinstance(p, dict) and p.get("type") == "tool_call_response"]
    rest = [p for p in parts if not isinstance(p, dict) or p.get("type") not in _TOOL_PARTS]
    if responses and not rest and not calls:
        answer = responses[0]
        return message("tool", answer.get("response"), tool_call_id=answer.get("id"))
    content = joined_text(rest) if rest else MISSING
    return message(item.get("role"), content, tool_calls=calls, name=item.get("name"))


_TOOL_PARTS: Final = frozenset({"tool_call", "tool_call_response"})


def _messages(value: Any) -> list[dict[str, Any]] | Any:
    if not isinstance(value, list):
        return MISSING
    out = [m for m in (_from_parts(item) for item in value) if m is not None]
    return out or MISSING


def system(reader: Reader) -> list[dict[str, Any]]:
    """``gen_ai.system_instructions`` as one system message (none when absent)."""
    value = reader.json(SYSTEM_INSTRUCTIONS)
    if value is MISSING:
        return []
    content = joined_text(value) if isinstance(value, list) else value
    return [message("system", content)]


def input_messages(reader: Reader) -> list[dict[str, Any]] | Any:
    found = _messages(reader.json(INPUT_MESSAGES))
    if found is MISSING:
        found = _flat(reader, PROMPT_PREFIX)
    return found


def output_messages(reader: Reader) -> list[dict[str, Any]] | Any:
    found = _messages(reader.json(OUTPUT_MESSAGES))
    if found is MISSING:
        found = _flat(reader, COMPLETION_PREFIX)
    return found


def _flat(reader: Reader, prefix: str) -> list[dict[str, Any]] | Any:
    """The older flattened form: ``gen_ai.prompt.0.role``, ``...0.content``, tool calls."""
    out = []
    for item in reader.flat(prefix):
        if not isinstance(item, dict):
            continue
        content = parse_maybe(item.get("content", MISSING))
        if isinstance(content, list):
            content = joined_text(content)
        calls = item.get("tool_calls")
        out.append(
            message(
                item.get("role"),
                content,
                tool_calls=calls if isinstance(calls, list) else (),
                tool_call_id=item.get("tool_call_id"),
            )
        )
    return out or MISSING


def tools(reader: Reader) -> Any:
    value = reader.json(TOOL_DEFINITIONS)
    return value if isinstance(value, list) else MISSING


def request_parameters(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {name: attributes[key] for key, name in REQUEST_PARAMETERS.items() if key in attributes}


def tool_io(reader: Reader) -> tuple[Any, Any]:
    """A tool call's parsed arguments and its result."""
    return reader.json(TOOL_ARGUMENTS), reader.json(TOOL_RESULT)
