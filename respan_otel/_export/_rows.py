"""Which finished spans become dataset rows, and what a row adds up from the spans
beneath it.

The exporter (and the gateway) hand every finished span to :class:`RowBuilder` and send
what comes back; nothing else decides what a row is. Per span, in order:

1. map it (:func:`._mapping.map_span`); compute its cost when it reports none (``cost``
   extra, :mod:`._cost`);
2. one model call is one row: an LLM span wrapping LLM spans, a second span with the
   same response id, or a provider SDK's own span beside an active instrumentor is a
   ``"duplicate"``, and its tokens are not counted again;
3. add its calls to the totals waiting for its parent (:mod:`._totals`), so every row
   with LLM calls beneath it carries their tokens, cost and ``llm_calls``, through
   spans dropped as plumbing;
4. choose: ``useful`` keeps roots, our own spans, LLM, tool, retriever, embedding,
   agent, guardrail and evaluator steps, and drops the rest as ``"plumbing"`` (spans of
   private methods too) and empty steps (framework roots with only reprs and nothing
   beneath them too) as ``"no-content"``; ``all`` keeps every span with content; ``roots`` roots;
5. fill a root's missing input/output with the run's first user message
   and final answer; strip all content when capture is off; run ``before_send``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan

from respan_otel._export import _cost, _sources, conventions
from respan_otel._export._mapping import (
    NO_INPUT,
    BeforeSend,
    MappedLog,
    apply_before_send,
    has_content,
    is_root,
    map_span,
    plain,
)
from respan_otel._export._totals import (
    DEFAULT_MAX_AGE_SECONDS,
    DEFAULT_MAX_ENTRIES,
    PendingTotals,
    Totals,
    answer_of,
    fill_run_io,
    question_of,
)
from respan_otel._export.conventions import frameworks, genai, openinference, respan
from respan_otel._log import log_internal_error
from respan_otel._redact import Redactor
from respan_otel._settings import RowsMode, capture_settings

logger = logging.getLogger("respan_otel")

KEPT_KINDS: Final = frozenset(
    {"llm", "tool", "retriever", "embedding", "agent", "guardrail", "evaluator"}
)
"""Kinds of foreign steps the ``useful`` setting keeps (workflows, tasks, chains and
custom spans of other instrumentations are framework plumbing unless they are roots)."""
USAGE_KINDS: Final = frozenset({"llm", "embedding"})
MAX_CALL_IDS: Final = 4096
"""Response ids remembered to recognise a second span of the same model call."""
_LEADING_ID: Final = re.compile(r'\s*\{\s*"id"\s*:\s*"([^"\\]{1,200})"')
INCOMPLETE_TOTALS_NOTE: Final = (
    "respan_otel: %d rows were sent with only part of their run totals (metadata "
    "totals_incomplete=true): the tokens and cost of calls beneath them were let go "
    f"because more than {DEFAULT_MAX_ENTRIES} parent spans were waiting for them at once "
    f"or a run was silent over {int(DEFAULT_MAX_AGE_SECONDS // 60)} minutes; end "
    "long-running parent spans sooner (or sum the run's LLM rows for its totals)"
)
"""The log line (its argument: the rows) when :attr:`RowBatch.incomplete_totals` > 0."""


@dataclass
class RowBatch:
    """The rows made from one sequence of spans, and why the other spans made none."""

    rows: list[MappedLog] = field(default_factory=list)
    # reason -> spans: "no-content", "not-root", "plumbing", "duplicate", "before-send",
    # "before-send-type", "mapping-error"
    not_rows: Counter[str] = field(default_factory=Counter)
    incomplete_totals: int = 0
    """Rows that miss part of their run totals because the waiting state was full."""


class RowBuilder:
    """Maps spans to rows. ``build`` never raises: a span it cannot map is counted."""

    def __init__(
        self,
        *,
        rows: RowsMode = "useful",
        redactor: Redactor | None = None,
        before_send: BeforeSend | None = None,
        capture_content: bool | None = None,
        pending: PendingTotals | None = None,
        splice: bool = False,
    ) -> None:
        """``splice``: our own spans' input/output JSON stays the text our serializer
        wrote, for :func:`._encode.encode` to write as is (the exporter's rows, which
        go nowhere else; ``before_send`` still receives data)."""
        self.rows = rows
        self._splice = splice
        self._redactor = redactor
        self._before_send = before_send
        self._capture = capture_content
        self._pending = PendingTotals() if pending is None else pending
        self._call_ids: OrderedDict[tuple[int, str], None] = OrderedDict()
        self._warned_scopes: set[str] = set()
        self._lock = threading.Lock()

    def build(self, spans: Sequence[ReadableSpan]) -> RowBatch:
        batch = RowBatch()
        capture = capture_settings().capture_content if self._capture is None else self._capture
        with self._lock:
            self._pending.expire()
            for span in spans:
                try:
                    self._one(span, batch, capture)
                except Exception as exc:
                    log_internal_error("mapping a span to a dataset row (the row was dropped)", exc)
                    batch.not_rows["mapping-error"] += 1
        return batch

    def _one(self, span: ReadableSpan, batch: RowBatch, capture: bool) -> None:
        context = span.context
        below = self._pending.take((context.trace_id, context.span_id)) if context else None
        attributes = plain(span)
        if not has_content(attributes):
            self._forward(span, below)
            batch.not_rows["no-content"] += 1
            return
        kind = conventions.log_type(attributes)
        own = respan.is_own(attributes)
        if not own and kind not in USAGE_KINDS:
            early = self._plumbing(span, kind)
            if early is not None:  # no row whatever its content: not mapped at all
                self._forward(span, below)
                batch.not_rows[early] += 1
                return
        mapped = map_span(span, attributes, self._redactor, kind, splice=own and self._splice)
        body = mapped.body
        metadata, metrics = body["metadata"], body["metrics"]
        up = below  # what this span adds to its parent's totals
        duplicate = False
        if kind in USAGE_KINDS:
            _cost.add_cost(span, metadata, metrics)
            wraps_calls = below is not None and below.llm_calls > 0
            if not own:  # our spans are never a second span of one call
                duplicate = wraps_calls or self._seen_call(span, attributes)
            # nothing to add up when nothing waits beneath and no parent here will read it
            if not duplicate and not wraps_calls and (below is not None or _has_parent(span)):
                up = up or Totals()
                up.add_call(metrics, llm=kind == "llm")
                if kind == "llm":
                    up.add_io(*question_of(body, span), *answer_of(body, span))
        reason = self._reason(span, kind, own, duplicate, body, below)
        if reason is None and not own and kind in KEPT_KINDS:
            up = up or Totals()
            up.steps += 1  # so a framework root above knows a step ran beneath it
        self._forward(span, up)
        if reason is not None:
            batch.not_rows[reason] += 1
            return
        if below is not None:
            if below.llm_calls or below.costed or below.total_tokens:
                for name, value in below.metrics().items():
                    metrics.setdefault(name, value)
            if below.incomplete:
                metadata["totals_incomplete"] = True
                batch.incomplete_totals += 1
            if is_root(span):
                fill_run_io(body, below)
        if not capture:
            body["input"] = NO_INPUT
            body.pop("output", None)
        elif kind == "llm" and not own and body["input"] == NO_INPUT and "output" not in body:
            self._warn_no_content(span)
        kept, drop_reason = apply_before_send(mapped, self._before_send)
        if kept is None:
            batch.not_rows[drop_reason or "before-send"] += 1
        else:
            batch.rows.append(kept)

    def _plumbing(self, span: ReadableSpan, kind: str) -> str | None:
        """What :meth:`_reason` says of a foreign span that is no model call, when that
        does not depend on its content."""
        if self.rows == "all":
            return None
        root = is_root(span)
        if self.rows == "roots":
            return None if root else "not-root"
        if root:
            return None
        return "plumbing" if kind not in KEPT_KINDS or _private(span.name) else None

    def _reason(
        self,
        span: ReadableSpan,
        kind: str,
        own: bool,
        duplicate: bool,
        body: dict[str, Any],
        below: Totals | None,
    ) -> str | None:
        """Why the span is not a row under the rows setting, or ``None``: it is one."""
        if self.rows == "all":
            return None
        root = is_root(span)
        if self.rows == "roots":
            return None if root else "not-root"
        if own:
            return None
        if duplicate:  # even a root: the call has its row already
            return "duplicate"
        if kind not in KEPT_KINDS:
            if not root:
                return "plumbing"
            ran = below is not None and (below.steps or below.llm_calls or below.incomplete)
            # a framework root with nothing beneath it and only reprs for content (index
            # building: a text splitter turning <Document ...> into <TextNode ...>)
            return None if ran or not _only_reprs(body) else "no-content"
        if root:
            return None
        if _private(span.name):
            return "plumbing"
        empty = body["input"] == NO_INPUT and "output" not in body
        if empty and "total_tokens" not in body["metrics"] and kind != "llm":
            return "no-content"
        return None

    def _forward(self, span: ReadableSpan, totals: Totals | None) -> None:
        """Hands ``totals`` to the span's parent, when it has one in this process."""
        parent = span.parent
        if totals is None or parent is None or parent.is_remote or not totals.worth_keeping:
            return
        self._pending.give((parent.trace_id, parent.span_id), totals)

    def _seen_call(self, span: ReadableSpan, attributes: dict[str, Any]) -> bool:
        """Whether another span already stood for this model call."""
        scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
        if scope in _sources.SDK_TWINS and _sources.twin_is_traced(scope):
            return True
        found = _call_id(attributes)
        if found is None:
            return False
        # within one trace: the same call seen twice (ids from stubs may repeat across runs)
        call_id = (span.context.trace_id if span.context else 0, found)
        if call_id in self._call_ids:
            return True
        self._call_ids[call_id] = None
        if len(self._call_ids) > MAX_CALL_IDS:
            self._call_ids.popitem(last=False)
        return False

    def _warn_no_content(self, span: ReadableSpan) -> None:
        scope = span.instrumentation_scope.name if span.instrumentation_scope else "unknown"
        if scope in self._warned_scopes or len(self._warned_scopes) > 100:
            return
        self._warned_scopes.add(scope)
        logger.warning(
            "respan_otel: LLM spans from %s carry no prompts or completions, so their rows "
            "have model and tokens but no input or output; to record them set %s",
            scope,
            _sources.content_setting(scope),
        )


def _has_parent(span: ReadableSpan) -> bool:
    """Whether the span has a parent in this process (one its totals go to)."""
    return span.parent is not None and not span.parent.is_remote


def _only_reprs(body: dict[str, Any]) -> bool:
    """Whether a row's input and output hold nothing but object reprs (or nothing)."""
    return frameworks.only_reprs(body["input"]) and frameworks.only_reprs(body.get("output"))


def _private(name: str) -> bool:
    """A span named after a private method (``VectorIndexRetriever._retrieve``): the
    internals of the public call whose span wraps it, which is the row."""
    return name.rpartition(".")[2].startswith("_")


def _call_id(attributes: dict[str, Any]) -> str | None:
    found = attributes.get(genai.RESPONSE_ID)
    if isinstance(found, str) and found:
        return found
    raw = attributes.get(openinference.OUTPUT_VALUE)
    if isinstance(raw, str):
        match = _LEADING_ID.match(raw, 0, 300)
        if match:
            return match.group(1)
    return None
