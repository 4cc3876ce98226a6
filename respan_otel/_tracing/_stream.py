"""The span side of a traced generator: opened on the first step, fed each item."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Tracer

from respan_otel import _attributes as attrs
from respan_otel._log import log_internal_error
from respan_otel._serialize import TRUNCATED_KEY, PlainList
from respan_otel._serialize._markers import measure
from respan_otel._tracing._handle import RespanSpan, record_end
from respan_otel._tracing._plan import Plan, open_span

_MARKER_ROOM: Final = 32
"""Bytes kept free under the cap for the truncation marker."""
_SCALAR_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _scalar_json(item: object, max_bytes: int) -> str | None:
    """JSON for a short str or a plain number straight from the C encoder, else ``None``.

    Streams mostly yield text chunks; skipping the general serializer for them halves
    the cost of a traced generator. Anything else (or too long) goes the general way.
    """
    kind = type(item)
    if kind is str:
        if len(item) * 4 > max_bytes:  # type: ignore[arg-type]
            return None
    elif kind not in (int, float, bool) and item is not None:
        return None
    try:
        return _SCALAR_ENCODER.encode(item)
    except ValueError:  # NaN, infinities, ints too long to print
        return None


class _StreamOutput:
    """Collects a generator's items as its output, bounded in count and in bytes.

    Each item is recorded as it was when yielded. Plain items are kept as snapshots
    (``PlainList``) and encoded all at once at the end; from the first other item, or once
    the kept ones reach the byte cap, every item is serialized when yielded. Either way
    the output is the same: ``[item, ...]``, a truncation marker last when items were
    dropped. A ``process_output`` hook gets the items themselves.
    """

    __slots__ = (
        "dropped",
        "fragments",
        "handle",
        "items",
        "kept",
        "max_bytes",
        "plan",
        "room",
        "size",
    )

    def __init__(self, handle: RespanSpan, plan: Plan) -> None:
        self.handle = handle
        self.plan = plan
        self.max_bytes = handle._settings.max_field_bytes
        hooked = plan.process_output is not None
        self.items: list[Any] | None = [] if hooked else None  # for the hook, as they are
        # the list as one text must leave the room item-by-item encoding keeps free
        self.kept = None if hooked else PlainList(self.max_bytes - _MARKER_ROOM - 1)
        self.fragments: list[str] = []
        self.size = 2  # the brackets
        self.room = handle._settings.max_stream_items  # items still taken; -1 once one is cut
        self.dropped = 0

    def add(self, item: object) -> None:
        """Record one item; never raises (it runs on the consumer's every step)."""
        try:
            if self.room <= 0:
                self.dropped += 1
                return
            self.room -= 1
            if self.items is not None:
                self.items.append(item)
                return
            kept = self.kept
            if kept is not None and kept.add(item):
                return
            self._encode_kept()
            self._encode(item)
        except Exception as exc:
            log_internal_error(f"capturing an item of {self.plan.name}", exc)

    def _encode_kept(self) -> None:
        kept, self.kept = self.kept, None
        for item in kept.items if kept is not None else ():
            self._encode(item)

    def _encode(self, item: object) -> None:
        if self.room < 0:  # cut: an item did not fit, so every later one is dropped too
            self.dropped += 1
            return
        fragment, size = measure(_scalar_json(item, self.max_bytes) or self.handle.dump(item))
        if self.size + size + 1 > self.max_bytes - _MARKER_ROOM:
            self.room = -1
            self.dropped += 1
        else:
            self.fragments.append(fragment)
            self.size += size + 1

    def json(self) -> str:
        if self.plan.process_output is not None:
            return self.handle.dump(self.plan.process_output(self.items))
        if self.kept is not None and not self.dropped:
            text = self.kept.json(self.handle.redactor)
            if text is not None:
                return text
        self._encode_kept()
        parts = self.fragments
        if self.dropped:
            parts = [*parts, f'{{"{TRUNCATED_KEY}":{self.dropped}}}']
        return "[" + ",".join(parts) + "]"


class StreamObserver:
    """Opens the span when the generator first runs (not when it is created)."""

    __slots__ = ("args", "handle", "instance", "kwargs", "output", "parent", "plan", "tracer")

    def __init__(
        self,
        tracer: Tracer,
        plan: Plan,
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.tracer = tracer
        self.plan = plan
        self.instance = instance
        self.args = args
        self.kwargs = kwargs
        self.parent = otel_context.get_current()  # the span's parent: where it was created
        self.handle: RespanSpan | None = None
        self.output: _StreamOutput | None = None

    def begin(self) -> Context:
        handle, ctx = open_span(
            self.tracer, self.plan, self.instance, self.args, self.kwargs, self.parent
        )
        self.args, self.kwargs = (), {}  # recorded: do not keep the arguments alive
        self.handle = handle
        if self.plan.capture_output and handle.captures_content:
            self.output = _StreamOutput(handle, self.plan)
        return ctx

    @property
    def recorder(self) -> Callable[[object], None] | None:
        return self.output.add if self.output is not None else None

    def end(self, exc: BaseException | None) -> None:
        handle = self.handle
        if handle is None:
            return
        if self.output is not None and not handle.output_set:
            try:
                handle.span.set_attribute(attrs.OUTPUT, self.output.json())
            except Exception as internal:
                log_internal_error(f"capturing the output of {self.plan.name}", internal)
        record_end(handle.span, exc)
