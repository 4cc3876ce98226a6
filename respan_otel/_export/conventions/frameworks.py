"""Framework envelopes and serialization blobs, turned back into the user's data.

Only used when a span has no structured content: LangChain's ``{"lc": 1, "type":
"constructor", ...}`` serializations and message dumps, its ``{"input": ...}`` /
``{"output": ...}`` chain envelopes, and raw provider responses (OpenAI's ``choices``,
Anthropic's content blocks) recorded as an LLM span's output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from respan_otel._export.conventions._common import joined_text, message

_MESSAGE_TYPES: Final[Mapping[str, str]] = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "chat": "user",
    "HumanMessage": "user",
    "AIMessage": "assistant",
    "AIMessageChunk": "assistant",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "HumanMessageChunk": "user",
    "ChatMessage": "user",
}
_SINGLE_KEYS: Final = frozenset({"input", "output", "query", "query_str", "question"})
_REPR: Final = re.compile(r"<[A-Za-z_][\w.]*[( ].*>", re.DOTALL)
"""An object's repr as frameworks print it: ``<TextNode(id_=...)>``, ``<object at 0x...>``."""
MAX_ITEMS: Final = 1000
"""Lists longer than this are not searched for blobs (a bound on the work per span)."""


def unwrap(value: Any) -> Any:
    """A one-key envelope's value, with LangChain blobs turned into messages."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key in _SINGLE_KEYS:
            value = value[key]
    return unblob(value)


def unblob(value: Any, depth: int = 0) -> Any:
    """LangChain serializations and message dumps as ``{"role", "content"}`` messages."""
    if depth > 3:
        return value
    if isinstance(value, list):
        if len(value) > MAX_ITEMS:
            return value
        # LangChain batches: [[message, ...]] for one prompt
        if len(value) == 1 and isinstance(value[0], list):
            return unblob(value[0], depth + 1)
        return [unblob(item, depth + 1) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("lc") == 1 and value.get("type") == "constructor":
        return _constructor(value, depth)
    found = _message_dump(value)
    if found is not None:
        return found
    if "generations" in value:
        return _generations(value["generations"], depth)
    if "messages" in value and len(value) <= 2:
        return {**value, "messages": unblob(value["messages"], depth + 1)}
    return value


def _constructor(value: Mapping[str, Any], depth: int) -> Any:
    ids = value.get("id")
    name = ids[-1] if isinstance(ids, list) and ids else ""
    kwargs = value.get("kwargs")
    if not isinstance(kwargs, dict):
        return value
    if name in _MESSAGE_TYPES:
        return _langchain_message(_MESSAGE_TYPES[name], kwargs)
    if "messages" in kwargs:  # a prompt value
        return unblob(kwargs["messages"], depth + 1)
    return {key: unblob(item, depth + 1) for key, item in kwargs.items()}


def _message_dump(value: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in _MESSAGE_TYPES:
        return None
    data = value.get("data")
    if isinstance(data, dict) and "content" in data:
        return _langchain_message(_MESSAGE_TYPES[kind], data)
    if "content" in value:
        return _langchain_message(_MESSAGE_TYPES[kind], value)
    return None


def _langchain_message(role: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    content = fields.get("content")
    if isinstance(content, list):
        content = joined_text(content)
    calls = fields.get("tool_calls")
    return message(
        role,
        content,
        tool_calls=[
            {"id": c.get("id"), "name": c.get("name"), "arguments": c.get("args")}
            for c in calls
            if isinstance(c, dict)
        ]
        if isinstance(calls, list)
        else (),
        tool_call_id=fields.get("tool_call_id"),
        name=fields.get("name"),
    )


def _generations(generations: Any, depth: int) -> Any:
    if isinstance(generations, list) and len(generations) == 1:
        generations = generations[0]
    if not isinstance(generations, list):
        return generations
    out = []
    for generation in generations:
        if isinstance(generation, dict) and "message" in generation:
            out.append(unblob(generation["message"], depth + 1))
        elif isinstance(generation, dict) and "text" in generation:
            out.append(message("assistant", generation["text"]))
    return out[0] if len(out) == 1 else out


def only_reprs(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds no data but object reprs (empty values count as none)."""
    if value is None or value == "":
        return True
    if isinstance(value, str):
        return _REPR.fullmatch(value) is not None
    if depth > 3:
        return False
    if isinstance(value, list) and len(value) <= MAX_ITEMS:
        return all(only_reprs(item, depth + 1) for item in value)
    if isinstance(value, dict) and len(value) <= MAX_ITEMS:
        return all(only_reprs(item, depth + 1) for item in value.values())
    return False


def documents(value: Any) -> Any:
    """LangChain documents (``page_content``), bare or under ``{"documents": [...]}``, as
    ``[{"content", "id", "metadata"}]``; anything else unchanged."""
    items = value.get("documents") if isinstance(value, dict) else value
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        return value
    out = []
    for item in items:
        if not isinstance(item, dict) or "page_content" not in item:
            return value
        document = {"content": item["page_content"]}
        if item.get("id") is not None:
            document["id"] = item["id"]
        if item.get("metadata"):
            document["metadata"] = item["metadata"]
        out.append(document)
    return out


def provider_response(value: Any) -> Any:
    """A raw chat response (OpenAI ``choices``, Anthropic content blocks) as the assistant
    message(s); anything else unchanged."""
    if not isinstance(value, dict):
        return value
    choices = value.get("choices")
    if isinstance(choices, list) and choices:
        found = [
            _openai_message(choice["message"])
            for choice in choices
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict)
        ]
        if found:
            return found[0] if len(found) == 1 else found
    content = value.get("content")
    if value.get("role") == "assistant" and isinstance(content, list):
        texts = [b for b in content if isinstance(b, dict) and b.get("type") == "text"]
        calls = [
            {"id": b.get("id"), "name": b.get("name"), "arguments": b.get("input")}
            for b in content
            if isinstance(b, dict) and b.get("type") == "tool_use"
        ]
        return message("assistant", joined_text(texts) if texts else None, tool_calls=calls)
    return value


def _openai_message(raw: Mapping[str, Any]) -> dict[str, Any]:
    calls = raw.get("tool_calls")
    return message(
        raw.get("role", "assistant"),
        raw.get("content"),
        tool_calls=calls if isinstance(calls, list) else (),
    )
