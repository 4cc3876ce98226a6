"""Carrying the caller's context into worker threads.

A new thread starts with an empty context, so a span opened in a ``ThreadPoolExecutor``
worker would otherwise start a new trace. These helpers copy the submitting thread's
context (all context variables, OpenTelemetry's included) into the worker, the way
``asyncio.to_thread`` does. asyncio tasks need nothing: ``create_task`` and ``gather``
copy the context already, but ``loop.run_in_executor`` does not, so pass it a
:class:`ContextThreadPoolExecutor` or a :func:`wrap_context` callable.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in a copy of the submitter's context.

    Spans opened by tasks become children of the span current at ``submit``/``map``
    time; ``propagate()`` values travel along too.
    """

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)  # type: ignore[arg-type]


def wrap_context(fn: Callable[P, R]) -> Callable[P, R]:
    """Bind ``fn`` to the current context: wherever it is later called, it runs there.

    Each call runs in its own copy of the captured context, so the wrapper may be called
    from several threads at once and changes made inside never leak out.
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    return run_in_context
