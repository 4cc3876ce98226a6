"""Run totals: what the LLM calls beneath a span add up to, carried up to its ancestors.

Children end (and are exported) before their parents, possibly in an earlier export
batch, so each span's totals wait under its parent's id until the parent arrives. The
waiting state is bounded: at most ``max_entries`` parents, none idle longer than
``max_age`` seconds. A parent whose entry was evicted gets ``incomplete`` totals, which
its row says in its metadata.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan

from respan_otel._export._mapping import NO_INPUT
from respan_otel._export.conventions import respan

DEFAULT_MAX_ENTRIES: Final = 10_000
DEFAULT_MAX_AGE_SECONDS: Final = 1800.0
"""A run whose spans stay silent this long (30 minutes) loses the totals waiting for it."""

SpanKey = tuple[int, int]
"""(trace id, span id)."""


@dataclass(slots=True)
class Totals:
    """Tokens, cost and calls of LLM calls in a subtree, and the run's first question and
    final answer (with the times that order them)."""

    prompt_tokens: float = 0
    completion_tokens: float = 0
    total_tokens: float = 0
    cost: float = 0.0
    costed: bool = False
    llm_calls: int = 0
    steps: int = 0  # rows kept beneath
    incomplete: bool = False
    question: Any = None
    question_at: int = 0
    answer: Any = None
    answer_at: int = 0
    updated: float = 0.0

    def add_call(self, metrics: dict[str, Any], *, llm: bool) -> None:
        prompt = metrics.get("prompt_tokens", 0)
        completion = metrics.get("completion_tokens", 0)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        self.total_tokens += metrics.get("total_tokens", prompt + completion)
        if "cost" in metrics:
            self.cost += metrics["cost"]
            self.costed = True
        if llm:
            self.llm_calls += 1

    def add_io(self, question: Any, started: int, answer: Any, ended: int) -> None:
        if question is not None and (self.question is None or started < self.question_at):
            self.question, self.question_at = question, started
        if answer is not None and (self.answer is None or ended >= self.answer_at):
            self.answer, self.answer_at = answer, ended

    def merge(self, other: Totals) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.cost += other.cost
        self.costed = self.costed or other.costed
        self.llm_calls += other.llm_calls
        self.steps += other.steps
        self.incomplete = self.incomplete or other.incomplete
        self.add_io(other.question, other.question_at, other.answer, other.answer_at)

    @property
    def worth_keeping(self) -> bool:
        return bool(
            self.llm_calls or self.total_tokens or self.incomplete or self.costed or self.steps
        )

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "llm_calls": self.llm_calls,
        }
        if self.costed:
            out["cost"] = self.cost
        return out


class PendingTotals:
    """Totals waiting for their parent span, bounded in count and idle age."""

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        self.max_entries = max_entries
        self.max_age = max_age
        self._waiting: OrderedDict[SpanKey, Totals] = OrderedDict()
        self._evicted: OrderedDict[SpanKey, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._waiting)

    def take(self, key: SpanKey) -> Totals | None:
        """The totals waiting for ``key`` (marked incomplete if some were evicted)."""
        found = self._waiting.pop(key, None) if self._waiting else None
        if self._evicted and key in self._evicted:
            del self._evicted[key]
            found = found or Totals()
            found.incomplete = True
        return found

    def give(self, key: SpanKey, totals: Totals) -> None:
        """Adds ``totals`` to what waits for the span ``key``."""
        now = time.monotonic()
        waiting = self._waiting.get(key)
        if waiting is None:
            if len(self._waiting) >= self.max_entries:
                self._evict(next(iter(self._waiting)))
            totals.updated = now
            self._waiting[key] = totals
            return
        waiting.merge(totals)
        waiting.updated = now
        self._waiting.move_to_end(key)

    def expire(self) -> None:
        """Drops totals whose parent has been silent longer than ``max_age``."""
        limit = time.monotonic() - self.max_age
        while self._waiting:
            key, oldest = next(iter(self._waiting.items()))
            if oldest.updated >= limit:
                break
            self._evict(key)

    def _evict(self, key: SpanKey) -> None:
        del self._waiting[key]
        self._evicted[key] = None
        while len(self._evicted) > self.max_entries:
            self._evicted.popitem(last=False)


def question_of(body: dict[str, Any], span: ReadableSpan) -> tuple[Any, int]:
    """The first user message's content of an LLM row."""
    step_input = body["input"]
    if type(step_input) is respan.OwnJSON:
        if not step_input.mentions("messages"):
            return None, 0  # certain without parsing
        step_input = step_input.value()
    messages = step_input.get("messages") if isinstance(step_input, dict) else None
    if isinstance(messages, list):
        for item in messages:
            if isinstance(item, dict) and item.get("role") == "user" and "content" in item:
                return item["content"], span.start_time or 0
    return None, 0


def answer_of(body: dict[str, Any], span: ReadableSpan) -> tuple[Any, int]:
    """The assistant's text answer of an LLM row (``None`` for a tool-calling turn)."""
    output = body.get("output")
    if type(output) is respan.OwnJSON:
        if not output.mentions("assistant"):
            return None, 0  # certain without parsing
        output = output.value()
    if isinstance(output, list) and output:
        output = output[0]
    if isinstance(output, dict) and output.get("role") == "assistant":
        content = output.get("content")
        if isinstance(content, str) and content and not output.get("tool_calls"):
            return content, span.end_time or 0
    return None, 0


def fill_run_io(body: dict[str, Any], below: Totals) -> None:
    """A run row with no input/output of its own takes the question and final answer."""
    if body["input"] == NO_INPUT and below.question is not None:
        body["input"] = below.question
    if "output" not in body and below.answer is not None:
        body["output"] = below.answer
