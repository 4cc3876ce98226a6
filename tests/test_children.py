"""A processor's hooks in children (``_children``): a ``multiprocessing`` child gets a
SIGTERM handler that delivers first, unless the application set its own. Real child
processes; the processor has no API key (nothing is sent)."""

from __future__ import annotations

import multiprocessing as mp
import signal

import pytest

mp_fork = pytest.mark.skipif(
    "fork" not in mp.get_all_start_methods(), reason="needs the fork start method"
)


def _handler_after_building(own_handler: bool, answers: mp.Queue) -> None:  # type: ignore[type-arg]
    # processors of earlier tests (still alive in the parent) may have hooked this child
    signal.signal(signal.SIGTERM, (lambda signum, frame: None) if own_handler else signal.SIG_DFL)
    before = signal.getsignal(signal.SIGTERM)
    from respan_otel import DatasetSpanProcessor, RespanDatasetExporter

    # built inside a running multiprocessing child: its hooks are set at once
    processor = DatasetSpanProcessor(RespanDatasetExporter(api_key=None, spool_dir="off"))
    after = signal.getsignal(signal.SIGTERM)
    answers.put((after is before, after is signal.SIG_DFL))
    processor.shutdown()


@mp_fork
@pytest.mark.parametrize(
    ("own_handler", "kept"), [(False, False), (True, True)], ids=["default", "own-handler"]
)
def test_a_child_gets_a_delivering_sigterm_handler_unless_it_set_its_own(own_handler, kept):
    context = mp.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_handler_after_building, args=(own_handler, answers))
    child.start()
    unchanged, default = answers.get(timeout=30)
    child.join(30)
    assert child.exitcode == 0
    assert unchanged is kept
    assert not default, "the default disposition (die at once, no flush) is never left"
