"""Every process delivers its own spans: a processor's hooks in forked and
``multiprocessing`` children.

A forked child starts with a fresh queue and worker (its parent delivers what it had
queued). A ``multiprocessing`` child ends with ``os._exit``, which runs no ``atexit``
handler: a ``multiprocessing`` finalizer shuts the processor down first, and, in the main
thread of a child whose SIGTERM is left at its default, a SIGTERM handler does the same
before the process dies of the signal (``Pool.terminate()`` ends workers that way).
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from typing import Any, Protocol


class _Processor(Protocol):
    def _after_fork_in_child(self) -> None: ...

    def shutdown(self) -> None: ...


def register_child_hooks(processor: _Processor) -> None:
    """Hook ``processor`` into every child this process makes (and into this process,
    if it is itself a ``multiprocessing`` child)."""
    from respan_otel._export._assembly import call_in_forked_children

    call_in_forked_children(processor._after_fork_in_child)
    import multiprocessing
    import multiprocessing.util

    multiprocessing.util.register_after_fork(processor, in_multiprocessing_child)
    if multiprocessing.parent_process() is not None:
        in_multiprocessing_child(processor)  # built inside a child that is running already


def in_multiprocessing_child(processor: _Processor) -> None:
    """In a ``multiprocessing`` child: shut ``processor`` down before the child ends."""
    import multiprocessing.util

    multiprocessing.util.Finalize(processor, processor.shutdown, exitpriority=100)
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        # Pool.terminate() ends workers with SIGTERM: deliver first, then die of it
        signal.signal(signal.SIGTERM, _terminate_after_shutdown(weakref.ref(processor)))


def _terminate_after_shutdown(reference: weakref.ref[_Processor]) -> Any:
    def handler(signum: int, frame: Any) -> None:
        processor = reference()
        if processor is not None:
            processor.shutdown()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    return handler
