"""What ``@trace`` decides once per decorated callable, and opening and finishing its spans."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.trace import Tracer

from respan_otel import _attributes as attrs
from respan_otel._log import log_internal_error
from respan_otel._tracing._binding import Binder, signature_of
from respan_otel._tracing._handle import RespanSpan, record_end, start

_RECEIVER_NAMES: Final = frozenset({"self", "cls"})


def _defined_in_class(func: Any) -> bool:
    """Whether ``func`` was written in a class body (``A.f``, not ``f`` or ``g.<locals>.f``)."""
    qualname = getattr(func, "__qualname__", "")
    owner, dot, _ = qualname.rpartition(".")
    return bool(dot) and not owner.endswith("<locals>")


class Plan:
    """Everything decided at decoration time for one traced callable."""

    __slots__ = (
        "binder",
        "capture_input",
        "capture_output",
        "dataset",
        "kind",
        "metadata",
        "name",
        "process_input",
        "process_output",
        "receiver",
        "unbound_receiver",
    )

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str,
        kind: str,
        dataset: str | None,
        metadata: dict[str, Any],
        capture_input: bool,
        capture_output: bool,
        process_input: Callable[[dict[str, Any]], Any] | None,
        process_output: Callable[[Any], Any] | None,
        static: bool = False,
    ) -> None:
        self.name = name
        self.kind = kind
        self.dataset = dataset
        self.metadata = metadata
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.process_input = process_input
        self.process_output = process_output
        signature = signature_of(func) if capture_input else None
        self.binder = Binder(signature) if signature is not None else None
        # The receiver is the first parameter of a function called as a method; bound
        # methods and callable objects already leave it out of their signature.
        self.receiver: str | None = None
        self.unbound_receiver = False
        if signature is not None and inspect.isfunction(func) and not static:
            first = next(iter(signature.parameters.values()), None)
            if first is not None and first.kind in (
                first.POSITIONAL_ONLY,
                first.POSITIONAL_OR_KEYWORD,
            ):
                self.receiver = first.name
                # ``@classmethod`` over ``@trace`` (Python 3.13+) passes cls in args: only
                # for a function written in a class body whose first parameter is self/cls
                self.unbound_receiver = first.name in _RECEIVER_NAMES and _defined_in_class(func)

    def arguments(self, instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The input to record: bound arguments without the receiver, then the hook."""
        binder = self.binder
        if binder is None:
            bound: dict[str, Any] = {"args": list(args), "kwargs": dict(kwargs)}
        elif self.receiver is not None and (
            instance is not None or (self.unbound_receiver and args)
        ):
            bound = binder.bind(args if instance is None else (instance, *args), kwargs)
            bound.pop(self.receiver, None)
        else:
            bound = binder.bind(args, kwargs)
        if self.process_input is not None:
            return self.process_input(bound)
        return bound


def open_span(
    tracer: Tracer,
    plan: Plan,
    instance: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    parent: Context | None = None,
) -> tuple[RespanSpan, Context]:
    """Start the span of one call, with its input recorded; not yet current."""
    handle, ctx = start(tracer, plan.name, plan.kind, plan.dataset, plan.metadata, parent)
    if plan.capture_input and handle.captures_content:
        try:
            value = plan.arguments(instance, args, kwargs)
        except Exception as exc:
            log_internal_error(f"capturing the input of {plan.name}", exc)
        else:
            handle.span.set_attribute(attrs.INPUT, handle.dump(value))
    return handle, ctx


def finish(handle: RespanSpan, plan: Plan, result: object) -> None:
    """Record the return value (unless ``set_output`` was called) and end the span."""
    try:
        if plan.capture_output and not handle.output_set and handle.captures_content:
            value = plan.process_output(result) if plan.process_output is not None else result
            handle.span.set_attribute(attrs.OUTPUT, handle.dump(value))
    except Exception as exc:
        log_internal_error(f"capturing the output of {plan.name}", exc)
    record_end(handle.span, None)
