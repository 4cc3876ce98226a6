"""``@trace``: one decorator for every kind of Python callable.

The decorator inspects the function once, at decoration time, and picks a wrapper for its
kind (plain, coroutine, generator, async generator). Wrappers are built on ``wrapt`` so
methods, classmethods and staticmethods bind as usual and ``self``/``cls`` never reach
the recorded input; ``inspect.signature``, ``__wrapped__``, ``__name__`` and the
coroutine/generator flags of the original are preserved.

Generators are the subtle case: the span is made current only while the generator body
runs, one step at a time, and never across a ``yield``. So whichever task or thread
consumes, closes or collects the generator, attach and detach always happen in the same
context and OpenTelemetry's "Failed to detach context" cannot occur.
"""

from __future__ import annotations

import contextvars
import inspect
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from typing import Any, Final, ParamSpec, Protocol, TypeVar, overload

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Tracer

from respan_otel import _attributes as attrs
from respan_otel._log import log_internal_error
from respan_otel._serialize import TRUNCATED_KEY
from respan_otel._settings import sdk_disabled
from respan_otel._tracing._span import (
    DEFAULT_KIND,
    Kind,
    RespanSpan,
    active_tracer,
    check_dataset,
    check_kind,
    check_metadata,
    record_end,
    start,
)

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_RECEIVER_NAMES: Final = frozenset({"self", "cls"})
_SIMPLE_KINDS: Final = frozenset(
    {
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    }
)


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    """The signature, without evaluating annotations where Python allows (3.14+)."""
    try:
        try:
            import annotationlib  # type: ignore[import-not-found]

            return inspect.signature(  # type: ignore[call-arg]
                func, annotation_format=annotationlib.Format.FORWARDREF
            )
        except ImportError:
            return inspect.signature(func)
    except (TypeError, ValueError):
        return None


class _Binder:
    """Turns call arguments into ``{parameter name: value}`` with defaults applied.

    The common case (no ``*args``/``**kwargs`` in the signature) is a zip and a few dict
    operations; anything else goes through ``Signature.bind``. A call that does not bind
    is recorded as ``{"args": [...], "kwargs": {...}}``.
    """

    __slots__ = ("defaults", "keyword_names", "names", "positional", "signature", "simple")

    def __init__(self, signature: inspect.Signature) -> None:
        params = list(signature.parameters.values())
        self.signature = signature
        self.simple = all(p.kind in _SIMPLE_KINDS for p in params)
        self.names = tuple(p.name for p in params)
        self.positional = tuple(
            p.name for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY
        )
        self.keyword_names = frozenset(
            p.name for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY
        )
        self.defaults = {p.name: p.default for p in params if p.default is not p.empty}

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if not self.simple or len(args) > len(self.positional):
            return self._slow(args, kwargs)
        bound = dict(zip(self.positional, args, strict=False))
        if kwargs and not (kwargs.keys() <= self.keyword_names and bound.keys().isdisjoint(kwargs)):
            return self._slow(args, kwargs)
        for name in self.names[len(args) :]:
            if name in kwargs:
                bound[name] = kwargs[name]
            elif name in self.defaults:
                bound[name] = self.defaults[name]
            else:
                return self._slow(args, kwargs)
        return bound

    def _slow(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError:
            return {"args": list(args), "kwargs": dict(kwargs)}
        bound.apply_defaults()
        return dict(bound.arguments)


class _Plan:
    """Everything decided at decoration time for one traced callable."""

    __slots__ = (
        "bind_all",
        "bind_rest",
        "capture_input",
        "capture_output",
        "dataset",
        "kind",
        "metadata",
        "name",
        "process_input",
        "process_output",
        "receiver_named",
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
    ) -> None:
        self.name = name
        self.kind = kind
        self.dataset = dataset
        self.metadata = metadata
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.process_input = process_input
        self.process_output = process_output
        signature = _signature(func) if capture_input else None
        self.bind_all = _Binder(signature) if signature is not None else None
        self.bind_rest: _Binder | None = None
        self.receiver_named = False
        # A plain function's first parameter is the receiver when it is called as a method;
        # bound methods and callable objects already leave it out of their signature.
        if signature is not None and inspect.isfunction(func):
            params = list(signature.parameters.values())
            if params and params[0].kind is not inspect.Parameter.KEYWORD_ONLY:
                self.bind_rest = _Binder(signature.replace(parameters=params[1:]))
                self.receiver_named = params[0].name in _RECEIVER_NAMES

    def arguments(self, instance: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The input to record: bound arguments without ``self``/``cls``, then the hook."""
        if instance is not None and self.bind_rest is not None:
            bound = self.bind_rest.bind(args, kwargs)
        elif self.receiver_named and args and self.bind_rest is not None:
            # e.g. ``@classmethod`` applied over ``@trace`` on Python 3.13+: cls arrives in args
            bound = self.bind_rest.bind(args[1:], kwargs)
        elif self.bind_all is not None:
            bound = self.bind_all.bind(args, kwargs)
        else:
            bound = {"args": list(args), "kwargs": dict(kwargs)}
        if self.process_input is not None:
            return self.process_input(bound)
        return bound


def _open(
    tracer: Tracer,
    plan: _Plan,
    instance: object,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    parent: Context | None = None,
) -> tuple[RespanSpan, Context]:
    handle, ctx = start(tracer, plan.name, plan.kind, plan.dataset, plan.metadata, parent)
    if plan.capture_input and handle._settings.capture_content and handle.span.is_recording():
        try:
            value = plan.arguments(instance, args, kwargs)
        except Exception as exc:
            log_internal_error(f"capturing the input of {plan.name}", exc)
        else:
            handle.span.set_attribute(attrs.INPUT, handle._dump(value))
    return handle, ctx


def _finish(handle: RespanSpan, plan: _Plan, result: object) -> None:
    """Record the return value (unless ``set_output`` was called) and end the span."""
    try:
        if (
            plan.capture_output
            and not handle.output_set
            and handle._settings.capture_content
            and handle.span.is_recording()
        ):
            value = plan.process_output(result) if plan.process_output is not None else result
            handle.span.set_attribute(attrs.OUTPUT, handle._dump(value))
    except Exception as exc:
        log_internal_error(f"capturing the output of {plan.name}", exc)
    record_end(handle.span, None)


def _fail(handle: RespanSpan, exc: BaseException) -> None:
    record_end(handle.span, exc)


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

    def __init__(self, handle: RespanSpan, plan: _Plan) -> None:
        settings = handle._settings
        self.handle = handle
        self.plan = plan
        self.max_items = settings.max_stream_items
        self.max_bytes = settings.max_field_bytes
        self.fragments: list[str] = []
        self.items: list[Any] = []
        self.size = 2
        self.dropped = 0

    def add(self, item: object) -> None:
        if self.dropped or len(self.fragments) + len(self.items) >= self.max_items:
            self.dropped += 1
        elif self.plan.process_output is not None:
            self.items.append(item)
        else:
            fragment = _scalar_json(item, self.max_bytes) or self.handle._dump(item)
            size = len(fragment.encode()) + 1
            if self.size + size > self.max_bytes - 32:
                self.dropped += 1
            else:
                self.fragments.append(fragment)
                self.size += size

    def json(self) -> str:
        if self.plan.process_output is not None:
            return self.handle._dump(self.plan.process_output(self.items))
        parts = self.fragments
        if self.dropped:
            parts = [*parts, f'{{"{TRUNCATED_KEY}":{self.dropped}}}']
        return "[" + ",".join(parts) + "]"


class _StreamObserver:
    """The span side of a traced generator: started on the first step, fed each item."""

    __slots__ = ("args", "handle", "instance", "kwargs", "output", "parent", "plan", "tracer")

    def __init__(
        self,
        tracer: Tracer,
        plan: _Plan,
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.tracer = tracer
        self.plan = plan
        self.instance = instance
        self.args = args
        self.kwargs = kwargs
        self.parent = otel_context.get_current()
        self.handle: RespanSpan | None = None
        self.output: _StreamOutput | None = None

    def begin(self) -> Context:
        handle, ctx = _open(
            self.tracer, self.plan, self.instance, self.args, self.kwargs, self.parent
        )
        self.args, self.kwargs = (), {}
        self.handle = handle
        settings = handle._settings
        if self.plan.capture_output and settings.capture_content and handle.span.is_recording():
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


class _ContextOnly:
    """Observer for ``propagate`` as a decorator: attaches a context, records nothing."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def begin(self) -> Context:
        return self.ctx

    def item(self, value: object) -> None:
        return None

    def end(self, exc: BaseException | None) -> None:
        return None


class _Observer(Protocol):
    def begin(self) -> Context: ...
    def item(self, value: object) -> None: ...
    def end(self, exc: BaseException | None) -> None: ...


class _RunIn:
    """Await ``awaitable`` with each of its steps run inside ``context``."""

    __slots__ = ("awaitable", "context")

    def __init__(self, awaitable: Any, context: contextvars.Context) -> None:
        self.awaitable = awaitable
        self.context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        it = self.awaitable.__await__()
        run = self.context.run
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is not None:
                    pending, error = error, None
                    signal = run(it.throw, pending)
                else:
                    signal = run(it.send, value)
            except StopIteration as stop:
                return stop.value
            try:
                value = yield signal
            except BaseException as thrown:
                error, value = thrown, None


def _private_context(observer: _Observer) -> contextvars.Context:
    """A context of the generator's own, with the observer's OTel context attached once.

    Every step of the generator body runs in it, so the body's own attach/detach pairs
    (a ``with span(...)`` across a ``yield``) always see the same context, whichever
    thread or task drives the step, and nothing it sets leaks to the consumer.
    """
    private = contextvars.copy_context()
    try:
        ctx = observer.begin()
    except Exception as exc:
        log_internal_error("starting the span of a generator", exc)
        return private
    private.run(otel_context.attach, ctx)
    return private


def _drive(gen: Generator[Any, Any, Any], observer: _Observer) -> Generator[Any, Any, Any]:
    """Re-yield ``gen``, running each of its steps in a private context.

    ``send``, ``throw`` and ``close`` reach ``gen`` as if it were iterated directly, and
    the return value passes through. Between items the consumer's own context is
    current. The observer learns of every item and of the end.
    """
    private: contextvars.Context | None = None
    to_send: Any = None
    to_throw: BaseException | None = None
    failure: BaseException | None = None
    try:
        while True:
            if private is None:
                private = _private_context(observer)
            try:
                if to_throw is not None:
                    pending, to_throw = to_throw, None
                    item = private.run(gen.throw, pending)
                else:
                    item = private.run(gen.send, to_send)
            except StopIteration as stop:
                return stop.value
            observer.item(item)
            try:
                to_send = yield item
            except GeneratorExit:
                raise
            except BaseException as thrown:
                to_throw, to_send = thrown, None
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            if private is not None:
                private.run(gen.close)
            else:
                gen.close()
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if private is not None:
                observer.end(failure)


async def _adrive(agen: AsyncGenerator[Any, Any], observer: _Observer) -> AsyncGenerator[Any, Any]:
    """The async twin of :func:`_drive`; ``asend``/``athrow``/``aclose`` pass through."""
    private: contextvars.Context | None = None
    to_send: Any = None
    to_throw: BaseException | None = None
    failure: BaseException | None = None
    try:
        while True:
            if private is None:
                private = _private_context(observer)
            try:
                if to_throw is not None:
                    pending, to_throw = to_throw, None
                    item = await _RunIn(agen.athrow(pending), private)
                else:
                    item = await _RunIn(agen.asend(to_send), private)
            except StopAsyncIteration:
                return
            observer.item(item)
            try:
                to_send = yield item
            except GeneratorExit:
                raise
            except BaseException as thrown:
                to_throw, to_send = thrown, None
    except BaseException as exc:
        failure = exc
        raise
    finally:
        try:
            if private is not None:
                await _RunIn(agen.aclose(), private)
            else:
                await agen.aclose()
        except RuntimeError as exc:
            # collected in a cycle: asyncio finalizes the inner generator on its own too
            if not isinstance(failure, GeneratorExit) or "already running" not in str(exc):
                failure = exc
                raise
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if private is not None:
                observer.end(failure)


_PLAIN_RESULTS: Final = frozenset({str, int, float, bool, type(None), dict, list, tuple, bytes})
"""Result types that are certainly not awaitables: no need to ask ``inspect``."""


def _is_plain_awaitable(value: object) -> bool:
    return inspect.isawaitable(value) and not inspect.isgenerator(value)


async def _await_traced(
    awaitable: Awaitable[Any], handle: RespanSpan, plan: _Plan, ctx: Context
) -> Any:
    token = otel_context.attach(ctx)
    try:
        result = await awaitable
    except BaseException as exc:
        _fail(handle, exc)
        raise
    finally:
        otel_context.detach(token)
    _finish(handle, plan, result)
    return result


def _sync_wrapper(plan: _Plan) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return wrapped(*args, **kwargs)
        try:
            handle, ctx = _open(tracer, plan, instance, args, kwargs)
        except Exception as exc:
            log_internal_error(f"opening a span for {plan.name}", exc)
            return wrapped(*args, **kwargs)
        token = otel_context.attach(ctx)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            _fail(handle, exc)
            raise
        otel_context.detach(token)
        if type(result) not in _PLAIN_RESULTS and _is_plain_awaitable(result):
            # a sync callable handing back an awaitable: the span lasts until it is awaited
            if inspect.iscoroutine(result):
                return _await_traced(result, handle, plan, ctx)
            add_done_callback = getattr(result, "add_done_callback", None)
            if callable(add_done_callback):
                add_done_callback(lambda future: _finish_future(handle, plan, future))
                return result
        _finish(handle, plan, result)
        return result

    return wrapper


def _finish_future(handle: RespanSpan, plan: _Plan, future: Any) -> None:
    try:
        if future.cancelled():
            import asyncio

            _fail(handle, asyncio.CancelledError())
        elif future.exception() is not None:
            _fail(handle, future.exception())
        else:
            _finish(handle, plan, future.result())
    except Exception as exc:
        log_internal_error(f"finishing the span of {plan.name}", exc)


def _async_wrapper(plan: _Plan) -> Callable[..., Any]:
    async def run(
        wrapped: Callable[..., Any], tracer: Tracer, instance: Any, args: Any, kwargs: Any
    ) -> Any:
        try:
            handle, ctx = _open(tracer, plan, instance, args, kwargs)
        except Exception as exc:
            log_internal_error(f"opening a span for {plan.name}", exc)
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(ctx)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            _fail(handle, exc)
            raise
        otel_context.detach(token)
        _finish(handle, plan, result)
        return result

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return wrapped(*args, **kwargs)
        return run(wrapped, tracer, instance, args, kwargs)

    return wrapper


def _generator_wrapper(plan: _Plan) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return wrapped(*args, **kwargs)
        return _drive(
            wrapped(*args, **kwargs), _StreamObserver(tracer, plan, instance, args, kwargs)
        )

    return wrapper


def _async_generator_wrapper(plan: _Plan) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        tracer = active_tracer()
        if tracer is None:
            return wrapped(*args, **kwargs)
        return _adrive(
            wrapped(*args, **kwargs), _StreamObserver(tracer, plan, instance, args, kwargs)
        )

    return wrapper


def _underlying(func: Any) -> Any:
    """The function inside classmethod/staticmethod objects, for inspection."""
    return func.__func__ if isinstance(func, (classmethod, staticmethod)) else func


def _wrap(func: Any, plan_options: dict[str, Any]) -> Any:
    target = _underlying(func)
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
    plan = _Plan(target, name=name, **plan_options)
    if inspect.isasyncgenfunction(target):
        wrapper = _async_generator_wrapper(plan)
    elif inspect.isgeneratorfunction(target):
        wrapper = _generator_wrapper(plan)
    elif inspect.iscoroutinefunction(target):
        wrapper = _async_wrapper(plan)
    else:
        wrapper = _sync_wrapper(plan)
    return wrapt.FunctionWrapper(func, wrapper)


def context_decorator(func: Any, make_context: Callable[[], Context]) -> Any:
    """Run each call of ``func`` (of any kind) with ``make_context()`` attached."""
    target = _underlying(func)

    if inspect.isasyncgenfunction(target):

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return _adrive(wrapped(*args, **kwargs), _ContextOnly(make_context()))

    elif inspect.isgeneratorfunction(target):

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return _drive(wrapped(*args, **kwargs), _ContextOnly(make_context()))

    elif inspect.iscoroutinefunction(target):

        async def run(wrapped: Any, args: Any, kwargs: Any) -> Any:
            token = otel_context.attach(make_context())
            try:
                return await wrapped(*args, **kwargs)
            finally:
                otel_context.detach(token)

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return run(wrapped, args, kwargs)

    else:

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            token = otel_context.attach(make_context())
            try:
                return wrapped(*args, **kwargs)
            finally:
                otel_context.detach(token)

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
