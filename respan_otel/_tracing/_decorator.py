"""``@trace``: one decorator for every kind of Python callable.

The decorator inspects the function once, at decoration time (``_plan.Plan``), and picks a
wrapper for its kind (plain, coroutine, generator, async generator). Wrappers are built on
``wrapt`` so methods, classmethods and staticmethods bind as usual and ``self``/``cls``
never reach the recorded input; ``inspect.signature``, ``__wrapped__``, ``__name__`` and
the coroutine/generator flags of the original are preserved. Generators run one step at a
time in their span's context (``_context.drive``).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, ParamSpec, Protocol, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Status, StatusCode, Tracer

from respan_otel import _attributes as attrs
from respan_otel._log import log_internal_error
from respan_otel._settings import sdk_disabled
from respan_otel._tracing._checks import (
    DEFAULT_KIND,
    Kind,
    check_dataset,
    check_kind,
    check_metadata,
)
from respan_otel._tracing._context import adrive, drive, underlying
from respan_otel._tracing._handle import RespanSpan, active_tracer, record_end
from respan_otel._tracing._plan import Plan, finish, open_span
from respan_otel._tracing._stream import StreamObserver

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


_PLAIN_RESULTS: Final = frozenset({str, int, float, bool, type(None), dict, list, tuple, bytes})
"""Result types that are certainly not awaitables: no need to ask ``inspect``."""


def _is_plain_awaitable(value: object) -> bool:
    return inspect.isawaitable(value) and not inspect.isgenerator(value)


class _Unawaited:
    """The span of a sync call that returned a coroutine, until that coroutine runs.

    If the coroutine is collected without ever being awaited, the span still ends (marked
    ``not_awaited``), so it is exported and counted instead of staying open for ever.
    """

    __slots__ = ("handle", "started")

    def __init__(self, handle: RespanSpan) -> None:
        self.handle = handle
        self.started = False

    def end_if_never_started(self) -> None:
        if self.started:
            return
        self.started = True
        span = self.handle.span
        try:
            span.set_attribute(attrs.END_REASON, "not_awaited")
            span.set_status(Status(StatusCode.ERROR, "the returned coroutine was never awaited"))
        except Exception as exc:
            log_internal_error("ending the span of a coroutine never awaited", exc)
        record_end(span, None)


async def _await_traced(
    awaitable: Awaitable[Any], pending: _Unawaited, plan: Plan, ctx: Context
) -> Any:
    pending.started = True
    handle = pending.handle
    token = otel_context.attach(ctx)
    try:
        result = await awaitable
    except BaseException as exc:
        record_end(handle.span, exc)
        raise
    finally:
        otel_context.detach(token)
    finish(handle, plan, result)
    return result


def _traced_coroutine(
    awaitable: Awaitable[Any], handle: RespanSpan, plan: Plan, ctx: Context
) -> Any:
    pending = _Unawaited(handle)
    coroutine = _await_traced(awaitable, pending, plan, ctx)
    finalizer = weakref.finalize(coroutine, pending.end_if_never_started)
    finalizer.atexit = False  # at exit the provider may be gone; nothing to report then
    return coroutine


def _sync_wrapper(plan: Plan) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return wrapped(*args, **kwargs)
        try:
            handle, ctx = open_span(tracer, plan, instance, args, kwargs)
        except Exception as exc:
            log_internal_error(f"opening a span for {plan.name}", exc)
            return wrapped(*args, **kwargs)
        token = otel_context.attach(ctx)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            record_end(handle.span, exc)
            raise
        otel_context.detach(token)
        if type(result) not in _PLAIN_RESULTS and _is_plain_awaitable(result):
            # a sync callable handing back an awaitable: the span lasts until it is awaited
            if inspect.iscoroutine(result):
                return _traced_coroutine(result, handle, plan, ctx)
            add_done_callback = getattr(result, "add_done_callback", None)
            if callable(add_done_callback):
                add_done_callback(lambda future: _finish_future(handle, plan, future))
                return result
        finish(handle, plan, result)
        return result

    return wrapper


def _finish_future(handle: RespanSpan, plan: Plan, future: Any) -> None:
    try:
        if future.cancelled():
            import asyncio  # a future exists, so asyncio is loaded already

            record_end(handle.span, asyncio.CancelledError())
        elif future.exception() is not None:
            record_end(handle.span, future.exception())
        else:
            finish(handle, plan, future.result())
    except Exception as exc:
        log_internal_error(f"finishing the span of {plan.name}", exc)


def _async_wrapper(plan: Plan) -> Callable[..., Any]:
    async def run(
        wrapped: Callable[..., Any], tracer: Tracer, instance: Any, args: Any, kwargs: Any
    ) -> Any:
        try:
            handle, ctx = open_span(tracer, plan, instance, args, kwargs)
        except Exception as exc:
            log_internal_error(f"opening a span for {plan.name}", exc)
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(ctx)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            record_end(handle.span, exc)
            raise
        otel_context.detach(token)
        finish(handle, plan, result)
        return result

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return wrapped(*args, **kwargs)
        return run(wrapped, tracer, instance, args, kwargs)

    return wrapper


def _generator_wrapper(plan: Plan) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return wrapped(*args, **kwargs)
        return drive(wrapped(*args, **kwargs), StreamObserver(tracer, plan, instance, args, kwargs))

    return wrapper


def _async_generator_wrapper(plan: Plan) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return wrapped(*args, **kwargs)
        return adrive(
            wrapped(*args, **kwargs), StreamObserver(tracer, plan, instance, args, kwargs)
        )

    return wrapper


def _wrap(func: Any, plan_options: dict[str, Any]) -> Any:
    target = underlying(func)
    if not callable(target):
        raise TypeError(f"trace() needs a callable, got {type(func).__name__}")
    if sdk_disabled():
        return func  # OTEL_SDK_DISABLED=true: the callable itself, at no cost per call
    name = (
        plan_options.pop("name")
        or getattr(target, "__qualname__", None)
        or getattr(target, "__name__", None)
        or type(target).__name__
    )
    plan = Plan(target, name=name, static=isinstance(func, staticmethod), **plan_options)
    if inspect.isasyncgenfunction(target):
        wrapper = _async_generator_wrapper(plan)
    elif inspect.isgeneratorfunction(target):
        wrapper = _generator_wrapper(plan)
    elif inspect.iscoroutinefunction(target):
        wrapper = _async_wrapper(plan)
    else:
        wrapper = _sync_wrapper(plan)
    import wrapt  # on first decoration: wrapt imports asyncio, too heavy for our import

    return wrapt.FunctionWrapper(func, wrapper)


class Decorator(Protocol):
    """What ``trace(...)`` with options returns; keeps the decorated callable's type."""

    @overload
    def __call__(self, func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
    @overload
    def __call__(self, func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def trace(func: classmethod[T, P, R], /) -> classmethod[T, P, R]: ...
@overload
def trace(func: staticmethod[P, R], /) -> staticmethod[P, R]: ...
@overload
def trace(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def trace(
    span_name: str | None = None,
    /,
    *,
    name: str | None = ...,
    kind: Kind = ...,
    dataset: str | None = ...,
    metadata: Mapping[str, Any] | None = ...,
    capture_input: bool = ...,
    capture_output: bool = ...,
    process_input: Callable[[dict[str, Any]], Any] | None = ...,
    process_output: Callable[[Any], Any] | None = ...,
) -> Decorator: ...
def trace(
    func: Any = None,
    /,
    *,
    name: str | None = None,
    kind: Kind = DEFAULT_KIND,
    dataset: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    process_input: Callable[[dict[str, Any]], Any] | None = None,
    process_output: Callable[[Any], Any] | None = None,
) -> Any:
    """Record each call of a function as a span: its input, output, errors and timing.

    Use it bare (``@trace``), with options (``@trace(kind="llm", dataset="qa")``), with a
    name (``@trace("answer")``), or on someone else's callable (``trace(client.create)``).
    Works on functions, coroutine functions, generators, async generators, methods,
    classmethods and staticmethods; the wrapped callable behaves exactly like the original.

    Args:
        name: span name; default the function's qualified name.
        kind: what the function is (workflow, task, agent, tool, llm, retriever,
            embedding, guardrail, evaluator, custom); becomes the log's ``log_type``.
        dataset: dataset id or name the span's log goes to.
        metadata: constant metadata for every call, merged over ``propagate()`` values.
        capture_input: record the bound arguments (``self``/``cls`` left out).
        capture_output: record the return value or the yielded items.
        process_input: turns the bound-arguments dict into what is recorded.
        process_output: turns the return value (or list of yielded items) into what is
            recorded. Hooks that raise record nothing, so a masking hook never leaks.
    """
    if isinstance(func, str):
        if name is not None:
            raise TypeError("trace(): the name was given both positionally and as name=")
        name, func = func, None
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError("trace(): name must be a non-empty str")
    for label, hook in (("process_input", process_input), ("process_output", process_output)):
        if hook is not None and not callable(hook):
            raise TypeError(f"trace(): {label} must be callable")
    options: dict[str, Any] = {
        "name": name,
        "kind": check_kind(kind, "trace()"),
        "dataset": check_dataset(dataset, "trace()"),
        "metadata": check_metadata(metadata, "trace()"),
        "capture_input": bool(capture_input),
        "capture_output": bool(capture_output),
        "process_input": process_input,
        "process_output": process_output,
    }
    if func is None:
        return lambda f: _wrap(f, dict(options))
    return _wrap(func, options)
