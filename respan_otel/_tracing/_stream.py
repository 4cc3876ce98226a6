"""The span side of a traced generator: opened on the first step, fed each item."""

from __future__ import annotations

import json
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Tracer

from respan_otel import _attributes as attrs
from respan_otel._log import log_internal_error
from respan_otel._serialize import TRUNCATED_KEY
from respan_otel._tracing._handle import RespanSpan, record_end
from respan_otel._tracing._plan import Plan, open_span

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

    Items are serialized as they are yielded (so later mutation does not rewrite history)
    unless a ``process_output`` hook needs the items themselves.
    """

    __slots__ = (
        "dropped",
        "fragments",
        "handle",
        "items",
        "max_bytes",
        "max_items",
        "plan",
        "size",
    )

    def __init__(self, handle: RespanSpan, plan: Plan) -> None:
        settings = handle._settings
        self.handle = handle
        self.plan = plan
        self.max_items = settings.max_stream_items
        self.max_bytes = settings.max_field_bytes
        self.fragments: list[str] = []
        self.items: list[Any] = []
        self.size = 2  # the brackets
        self.dropped = 0

    def add(self, item: object) -> None:
        if self.dropped or len(self.fragments) + len(self.items) >= self.max_items:
            self.dropped += 1
        elif self.plan.process_output is not None:
            self.items.append(item)
        else:
            fragment = _scalar_json(item, self.max_bytes) or self.handle.dump(item)
            size = (len(fragment) if fragment.isascii() else len(fragment.encode())) + 1
            if self.size + size > self.max_bytes - 32:  # room for the truncation marker
                self.dropped += 1
            else:
                self.fragments.append(fragment)
                self.size += size

    def json(self) -> str:
        if self.plan.process_output is not None:
            return self.handle.dump(self.plan.process_output(self.items))
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

    def item(self, value: object) -> None:
        if self.output is not None:
            try:
                self.output.add(value)
            except Exception as exc:
                log_internal_error(f"capturing an item of {self.plan.name}", exc)

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
