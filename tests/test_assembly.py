"""What an exporter wires around itself (``_assembly``): the spool at its place or none,
the suppressed context of its own HTTP calls, and its fork hook."""

from __future__ import annotations

import logging
import os

import pytest
from opentelemetry import context as otel_context

from respan_otel._export._assembly import call_in_forked_children, open_spool, suppressed_context
from respan_otel._export._keeping import Notes
from respan_otel._settings import ExporterSettings

KEY = "sk-assembly"


def settings(**options: object) -> ExporterSettings:
    return ExporterSettings.resolve(api_key=KEY, base_url="https://api.respan.example", **options)  # type: ignore[arg-type]


def test_an_explicit_spool_directory_that_is_not_writable_gives_no_spool_and_says_so(
    tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="respan_otel")
    blocked = tmp_path / "spool"
    blocked.write_text("a file where the spool directory should be")
    assert open_spool(settings(spool_dir=blocked), Notes()) is None
    assert any("set RESPAN_SPOOL_DIR to a writable" in r.getMessage() for r in caplog.records)
    assert open_spool(settings(spool_dir="off"), Notes()) is None
    spool = open_spool(settings(spool_dir=tmp_path / "ok"), Notes())
    assert spool is not None
    assert spool.directory == tmp_path / "ok"


def test_the_default_spool_falls_back_to_the_temp_directory(unwritable_cache, caplog):
    caplog.set_level(logging.WARNING, logger="respan_otel")
    spool = open_spool(settings(), Notes())
    assert spool is not None
    assert str(spool.directory).startswith(str(unwritable_cache))
    assert any("trying the next place" in r.getMessage() for r in caplog.records)


def test_the_exporters_own_calls_run_with_instrumentation_suppressed():
    token = otel_context.attach(suppressed_context())
    try:
        assert otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY) is True
        assert otel_context.get_value(otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY) is True
    finally:
        otel_context.detach(token)
    assert otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY) is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_fork_hook_runs_in_the_child_not_in_the_parent():
    class Owner:
        def __init__(self) -> None:
            self.calls = 0

        def after_fork(self) -> None:
            self.calls += 1

    def fork_and_read(owner: Owner) -> int:
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what the hook did, then leave at once
            os.write(writer, str(owner.calls).encode())
            os._exit(0)
        os.close(writer)
        os.waitpid(pid, 0)
        with os.fdopen(reader) as pipe:
            return int(pipe.read())

    owner = Owner()
    call_in_forked_children(owner.after_fork)
    assert fork_and_read(owner) == 1, "called in the child"
    assert owner.calls == 0, "not in the parent"
