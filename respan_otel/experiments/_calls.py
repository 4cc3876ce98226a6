"""How a user's task or scorer is called: which arguments it asks for, sync or async.

Inspected once per callable, before the first row, so a bad signature fails the run at
once instead of once per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def is_async(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` returns a coroutine (partials and callable objects too)."""
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - a callable object's method
    return call is not None and inspect.iscoroutinefunction(call)


def _parameters(func: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return None


@dataclass(frozen=True, slots=True)
class Call:
    """One user callable and the way to pass it what it asks for."""

    func: Callable[..., Any]
    name: str
    is_async: bool
    positional: tuple[str, ...]
    """The values passed positionally, by the name they have in ``invoke``'s mapping."""
    by_name: frozenset[str]
    """The values passed as keyword arguments (its parameters carry these names)."""

    def invoke(self, values: Mapping[str, Any]) -> Any:
        """Call it with the values it asks for out of ``values``."""
        args = [values[key] for key in self.positional]
        return self.func(*args, **{key: values[key] for key in self.by_name})


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def inspect_call(
    func: Callable[..., Any], *, role: str, defaults: tuple[str, ...], extra: frozenset[str]
) -> Call:
    """How to call ``func``: parameters named like a known value get it by name; other
    leading positional parameters get the ``defaults`` not already passed, in order.

    So ``task(question)``, ``task(input, row)``, ``task(question, row)`` and
    ``scorer(output, expected_output)`` all work.
    """
    if not callable(func):
        raise TypeError(f"{role} must be callable, got {type(func).__name__}")
    name = getattr(func, "__name__", None) or type(func).__name__
    params = _parameters(func)
    if params is None:  # no signature to read: the defaults, in order
        return Call(func, name, is_async(func), defaults, frozenset())
    known = set(defaults) | extra
    by_name = frozenset(
        p.name
        for p in params
        if p.name in known and p.kind is not inspect.Parameter.POSITIONAL_ONLY
    )
    left = [d for d in defaults if d not in by_name]
    positional: list[str] = []
    missing: list[str] = []
    for p in params:
        if p.name in by_name:
            continue
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            positional.extend(left)
            left = []
        elif p.kind in _POSITIONAL and left:
            positional.append(left.pop(0))
        elif p.default is inspect.Parameter.empty and p.kind not in _VARIADIC:
            missing.append(p.name)
    if missing:
        offered = ", ".join((*defaults, *sorted(extra)))
        raise TypeError(
            f"{role} {name!r} asks for {', '.join(missing)}, which no row provides; "
            f"it may take {offered}"
        )
    return Call(func, name, is_async(func), tuple(positional), by_name)


def in_daemon_thread(loop: asyncio.AbstractEventLoop, func: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``func`` in a new daemon thread with the caller's context; await its result.

    Daemon threads (not an executor) so a sync task that hangs past its timeout, or is
    still running when the run is interrupted, never keeps the process from exiting.
    """
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def body() -> None:
        try:
            result = context.run(func)
        except BaseException as exc:
            outcome: tuple[Callable[[Any], None], Any] = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed: the run is over
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=body, name="respan-experiment-row", daemon=True).start()
    return future


async def resolve(value: Any) -> Any:
    """``value``, awaited when a sync-looking callable handed back an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


def run_awaitable(value: Awaitable[T] | T) -> T:
    """In a worker thread: the result of ``value``, run on a fresh loop if awaitable."""
    if inspect.isawaitable(value):

        async def wait() -> T:
            return await value

        return asyncio.run(wait())
    return value
