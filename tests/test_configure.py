"""``configure()`` in a fresh interpreter each time: provider, idempotence, key, disabling,
flush/shutdown/stats and option validation, checked against a real server.

Every test starts its own server in this process and runs a script in a child process
whose ``RESPAN_*`` environment points at it (the test session's global provider cannot
be replaced, so ``configure()`` never runs in-process here).
"""

from __future__ import annotations

import pytest

from tests.faulty_server import FaultyServer, Reply
from tests.scripts.harness import DATASET_ID, child_env, env_for, local_respan, logs_of, run

NOWHERE = "http://127.0.0.1:9"  # never reached: these scripts send nothing

TRACED = """
import respan_otel
from respan_otel import trace


@trace
def step(who, i):
    return {"who": who, "double": i * 2}
"""


@pytest.mark.parametrize(
    ("call", "env_name", "expected"),
    [
        ("configure()", "svc-env", "svc-env"),
        ('configure(service_name="svc-arg")', "svc-env", "svc-arg"),
    ],
    ids=["OTEL_SERVICE_NAME", "argument-wins-over-env"],
)
def test_without_a_provider_one_is_created_and_set_globally(call, env_name, expected):
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="svc", is_empty=True)
        result = run(
            TRACED
            + f"""
from opentelemetry import trace as otel
from opentelemetry.sdk.trace import TracerProvider

before = type(otel.get_tracer_provider()).__name__
handle = respan_otel.{call}
current = otel.get_tracer_provider()
step("me", 1)
report(
    before=before,
    is_global=current is handle.provider,
    sdk=isinstance(current, TracerProvider),
    id_generator=type(current.id_generator).__name__,
    flushed=respan_otel.flush(10),
    stats=handle.stats,
)
""",
            env_for(server, dataset.id, OTEL_SERVICE_NAME=env_name),
        ).check()
        (log,) = logs_of(client, dataset.id)
    data = result.data
    assert data["before"] == "ProxyTracerProvider"
    assert data["is_global"]
    assert data["sdk"]
    assert data["id_generator"] == "EntropyIdGenerator"
    assert data["flushed"] is True
    assert data["stats"]["exported"] == 1
    assert log.metadata["service_name"] == expected
    assert log.input == {"who": "me", "i": 1}
    assert result.warnings() == []


def test_an_existing_sdk_provider_is_kept_and_both_destinations_receive_the_spans():
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="attach", is_empty=True)
        result = run(
            TRACED
            + """
from opentelemetry import trace as otel
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

memory = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "user-svc"}))
provider.add_span_processor(SimpleSpanProcessor(memory))
otel.set_tracer_provider(provider)

handle = respan_otel.configure()
for i in range(4):
    step("attached", i)
flushed = respan_otel.flush(10)
report(
    same_global=otel.get_tracer_provider() is provider,
    handle_provider=handle.provider is provider,
    memory=sorted(s.attributes["respan.input"] for s in memory.get_finished_spans()),
    flushed=flushed,
    stats=handle.stats,
)
""",
            env_for(server, dataset.id),
        ).check()
        logs = logs_of(client, dataset.id)
    data = result.data
    assert data["same_global"]
    assert data["handle_provider"]
    assert len(data["memory"]) == 4, "the user's own exporter still gets every span"
    assert sorted(log.input["i"] for log in logs) == [0, 1, 2, 3]
    assert {log.metadata["service_name"] for log in logs} == {"user-svc"}
    assert data["stats"]["exported"] == 4
    assert result.warnings() == []


def test_a_second_call_returns_the_same_handle_and_never_doubles_export():
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="twice", is_empty=True)
        result = run(
            TRACED
            + """
first = respan_otel.configure()
processors = len(first.provider._active_span_processor._span_processors)
second = respan_otel.configure()
for i in range(6):
    step("twice", i)
report(
    same=first is second,
    processors=[processors, len(first.provider._active_span_processor._span_processors)],
    flushed=respan_otel.flush(10),
    stats=first.stats,
)
""",
            env_for(server, dataset.id),
        ).check()
        logs = logs_of(client, dataset.id)
    data = result.data
    assert data["same"] is True
    assert data["processors"][0] == data["processors"][1]
    assert sorted(log.input["i"] for log in logs) == list(range(6)), "each span stored once"
    assert data["stats"]["exported"] == 6
    assert data["stats"]["requests"] == 1
    assert result.warnings() == [], "same options twice: nothing to warn about"


def test_a_second_call_with_other_options_warns_and_keeps_the_first():
    with local_respan() as (server, client):
        first_ds = client.datasets.create(name="first", is_empty=True)
        other_ds = client.datasets.create(name="other", is_empty=True)
        result = run(
            TRACED
            + f"""
first = respan_otel.configure(dataset_id={first_ds.id!r})
second = respan_otel.configure(dataset_id={other_ds.id!r}, requests_per_minute=5)
step("kept", 1)
report(same=first is second, flushed=respan_otel.flush(10))
""",
            env_for(server),
        ).check()
        kept, other = logs_of(client, first_ds.id), logs_of(client, other_ds.id)
    assert result.data == {"same": True, "flushed": True}
    warnings = result.warnings()
    assert len(warnings) == 1, warnings
    assert "already called" in warnings[0]
    assert [log.input for log in kept] == [{"who": "kept", "i": 1}]
    assert other == []


def test_without_an_api_key_one_warning_tracing_works_and_nothing_is_sent():
    with FaultyServer() as server:  # any request would get a loud 599
        result = run(
            TRACED
            + """
from opentelemetry import trace as otel


@trace
def inner(x):
    current = otel.get_current_span()
    return {"recording": current.is_recording(), "valid": current.get_span_context().is_valid}


handle = respan_otel.configure()
seen = inner(3)
values = [step("nokey", i) for i in range(3)]
flushed = respan_otel.flush(5)
respan_otel.shutdown()
report(seen=seen, values=values, flushed=flushed, stats=handle.stats, exporting=handle.exporter)
""",
            child_env(RESPAN_BASE_URL=server.url, RESPAN_DATASET_ID=DATASET_ID),
        ).check()
        assert server.requests == []
    data = result.data
    assert data["seen"] == {"recording": True, "valid": True}, "spans are still made"
    assert data["values"] == [{"who": "nokey", "double": i * 2} for i in range(3)]
    assert data["flushed"] is True
    assert data["stats"] == {}
    assert data["exporting"] is None
    warnings = result.warnings()
    assert len(warnings) == 1, warnings
    assert "no API key" in warnings[0]
    assert "RESPAN_API_KEY" in warnings[0]


def test_otel_sdk_disabled_sends_nothing():
    with FaultyServer() as server:
        result = run(
            TRACED
            + """
from opentelemetry import trace as otel

handle = respan_otel.configure()
values = [step("off", i) for i in range(3)]
report(
    values=values,
    exporting=handle.exporter is not None,
    flushed=respan_otel.flush(5),
    provider=type(otel.get_tracer_provider()).__name__,
)
""",
            child_env(
                RESPAN_API_KEY="sk-disabled",
                RESPAN_BASE_URL=server.url,
                RESPAN_DATASET_ID=DATASET_ID,
                OTEL_SDK_DISABLED="true",
            ),
        ).check()
        assert server.requests == []
    data = result.data
    assert data["values"] == [{"who": "off", "double": i * 2} for i in range(3)]
    assert data["exporting"] is False
    assert data["flushed"] is True
    assert data["provider"] == "ProxyTracerProvider", "nothing was installed globally"
    assert result.warnings() == []


def test_flush_shutdown_and_the_counters():
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="stats", is_empty=True)
        result = run(
            TRACED
            + """
from opentelemetry import trace as otel

handle = respan_otel.configure()
foreign = otel.get_tracer("tests.foreign")
for i in range(7):
    step("counted", i)
for _ in range(2):
    with foreign.start_as_current_span("GET /health"):  # no dataset content
        pass
before = handle.stats
flushed = respan_otel.flush(10)
after_flush = handle.stats
respan_otel.shutdown()
respan_otel.shutdown()  # idempotent
handle.shutdown()
report(before=before, flushed=flushed, after_flush=after_flush, final=handle.stats)
""",
            env_for(server, dataset.id),
        ).check()
        logs = logs_of(client, dataset.id)
    data = result.data
    assert data["before"]["exported"] == 0, "nothing sent before the batch is due"
    assert data["flushed"] is True
    assert data["after_flush"] == {
        "exported": 7,
        "failed": 0,
        "dropped": 0,
        "spooled": 0,
        "replayed": 0,
        "dead_lettered": 0,
        "skipped_spans": 2,
        "incomplete_totals": 0,
        "requests": 1,
        "rate_limited": 0,
    }
    assert data["final"] == data["after_flush"]
    assert sorted(log.input["i"] for log in logs) == list(range(7))
    assert result.warnings() == []
    assert "exporter shut down" not in result.stderr  # summarised at INFO: not shown here


def test_spans_ended_after_shutdown_are_counted_as_dropped():
    """DESIGN: nothing is lost without a count. After ``shutdown()`` the SDK's batch
    processor discards new spans (an INFO line from ``opentelemetry``); the handle's
    counters must still account for them."""
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="late", is_empty=True)
        result = run(
            TRACED
            + """
handle = respan_otel.configure()
step("early", 0)
respan_otel.shutdown()
for i in range(3):
    step("late", i)
report(flushed=respan_otel.flush(5), stats=handle.stats)
""",
            env_for(server, dataset.id),
        ).check()
        logs = logs_of(client, dataset.id)
    assert [log.input["who"] for log in logs] == ["early"]
    stats = result.data["stats"]
    assert stats["exported"] == 1
    assert stats["dropped"] == 3, f"3 spans ended after shutdown vanished uncounted: {stats}"


def test_configure_after_shutdown_does_not_silently_drop_everything():
    """``configure(); shutdown(); configure()`` (an app restarting its telemetry, a test
    suite) gets the closed handle back: every later span is discarded, ``flush()`` says
    True, the counters stay at 0 and nothing is logged. Either export again or warn."""
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="again", is_empty=True)
        result = run(
            TRACED
            + """
first = respan_otel.configure()
respan_otel.shutdown()
second = respan_otel.configure()
for i in range(3):
    step("again", i)
report(same=first is second, flushed=respan_otel.flush(5), stats=second.stats)
""",
            env_for(server, dataset.id),
        ).check()
        stored = len(logs_of(client, dataset.id))
    assert stored == 3 or result.warnings(), (
        f"3 spans lost without a word: {result.data}, stored {stored}"
    )


def test_flush_honours_its_timeout_and_reports_what_did_not_go_out():
    """``flush(timeout_seconds)``: "True when it all went out in time". Against a backend
    that never answers, it must come back after about ``timeout_seconds`` and say False."""
    stalled = Reply(201, {"success_count": 3, "error_count": 0, "errors": []}, delay=30)
    with FaultyServer(handler=lambda request: stalled) as server:
        result = run(
            TRACED
            + """
import time

handle = respan_otel.configure()
for i in range(3):
    step("stalled", i)
started = time.monotonic()
flushed = respan_otel.flush(0.5)
report(flushed=flushed, seconds=time.monotonic() - started, stats=handle.stats)
""",
            child_env(
                RESPAN_API_KEY="sk-stall",
                RESPAN_BASE_URL=server.url,
                RESPAN_DATASET_ID=DATASET_ID,
                RESPAN_EXPORT_TIMEOUT_SECONDS="3",
                RESPAN_REQUEST_TIMEOUT_SECONDS="2",
            ),
        ).check()
    data = result.data
    assert data["stats"]["exported"] == 0
    assert data["flushed"] is False, f"flush() said True but nothing was delivered: {data}"
    assert data["seconds"] < 1.5, f"flush(0.5) took {data['seconds']:.1f} s"


BAD_OPTIONS = """
import os
import respan_otel
from opentelemetry.sdk.trace import TracerProvider

cases = {
    "batch_size=0": dict(batch_size=0),
    "batch_size=501": dict(batch_size=501),
    "requests_per_minute=-1": dict(requests_per_minute=-1),
    "export_timeout=0": dict(export_timeout=0),
    "shutdown_timeout=0": dict(shutdown_timeout=0),
    "base_url=ftp": dict(base_url="ftp://127.0.0.1:9"),
    "dataset_id=empty": dict(dataset_id=""),
    "env RESPAN_BATCH_SIZE": {"env": ("RESPAN_BATCH_SIZE", "lots")},
    "env RESPAN_SHUTDOWN_TIMEOUT_SECONDS": {"env": ("RESPAN_SHUTDOWN_TIMEOUT_SECONDS", "-1")},
}
messages = {}
for name, options in cases.items():
    variable = options.pop("env", None)
    if variable:
        os.environ[variable[0]] = variable[1]
    try:
        # a fresh provider per case, so that idempotence never hides a case
        respan_otel.configure(tracer_provider=TracerProvider(), **options)
        messages[name] = None
    except (TypeError, ValueError) as exc:
        messages[name] = str(exc)
    finally:
        if variable:
            del os.environ[variable[0]]
report(messages=messages)
"""


def test_bad_option_values_fail_at_configure_naming_the_setting():
    result = run(
        BAD_OPTIONS,
        child_env(
            RESPAN_API_KEY="sk-x",
            RESPAN_BASE_URL="http://127.0.0.1:9",
            RESPAN_DATASET_ID=DATASET_ID,
        ),
    ).check()
    messages = result.data["messages"]
    expected = {
        "batch_size=0": "batch_size=0",
        "batch_size=501": "batch_size=501",
        "requests_per_minute=-1": "requests_per_minute=-1",
        "export_timeout=0": "export_timeout=0",
        "shutdown_timeout=0": "shutdown_timeout=0",
        "base_url=ftp": "base_url",
        "dataset_id=empty": "dataset_id",
        "env RESPAN_BATCH_SIZE": "RESPAN_BATCH_SIZE='lots'",
        "env RESPAN_SHUTDOWN_TIMEOUT_SECONDS": "RESPAN_SHUTDOWN_TIMEOUT_SECONDS",
    }
    for case, fragment in expected.items():
        assert messages[case] is not None, f"{case} was accepted"
        assert fragment in messages[case], (case, messages[case])


def test_bad_option_values_fail_even_without_an_api_key():
    """A typo in the settings must not wait for the production key to surface (issue 7:
    invalid configuration fails fast at configuration time)."""
    result = run(BAD_OPTIONS, child_env(RESPAN_BASE_URL=NOWHERE)).check()
    accepted = sorted(case for case, message in result.data["messages"].items() if not message)
    assert accepted == [], f"accepted without a key: {accepted}"


def test_a_failed_configure_leaves_the_provider_as_it_was():
    """A ``configure()`` that raises must not half-install itself: fixing the option and
    calling again must give exactly one set of respan processors."""
    result = run(
        """
import respan_otel
from opentelemetry import trace as otel
from opentelemetry.sdk.trace import TracerProvider

provider = TracerProvider()
otel.set_tracer_provider(provider)


def processors():
    return [type(p).__name__ for p in provider._active_span_processor._span_processors]


try:
    respan_otel.configure(batch_size=0)
except ValueError:
    pass
after_failure = processors()
respan_otel.configure()
report(after_failure=after_failure, after_retry=processors())
""",
        child_env(
            RESPAN_API_KEY="sk-x",
            RESPAN_BASE_URL="http://127.0.0.1:9",
            RESPAN_DATASET_ID=DATASET_ID,
        ),
    ).check()
    data = result.data
    assert data["after_retry"].count("PropagationSpanProcessor") == 1, data
    assert data["after_failure"] == [], data
