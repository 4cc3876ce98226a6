"""Bad input: hostile span attributes, hostile user objects, invalid configuration.

1. The mapping (``span_to_log``) over spans whose attributes hypothesis generates
   (malformed and non-standard JSON in ``respan.input`` / ``input.value``, odd flattened
   message keys, non-finite and huge numbers, huge strings) never raises and always gives
   strict JSON (``json.dumps(body, allow_nan=False)``). Known hostile cases are also
   pinned as examples, one test each.
2. Hostile objects handed to ``@trace`` (raising ``__repr__``/``__str__``/``__getattr__``,
   properties with side effects, lying ``__len__``, enormous strings) never change what
   the traced function returns or raises, and are never poked beyond the guards.
3. Invalid configuration fails at configuration time with a message naming the setting.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Status, StatusCode

from respan_otel import RespanDatasetExporter, span, trace, update_current_span
from respan_otel._export._mapping import span_to_log
from respan_otel._redact import get_redactor
from respan_otel._settings import DEFAULT_MAX_FIELD_BYTES, DEFAULT_REDACT_KEYS
from tests.conftest import by_name
from tests.faulty_server import FaultyServer, RecordedRequest, Reply, json_reply
from tests.scripts.harness import DATASET_ID, child_env, run

PROVIDER = TracerProvider()
"""A private provider: spans built here reach no processor and no test's exporter."""
TRACER = PROVIDER.get_tracer("tests.reliability.input")
REDACTOR = get_redactor(DEFAULT_REDACT_KEYS)
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def make_span(
    attributes: dict[str, Any],
    status: tuple[StatusCode, str | None] | None = None,
    event: dict[str, Any] | None = None,
) -> ReadableSpan:
    """A finished SDK span with these attributes (the SDK drops invalid values)."""
    created = TRACER.start_span("hostile", attributes=attributes)
    if event is not None:
        created.add_event("exception", attributes=event)
    if status is not None:
        created.set_status(Status(*status))
    created.end()
    return created  # type: ignore[return-value]


def assert_strict_log(mapped_span: ReadableSpan) -> dict[str, Any]:
    """The mapping gives a log whose body is strict JSON and names its span."""
    for redactor in (None, REDACTOR):
        mapped = span_to_log(mapped_span, redactor=redactor)
        assert mapped is not None, "a span with content markers must give a log"
        text = json.dumps(mapped.body, allow_nan=False)
        body = json.loads(text)
        assert body["metadata"]["span_id"] == f"{mapped_span.context.span_id:016x}"
        assert body["status_code"] in (200, 500)
        assert "input" in body
        for name, value in body["metrics"].items():
            assert isinstance(value, (int, float)), name
            assert not isinstance(value, bool), name
    return body


# --- strategies ---------------------------------------------------------------------------

CONTENT_KEYS = [
    "respan.input",
    "respan.output",
    "input.value",
    "output.value",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "traceloop.entity.input",
    "traceloop.entity.output",
]
MARKER_KEYS = [
    "respan.span.kind",
    "openinference.span.kind",
    "traceloop.span.kind",
    "gen_ai.operation.name",
    "respan.entity.log_type",
]
# Context stamped on every span (propagate(), OpenInference's using_metadata): HTTP and
# DB spans carry them too, so they alone never make a span dataset content.
OTHER_KEYS = [
    "respan.metadata",
    "metadata",
    "input.mime_type",
    "output.mime_type",
    "respan.dataset",
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.token_count.total",
    "llm.cost.total",
    "gen_ai.usage.cost",
    "respan.session_id",
    "session.id",
    "user.id",
    "respan.end_reason",
    "error.type",
    "traceloop.association.properties.user_id",
    "traceloop.association.properties.",
]
FLAT_PREFIXES = [
    "llm.input_messages.",
    "llm.output_messages.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
]

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_trees = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.sampled_from(["a", "role", "content", "api_key", ""]), children),
    ),
    max_leaves=15,
)
nested = st.builds(
    lambda opener, depth, closed: opener * depth + (_closer(opener) * depth if closed else ""),
    st.sampled_from(["[", '{"a":', '[{"b":']),
    st.sampled_from([1, 10, 900, 1_100, 3_000]),
    st.booleans(),
)


def _closer(opener: str) -> str:
    return {"[": "]", '{"a":': "}", '[{"b":': "}]"}[opener]


jsonish = st.one_of(
    json_trees.map(lambda tree: json.dumps(tree)),  # NaN and Infinity included
    json_trees.map(lambda tree: json.dumps(tree)[: len(json.dumps(tree)) // 2]),  # truncated
    nested,
    st.sampled_from(
        [
            "NaN",
            "-Infinity",
            "[1e999]",
            "1" * 5_000,
            '"\\ud800"',
            '{"a": 1} trailing',
            "",
            " ",
            "\x00",
            '{"__proto__": {"x": 1}}',
        ]
    ),
    st.text(max_size=50),
    st.builds(
        lambda unit, count: unit * count, st.sampled_from(["x", "é", "😀"]), st.integers(0, 20_000)
    ),
)
values = st.one_of(
    jsonish,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.text(max_size=10), max_size=4).map(tuple),
    st.lists(st.floats(allow_nan=True), max_size=4).map(tuple),
    st.lists(st.integers(min_value=-(2**64), max_value=2**64), max_size=4).map(tuple),
)
flat_keys = st.builds(
    lambda prefix, index, suffix: prefix + index + suffix,
    st.sampled_from(FLAT_PREFIXES),
    st.one_of(
        st.integers(0, 10**9).map(str),
        st.sampled_from(
            ["9" * 5_000, "\u0663", "\u00b2", "\u2460", "00", "-1", "", "1.5", "\uff11", "0x1"]
        ),
        st.text(alphabet="0123456789\u0660\u0661\u0662", max_size=8),
    ),
    st.sampled_from(
        [
            ".role",
            ".content",
            ".message.role",
            ".message.content",
            ".message.tool_calls.0.tool_call.id",
            ".message.tool_calls.\u00b2.id",
            ".message.contents.1.message_content.text",
            "",
            ".",
            ".x",
        ]
    ),
)
keys = st.one_of(
    st.sampled_from(CONTENT_KEYS + MARKER_KEYS + OTHER_KEYS),
    flat_keys,
    st.text(max_size=20).map(lambda name: "respan.metrics." + name),
    st.text(max_size=20),
)
attribute_sets = st.builds(
    lambda marker, value, rest: {**rest, marker: value},
    st.sampled_from(CONTENT_KEYS + MARKER_KEYS),
    values,
    st.dictionaries(keys, values, max_size=8),
)
statuses = st.one_of(
    st.none(),
    st.tuples(st.just(StatusCode.ERROR), st.one_of(st.none(), st.text(max_size=30))),
    st.just((StatusCode.OK, None)),
)
events = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["exception.type", "exception.message", "x"]), values, max_size=3
    ),
)


@PROPERTY
@given(attribute_sets, statuses, events)
def test_the_mapping_never_raises_and_always_gives_strict_json(
    attributes: dict[str, Any], status: Any, event: Any
) -> None:
    assert_strict_log(make_span(attributes, status, event))


HOSTILE_ATTRIBUTES = [
    pytest.param({"respan.input": "NaN"}, id="NaN-as-our-input"),
    pytest.param(
        {"respan.span.kind": "task", "respan.output": "[Infinity]"}, id="inf-in-our-output"
    ),
    pytest.param(
        {"respan.span.kind": "llm", "respan.metadata": '{"score": -Infinity}'},
        id="inf-in-our-metadata",
    ),
    pytest.param({"input.value": "[NaN, 1]"}, id="NaN-in-openinference-input"),
    pytest.param(
        {
            "respan.span.kind": "llm",
            "gen_ai.usage.input_tokens": 1.7e308,
            "gen_ai.usage.output_tokens": 1.7e308,
        },
        id="token-sum-overflows-to-inf",
    ),
    pytest.param({"respan.input": "[" * 100_000 + "]" * 100_000}, id="deep-json-our-input"),
    pytest.param({"input.value": "[" * 100_000 + "]" * 100_000}, id="deep-json-openinference"),
    pytest.param(
        {"openinference.span.kind": "LLM", "metadata": '{"a":' * 100_000 + "1" + "}" * 100_000},
        id="deep-json-openinference-metadata",
    ),
    pytest.param({"input.value": "[" * 100_000}, id="unclosed-deep-json"),
    pytest.param(
        {"llm.input_messages." + "9" * 5_000 + ".message.role": "user"},
        id="flattened-key-with-5000-digit-index",
    ),
    pytest.param(
        {"llm.input_messages.\u0663.message.content": "hi"}, id="flattened-key-unicode-digit"
    ),
    pytest.param(
        {"llm.input_messages.\u00b2.message.role": "user"}, id="flattened-key-superscript-two"
    ),
    pytest.param(
        {"llm.input_messages.0.message.tool_calls.\u2460.id": "call"},
        id="flattened-key-circled-digit",
    ),
    pytest.param({"respan.input": "1" * 5_000}, id="json-number-too-long"),
    pytest.param({"input.value": '"\\ud800 lone surrogate"'}, id="lone-surrogate-escape"),
    pytest.param({"respan.span.kind": "llm", "respan.metrics.": math.inf}, id="inf-metric"),
    pytest.param({"respan.span.kind": "task", "respan.metrics.x": 2**200}, id="huge-int-metric"),
]


@pytest.mark.parametrize("attributes", HOSTILE_ATTRIBUTES)
def test_hostile_attributes_give_a_strict_json_log(attributes: dict[str, Any]) -> None:
    assert_strict_log(make_span(attributes))


# --- hostile user objects through @trace --------------------------------------------------


class Hostile:
    """Base: counts every poke the serializer must never make."""

    def __init__(self) -> None:
        self.pokes = 0


class RaisingRepr(Hostile):
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


class RaisingStr(Hostile):
    def __str__(self) -> str:
        raise RuntimeError("str is broken")

    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


class RaisingGetattr(Hostile):
    def __getattr__(self, name: str) -> Any:
        object.__setattr__(self, "pokes", object.__getattribute__(self, "pokes") + 1)
        raise RuntimeError(f"no {name}")


class RaisingGetattribute:
    pokes = 0

    def __getattribute__(self, name: str) -> Any:
        if name in ("__class__", "pokes"):
            return object.__getattribute__(self, name)
        raise RuntimeError(f"no {name}")


class SideEffects(Hostile):
    @property
    def charge(self) -> int:
        self.pokes += 1
        return self.pokes

    @property
    def broken(self) -> int:
        self.pokes += 1
        raise RuntimeError("property raised")


class LyingLength(Sequence[int], Hostile):
    def __len__(self) -> int:
        return 10**12

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int) and index >= 3:
            raise IndexError(index)
        return index


class RaisingLength(Sequence[int], Hostile):
    def __len__(self) -> int:
        raise OverflowError("len is broken")

    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("getitem is broken")


class EndlessIterable(Hostile):
    def __iter__(self) -> Iterator[int]:
        self.pokes += 1
        n = 0
        while True:
            n += 1
            yield n


class EnormousRepr(Hostile):
    __slots__ = ()

    def __repr__(self) -> str:
        return "r" * 20_000_000


class HostileEquality(Hostile):
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq is broken")

    def __hash__(self) -> int:
        raise RuntimeError("hash is broken")

    def __bool__(self) -> bool:
        raise RuntimeError("bool is broken")


HOSTILE_OBJECTS: list[Any] = [
    pytest.param(RaisingRepr, id="raising-repr"),
    pytest.param(RaisingStr, id="raising-str-and-repr"),
    pytest.param(RaisingGetattr, id="raising-getattr"),
    pytest.param(RaisingGetattribute, id="raising-getattribute"),
    pytest.param(SideEffects, id="properties-with-side-effects"),
    pytest.param(LyingLength, id="lying-len"),
    pytest.param(RaisingLength, id="raising-len"),
    pytest.param(EndlessIterable, id="endless-iterable"),
    pytest.param(EnormousRepr, id="enormous-repr"),
    pytest.param(HostileEquality, id="raising-eq-hash-bool"),
    pytest.param(lambda: "x" * 20_000_000, id="20-MB-string"),
    pytest.param(lambda: b"\xff" * 2_000_000, id="2-MB-bytes"),
    pytest.param(lambda: {"nested": [RaisingStr(), SideEffects(), {"k": LyingLength()}]}, id="mix"),
]


class Carried(Exception):
    """An exception carrying the hostile object as its argument."""


def pokes(value: Any) -> int:
    try:
        return int(object.__getattribute__(value, "pokes"))
    except AttributeError:
        return 0


@pytest.mark.parametrize("make", HOSTILE_OBJECTS)
def test_hostile_objects_never_change_what_the_traced_function_returns_or_raises(
    make: Callable[[], Any], exporter
) -> None:
    value = make()

    @trace(name="identity")
    def identity(first: Any, *rest: Any, **named: Any) -> Any:
        update_current_span(metadata={"hostile": first}, metrics={"n": 1})
        return first

    @trace(name="items")
    def items(first: Any) -> Iterator[Any]:
        yield first
        yield first

    error = Carried(value)

    @trace(name="fails")
    def fails(first: Any) -> None:
        raise error

    started = time.monotonic()
    assert identity(value, value, key=value) is value
    assert all(item is value for item in items(value))
    with pytest.raises(Carried) as caught:
        fails(value)
    elapsed = time.monotonic() - started
    assert caught.value is error
    assert caught.value.args[0] is value
    assert pokes(value) == 0, "a property, __getattr__ or __iter__ ran"
    assert elapsed < 5, f"tracing three calls took {elapsed:.1f} s"
    spans = exporter.get_finished_spans()
    for name in ("identity", "items", "fails"):
        assert_strict_log(by_name(spans, name))
    assert by_name(spans, "fails").status.status_code is StatusCode.ERROR


@pytest.mark.parametrize("make", HOSTILE_OBJECTS[:10])
async def test_hostile_objects_through_a_traced_coroutine(make: Callable[[], Any], exporter):
    value = make()

    @trace(name="async-identity")
    async def identity(first: Any) -> Any:
        with span("inside", input=first) as handle:
            handle.set_output(first)
        return first

    assert await identity(value) is value
    assert pokes(value) == 0
    assert_strict_log(by_name(exporter.get_finished_spans(), "async-identity"))


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str of the exception is broken")

    def __repr__(self) -> str:
        raise RuntimeError("repr of the exception is broken")


def test_an_exception_whose_str_raises_is_reraised_and_still_recorded_as_an_error(exporter):
    error = UnprintableError("boom")

    @trace(name="unprintable")
    def fails() -> None:
        raise error

    with pytest.raises(UnprintableError) as caught:
        fails()
    assert caught.value is error
    recorded = by_name(exporter.get_finished_spans(), "unprintable")
    assert recorded.status.status_code is StatusCode.ERROR, "the failed call looks successful"
    body = assert_strict_log(recorded)
    assert body["status_code"] == 500


def bulk_ok(request: RecordedRequest) -> Reply:
    count = len(request.json()["logs"])
    return json_reply(201, success_count=count, error_count=0, errors=[])


def export_through_http(spans: list[ReadableSpan]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    with FaultyServer(handler=bulk_ok) as server:
        exporter = RespanDatasetExporter(
            api_key="sk-input", base_url=server.url, dataset_id=DATASET_ID, requests_per_minute=0
        )
        exporter.export(spans)
        exporter.shutdown()
        logs = [log for r in server.requests for log in r.json()["logs"]]
    return exporter.stats.snapshot(), logs


def test_an_enormous_exception_message_still_gives_a_log(exporter):
    """The error message is capped like any field, so the log is not dropped whole."""
    error = ValueError("m" * 10_000_000)

    @trace(name="loud")
    def fails() -> None:
        raise error

    with pytest.raises(ValueError, match="mmmm") as caught:
        fails()
    assert caught.value is error
    stats, logs = export_through_http([by_name(exporter.get_finished_spans(), "loud")])
    assert stats["exported"] == 1, f"the log of a failed call was lost: {stats}"
    (log,) = logs
    assert log["status_code"] == 500
    assert len(json.dumps(log["error_message"])) <= DEFAULT_MAX_FIELD_BYTES


def test_enormous_foreign_content_is_capped_not_dropped(tracer, exporter):
    """Another instrumentation records a 9 MB prompt as plain text: the field is cut to
    the field cap (as ours are), and the log still goes out."""
    with tracer.start_as_current_span(
        "retrieve",
        attributes={
            "openinference.span.kind": "RETRIEVER",
            "input.value": "q" * 9_000_000,
            "input.mime_type": "text/plain",
        },
    ):
        pass
    stats, logs = export_through_http([by_name(exporter.get_finished_spans(), "retrieve")])
    assert stats["exported"] == 1, f"the log was dropped whole: {stats}"
    assert len(json.dumps(logs[0]["input"])) <= DEFAULT_MAX_FIELD_BYTES + 100


# --- invalid configuration fails fast -----------------------------------------------------

EXPORTER_ARGUMENTS = [
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": True}, "batch_size"),
    ({"max_request_bytes": 100}, "max_request_bytes"),
    ({"spool_max_bytes": 10}, "spool_max_bytes"),
    ({"requests_per_minute": -1}, "requests_per_minute"),
    ({"requests_per_minute": math.inf}, "requests_per_minute"),
    ({"requests_per_minute": "30"}, "requests_per_minute"),
    ({"export_timeout": -1}, "export_timeout"),
    ({"export_timeout": math.nan}, "export_timeout"),
    ({"export_timeout": math.inf}, "export_timeout"),
    ({"request_timeout": 0}, "request_timeout"),
    ({"request_timeout": math.inf}, "request_timeout"),
    ({"only_root_spans": "false"}, "only_root_spans"),
    ({"spool_dir": 123}, "spool_dir"),
    ({"redact_keys": "password"}, "redact_keys"),
    ({"redact_keys": [1, 2]}, "redact_keys"),
    ({"dataset_id": ""}, "dataset_id"),
    ({"before_send": "nope"}, "before_send"),
    ({"base_url": "ftp://127.0.0.1"}, "base_url"),
    ({"base_url": "http://example.com"}, "base_url"),
    ({"base_url": "https://user:pw@example.com"}, "base_url"),
    ({"base_url": "https://example.com/?x=1"}, "base_url"),
    ({"base_url": "https://example.com:99999"}, "base_url"),
    ({"base_url": "https://"}, "base_url"),
]


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        pytest.param(o, s, id=f"{next(iter(o))}={next(iter(o.values()))!r}")
        for o, s in EXPORTER_ARGUMENTS
    ],
)
def test_bad_exporter_arguments_fail_at_construction_naming_the_setting(
    options: dict[str, Any], setting: str
) -> None:
    with pytest.raises((TypeError, ValueError)) as caught:
        RespanDatasetExporter(api_key="sk-config", **options)
    assert setting in str(caught.value), str(caught.value)


ENVIRONMENT = [
    ("RESPAN_BATCH_SIZE", "lots"),
    ("RESPAN_BATCH_SIZE", "0"),
    ("RESPAN_MAX_REQUEST_BYTES", "1"),
    ("RESPAN_REQUESTS_PER_MINUTE", "-5"),
    ("RESPAN_EXPORT_TIMEOUT_SECONDS", "-1"),
    ("RESPAN_EXPORT_TIMEOUT_SECONDS", "inf"),
    ("RESPAN_REQUEST_TIMEOUT_SECONDS", "abc"),
    ("RESPAN_SPOOL_MAX_BYTES", "10"),
    ("RESPAN_ONLY_ROOT_SPANS", "maybe"),
    ("RESPAN_REQUESTS_PER_MINUTE", "nan"),
    ("RESPAN_BASE_URL", "ftp://example.com"),
    ("RESPAN_BASE_URL", "http://example.com"),
]


@pytest.mark.parametrize(
    ("variable", "value"), ENVIRONMENT, ids=[f"{n}={v}" for n, v in ENVIRONMENT]
)
def test_bad_environment_fails_at_construction_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises((TypeError, ValueError)) as caught:
        RespanDatasetExporter(api_key="sk-config")
    message = str(caught.value)
    named = variable in message or variable.removeprefix("RESPAN_").lower() in message
    assert named or (variable == "RESPAN_BASE_URL" and "base_url" in message), message


@pytest.mark.parametrize("kind", ["bogus", "LLM", "", None, 3])
def test_an_unknown_kind_fails_at_decoration_naming_it(kind: Any) -> None:
    with pytest.raises(ValueError, match="kind="):
        trace(kind=kind)
    with pytest.raises(ValueError, match="kind="):
        span("block", kind=kind)


CONFIGURE_CASES = """
import os
import math
import respan_otel
from opentelemetry.sdk.trace import TracerProvider

cases = {
    "capture_content='false'": dict(capture_content="false"),
    "only_root_spans='false'": dict(only_root_spans="false"),
    "shutdown_timeout=nan": dict(shutdown_timeout=math.nan),
    "shutdown_timeout=inf": dict(shutdown_timeout=math.inf),
    "shutdown_timeout=-1": dict(shutdown_timeout=-1),
    "base_url=http://example.com": dict(base_url="http://example.com"),
    "batch_size=0": dict(batch_size=0),
    "unknown option": dict(batch_sise=10),
    "tracer_provider='x'": dict(tracer_provider="x"),
    "env RESPAN_MAX_FIELD_BYTES=10": {"env": ("RESPAN_MAX_FIELD_BYTES", "10")},
    "env RESPAN_MAX_STREAM_ITEMS=-1": {"env": ("RESPAN_MAX_STREAM_ITEMS", "-1")},
    "env RESPAN_CAPTURE_CONTENT=maybe": {"env": ("RESPAN_CAPTURE_CONTENT", "maybe")},
}
messages = {}
for name, options in cases.items():
    variable = options.pop("env", None)
    if variable:
        os.environ[variable[0]] = variable[1]
    options.setdefault("tracer_provider", TracerProvider())
    try:
        handle = respan_otel.configure(**options)
    except Exception as exc:
        messages[name] = f"{type(exc).__name__}: {exc}"
    else:
        messages[name] = None
        try:
            handle.shutdown()
        except Exception as exc:  # accepted, and then broke at shutdown
            messages[name + " (shutdown)"] = f"{type(exc).__name__}: {exc}"
    finally:
        if variable:
            del os.environ[variable[0]]
report(messages=messages)
"""

CONFIGURE_EXPECTED = {
    "capture_content='false'": "capture_content",
    "only_root_spans='false'": "only_root_spans",
    "shutdown_timeout=nan": "shutdown_timeout",
    "shutdown_timeout=inf": "shutdown_timeout",
    "shutdown_timeout=-1": "shutdown_timeout",
    "base_url=http://example.com": "base_url",
    "batch_size=0": "batch_size",
    "unknown option": "batch_sise",
    "tracer_provider='x'": "tracer_provider",
    "env RESPAN_MAX_FIELD_BYTES=10": "RESPAN_MAX_FIELD_BYTES",
    "env RESPAN_MAX_STREAM_ITEMS=-1": "RESPAN_MAX_STREAM_ITEMS",
    "env RESPAN_CAPTURE_CONTENT=maybe": "RESPAN_CAPTURE_CONTENT",
}


@pytest.fixture(scope="module")
def configure_messages() -> dict[str, str | None]:
    result = run(
        CONFIGURE_CASES,
        child_env(
            RESPAN_API_KEY="sk-config",
            RESPAN_BASE_URL="http://127.0.0.1:9",
            RESPAN_DATASET_ID=DATASET_ID,
        ),
    ).check()
    return result.data["messages"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", list(CONFIGURE_EXPECTED))
def test_bad_configure_options_fail_at_configure_naming_the_setting(
    configure_messages: dict[str, str | None], case: str
) -> None:
    message = configure_messages[case]
    assert message is not None, f"configure() accepted {case}"
    assert CONFIGURE_EXPECTED[case] in message, message
