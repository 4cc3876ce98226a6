"""Context handling for the tracing core: scopes that context managers enter and exit, and
generators whose steps run in their span's context. Imports only the OpenTelemetry API.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from contextvars import ContextVar, copy_context
from typing import Any, Final, Protocol

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from respan_otel._log import log_internal_error

# One linked list of (owner, token, payload, outer) frames per context. A single module-level
# variable means entering any number of span()/propagate() blocks adds one context entry at
# most; a variable per object would add one per object, for ever (a leak in long threads).
_Frame = tuple[object, object, object, "Any"]
_SCOPES: Final[ContextVar[_Frame | None]] = ContextVar("respan_otel.scopes", default=None)

NOT_ENTERED: Final = object()
"""What :func:`exit_scope` returns when ``owner`` has no scope in the current context."""


def enter_scope(owner: object, ctx: Context, payload: object = None) -> None:
    """Make ``ctx`` current and remember, for ``owner``, how to undo it in this context."""
    token = otel_context.attach(ctx)
    _SCOPES.set((owner, token, payload, _SCOPES.get()))


def exit_scope(owner: object) -> object:
    """Undo ``owner``'s innermost scope in the current context and return its payload.

    :data:`NOT_ENTERED` when this context holds no scope of ``owner`` (exited in another
    thread, or in a task that did not enter it): nothing can be detached there.
    """
    frame = _SCOPES.get()
    skipped: list[_Frame] = []
    while frame is not None and frame[0] is not owner:
        skipped.append(frame)
        frame = frame[3]
    if frame is None:
        return NOT_ENTERED
    outer = frame[3]
    for kept in reversed(skipped):  # exits out of order: keep the frames entered later
        outer = (kept[0], kept[1], kept[2], outer)
    _SCOPES.set(outer)
    otel_context.detach(frame[1])  # type: ignore[arg-type]
    return frame[2]


class Observer(Protocol):
    """The span side of a driven generator: told of its start, each item and its end."""

    def begin(self) -> Context: ...

    @property
    def recorder(self) -> Callable[[object], None] | None:
        """What to call with each item (it must never raise), read once :meth:`begin`
        has run; ``None`` when items are not recorded."""

    def end(self, exc: BaseException | None) -> None: ...


class ContextOnly:
    """Observer for ``propagate`` as a decorator: attaches a context, records nothing."""

    __slots__ = ("ctx",)
    recorder = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def begin(self) -> Context:
        return self.ctx

    def end(self, exc: BaseException | None) -> None:
        return None


class _Steps:
    """The generator's own context: its span attached once, the consumer's variables synced.

    Every step of the body runs in the same ``contextvars.Context``, so a ``with span()``
    across a ``yield`` attaches and detaches in one context whichever thread or task
    drives it. Before each step, variables the consumer changed since the last step are
    copied in (the body sees them, as in an undecorated generator); OpenTelemetry's own
    context and our scope list are not, so the body stays under its span.

    Changes are found by comparing contexts with ``==``, which is O(1) when nothing was
    set but compares values otherwise: a variable rebound to an equal object between two
    steps goes unnoticed, and the body keeps the earlier, equal one.
    """

    __slots__ = ("private", "seen")

    def __init__(self, observer: Observer) -> None:
        self.seen = copy_context()
        self.private = self.seen.copy()
        try:
            ctx = observer.begin()
        except Exception as exc:
            log_internal_error("starting the span of a generator", exc)
            return
        self.private.run(otel_context.attach, ctx)

    def sync(self, now: contextvars.Context) -> None:
        """Copy into the private context what the consumer set since the last step
        (``now``: the consumer's context, which differs from the one last seen)."""
        seen, private = self.seen, self.private
        for var, value in now.items():
            if seen.get(var, _MISSING) is not value and not _private_var(var, value):
                private.run(var.set, value)
        self.seen = now


_MISSING: Final = object()


def _private_var(var: ContextVar[Any], value: object) -> bool:
    # OpenTelemetry's runtime context holds a Context; the body keeps its own (its span)
    return var is _SCOPES or type(value) is Context


def drive(gen: Generator[Any, Any, Any], observer: Observer) -> Generator[Any, Any, Any]:
    """Re-yield ``gen``, running each of its steps in the generator's own context.

    ``send``, ``throw`` and ``close`` reach ``gen`` as if it were iterated directly, and
    the return value passes through. Between items the consumer's own context is
    current. The observer learns of every item and of the end.
    """
    # This body first runs on the first step, so the span opens then, not at the call.
    steps = _Steps(observer)
    record = observer.recorder
    # Locals, not attributes, in the loop: it runs once per item (a few ns each)
    seen, run, send = steps.seen, steps.private.run, gen.send
    to_send: Any = None
    to_throw: BaseException | None = None
    failure: BaseException | None = None
    ended = False
    try:
        while True:
            now = copy_context()
            try:
                changed = now != seen  # O(1) when nothing changed: both share one map
            except Exception:  # a rebound value's own __eq__ raised (numpy, pandas...)
                changed = True  # sync compares by identity, never by ==
            if changed:
                steps.sync(now)
                seen = now
            try:
                if to_throw is None:
                    item = run(send, to_send)
                else:
                    pending, to_throw = to_throw, None
                    item = run(gen.throw, pending)
            except StopIteration as stop:
                ended = True
                return stop.value
            if record is not None:
                record(item)
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
            if not ended:  # a generator that returned has nothing left to close
                run(gen.close)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            observer.end(failure)


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


async def adrive(agen: AsyncGenerator[Any, Any], observer: Observer) -> AsyncGenerator[Any, Any]:
    """The async twin of :func:`drive`; ``asend``/``athrow``/``aclose`` pass through."""
    steps = _Steps(observer)  # on the first step, as in drive
    record = observer.recorder
    seen, private = steps.seen, steps.private
    to_send: Any = None
    to_throw: BaseException | None = None
    failure: BaseException | None = None
    try:
        while True:
            now = copy_context()
            try:
                changed = now != seen  # as in drive
            except Exception:
                changed = True
            if changed:
                steps.sync(now)
                seen = now
            try:
                if to_throw is None:
                    item = await _RunIn(agen.asend(to_send), private)
                else:
                    pending, to_throw = to_throw, None
                    item = await _RunIn(agen.athrow(pending), private)
            except StopAsyncIteration:
                return
            if record is not None:
                record(item)
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
            await _RunIn(agen.aclose(), private)
        except RuntimeError as exc:
            # collected in a cycle: asyncio finalizes the inner generator on its own too
            if not isinstance(failure, GeneratorExit) or "already running" not in str(exc):
                failure = exc
                raise
        except BaseException as exc:
            failure = exc
            raise
        finally:
            observer.end(failure)


def underlying(func: Any) -> Any:
    """The function inside classmethod/staticmethod objects, for inspection."""
    return func.__func__ if isinstance(func, (classmethod, staticmethod)) else func


def context_decorator(func: Any, make_context: Callable[[], Context]) -> Any:
    """Run each call of ``func`` (of any kind) with ``make_context()`` attached."""
    target = underlying(func)

    if inspect.isasyncgenfunction(target):

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return adrive(wrapped(*args, **kwargs), ContextOnly(make_context()))

    elif inspect.isgeneratorfunction(target):

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            return drive(wrapped(*args, **kwargs), ContextOnly(make_context()))

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

    import wrapt  # on first decoration: wrapt imports asyncio, too heavy for our import

    return wrapt.FunctionWrapper(func, wrapper)
