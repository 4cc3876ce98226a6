"""@trace on plain callables: what is recorded, and that the callable is unchanged."""

from __future__ import annotations

import functools
import inspect
import json
import traceback
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from respan_otel import trace
from respan_otel._settings import CaptureSettings, set_capture_settings
from tests.conftest import by_name


def attrs_of(exporter: InMemorySpanExporter, name: str) -> dict[str, Any]:
    return dict(by_name(exporter.get_finished_spans(), name).attributes or {})


def recorded(exporter: InMemorySpanExporter, name: str, field: str) -> Any:
    return json.loads(attrs_of(exporter, name)[f"respan.{field}"])


def test_records_bound_arguments_with_defaults_and_the_return_value(exporter):
    @trace
    def answer(question: str, temperature: float = 0.2, *, top_k: int = 3) -> str:
        return question.upper()

    assert answer("why?") == "WHY?"
    name = answer.__qualname__
    assert recorded(exporter, name, "input") == {
        "question": "why?",
        "temperature": 0.2,
        "top_k": 3,
    }
    assert recorded(exporter, name, "output") == "WHY?"
    assert "respan.span.kind" not in attrs_of(exporter, name)  # the default kind, task


def test_keyword_and_positional_calls_bind_the_same(exporter):
    @trace(name="f")
    def f(a, b, c=3):
        return a + b + c

    f(1, 2)
    f(a=1, b=2)
    f(1, c=5, b=2)
    inputs = [json.loads(s.attributes["respan.input"]) for s in exporter.get_finished_spans()]
    assert inputs == [{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2, "c": 5}]


def test_var_args_and_var_kwargs_are_bound_by_name(exporter):
    @trace(name="v")
    def v(a, /, *rest, flag=False, **extra):
        return len(rest)

    assert v(1, 2, 3, flag=True, x="y") == 2
    assert recorded(exporter, "v", "input") == {
        "a": 1,
        "rest": [2, 3],
        "flag": True,
        "extra": {"x": "y"},
    }


def test_a_call_that_does_not_bind_falls_back_to_args_and_kwargs(exporter):
    @trace(name="two")
    def two(a, b):
        return a

    with pytest.raises(TypeError):
        two(1, 2, 3, z=4)
    span = by_name(exporter.get_finished_spans(), "two")
    assert json.loads(span.attributes["respan.input"]) == {"args": [1, 2, 3], "kwargs": {"z": 4}}
    assert span.status.status_code is StatusCode.ERROR


class Agent:
    def __init__(self, model: str) -> None:
        self.model = model

    @trace
    def ask(self, prompt: str) -> str:
        return f"{self.model}:{prompt}"

    @trace
    @classmethod
    def build_outer(cls, model: str) -> Agent:
        return cls(model)

    @classmethod
    @trace
    def build_inner(cls, model: str) -> Agent:
        return cls(model)

    @trace
    @staticmethod
    def clean_outer(text: str) -> str:
        return text.strip()

    @staticmethod
    @trace
    def clean_inner(text: str) -> str:
        return text.strip()


@pytest.mark.parametrize(
    ("call", "name", "expected_input"),
    [
        (lambda: Agent("m").ask("hi"), "Agent.ask", {"prompt": "hi"}),
        (lambda: Agent.ask(Agent("m"), "hi"), "Agent.ask", {"prompt": "hi"}),
        (lambda: Agent.build_outer("m"), "Agent.build_outer", {"model": "m"}),
        (lambda: Agent("x").build_outer("m"), "Agent.build_outer", {"model": "m"}),
        (lambda: Agent.build_inner("m"), "Agent.build_inner", {"model": "m"}),
        (lambda: Agent("x").build_inner("m"), "Agent.build_inner", {"model": "m"}),
        (lambda: Agent.clean_outer(" t "), "Agent.clean_outer", {"text": " t "}),
        (lambda: Agent("x").clean_outer(" t "), "Agent.clean_outer", {"text": " t "}),
        (lambda: Agent.clean_inner(" t "), "Agent.clean_inner", {"text": " t "}),
        (lambda: Agent("x").clean_inner(" t "), "Agent.clean_inner", {"text": " t "}),
    ],
)
def test_methods_record_arguments_without_self_or_cls(exporter, call, name, expected_input):
    result = call()
    assert result is not None
    assert recorded(exporter, name, "input") == expected_input


def test_classmethods_still_receive_the_class():
    class Sub(Agent):
        pass

    assert type(Sub.build_outer("m")) is Sub
    assert type(Sub.build_inner("m")) is Sub


def test_wrapping_third_party_callables(exporter):
    agent = Agent("gpt")
    traced_bound = trace(agent.ask.__wrapped__.__get__(agent))
    assert traced_bound("q") == "gpt:q"
    assert recorded(exporter, "Agent.ask", "input") == {"prompt": "q"}

    class Scorer:
        def __call__(self, text: str) -> int:
            return len(text)

    scorer = trace(Scorer(), name="scorer")
    assert scorer("abcd") == 4
    assert recorded(exporter, "scorer", "input") == {"text": "abcd"}

    traced_len = trace(len)
    assert traced_len([1, 2]) == 2
    assert recorded(exporter, "len", "output") == 2

    part = trace(functools.partial(lambda a, b: a * b, 3), name="part")
    assert part(4) == 12
    assert recorded(exporter, "part", "input") == {"b": 4}


def test_wrapped_function_keeps_its_identity():
    def original(a: int, b: str = "x") -> str:
        """Docs stay."""
        return b * a

    traced = trace(original)
    assert traced.__name__ == "original"
    assert traced.__qualname__ == original.__qualname__
    assert traced.__doc__ == "Docs stay."
    assert traced.__wrapped__ is original
    assert traced.__module__ == original.__module__
    assert inspect.signature(traced) == inspect.signature(original)
    assert traced(2, "ab") == "abab"


def test_coroutine_and_generator_flags_survive():
    async def coro() -> int:
        return 1

    def gen():
        yield 1

    async def agen():
        yield 1

    assert inspect.iscoroutinefunction(trace(coro))
    assert inspect.isgeneratorfunction(trace(gen))
    assert inspect.isasyncgenfunction(trace(agen))
    assert not inspect.iscoroutinefunction(trace(gen))


def test_exception_is_recorded_and_reraised_unchanged(exporter):
    class Boom(Exception):
        pass

    error = Boom("bad input")

    @trace(name="fails")
    def fails(x):
        raise error

    with pytest.raises(Boom) as caught:
        fails(1)
    assert caught.value is error
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert frames[-1] == "fails", "the raising frame must still be last in the traceback"
    span = by_name(exporter.get_finished_spans(), "fails")
    assert span.status.status_code is StatusCode.ERROR
    assert "Boom: bad input" in (span.status.description or "")
    assert span.attributes["error.type"].endswith("Boom")
    assert [event.name for event in span.events] == ["exception"]
    assert "respan.output" not in span.attributes


def test_keyboard_interrupt_and_system_exit(exporter):
    @trace(name="interrupted")
    def interrupted():
        raise KeyboardInterrupt

    @trace(name="exits")
    def exits(code):
        raise SystemExit(code)

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    with pytest.raises(SystemExit):
        exits(0)
    with pytest.raises(SystemExit):
        exits(3)
    spans = exporter.get_finished_spans()
    stopped = by_name(spans, "interrupted")
    assert stopped.status.status_code is StatusCode.ERROR
    assert stopped.attributes["respan.end_reason"] == "interrupted"
    clean, failed = [s for s in spans if s.name == "exits"]
    assert clean.status.status_code is StatusCode.UNSET
    assert clean.attributes["respan.end_reason"] == "exit"
    assert failed.status.status_code is StatusCode.ERROR


def test_nested_calls_form_one_trace(exporter, tracer):
    @trace(name="inner")
    def inner():
        with tracer.start_as_current_span("foreign"):
            return otel_trace.get_current_span()

    @trace(name="outer", kind="workflow")
    def outer():
        return inner()

    outer()
    spans = exporter.get_finished_spans()
    outer_span, inner_span, foreign = (by_name(spans, n) for n in ("outer", "inner", "foreign"))
    assert inner_span.parent.span_id == outer_span.context.span_id
    assert foreign.parent.span_id == inner_span.context.span_id
    assert {s.context.trace_id for s in spans} == {outer_span.context.trace_id}
    assert outer_span.attributes["respan.span.kind"] == "workflow"


def test_options_name_kind_dataset_metadata(exporter):
    @trace("retrieve", kind="retriever", dataset="qa-set", metadata={"index": "v2"})
    def retrieve(q):
        return ["doc"]

    retrieve("x")
    attrs = attrs_of(exporter, "retrieve")
    assert attrs["respan.span.kind"] == "retriever"
    assert attrs["respan.dataset"] == "qa-set"
    assert json.loads(attrs["respan.metadata"]) == {"index": "v2"}


def test_capture_switches(exporter):
    @trace(name="quiet_in", capture_input=False)
    def quiet_in(secret):
        return "out"

    @trace(name="quiet_out", capture_output=False)
    def quiet_out(x):
        return "hidden"

    quiet_in("s")
    quiet_out(1)
    assert "respan.input" not in attrs_of(exporter, "quiet_in")
    assert recorded(exporter, "quiet_in", "output") == "out"
    assert "respan.output" not in attrs_of(exporter, "quiet_out")
    assert recorded(exporter, "quiet_out", "input") == {"x": 1}


def test_global_content_switch_records_no_input_or_output(exporter):
    set_capture_settings(CaptureSettings(capture_content=False))

    @trace(name="private", metadata={"tenant": "a"})
    def private(text):
        return text

    assert private("pii") == "pii"
    attrs = attrs_of(exporter, "private")
    assert "respan.input" not in attrs
    assert "respan.output" not in attrs
    assert json.loads(attrs["respan.metadata"]) == {"tenant": "a"}


def test_hooks_transform_input_and_output(exporter):
    @trace(
        name="hooked",
        process_input=lambda bound: {"chars": len(bound["text"])},
        process_output=lambda result: result[:3],
    )
    def hooked(text):
        return text * 2

    assert hooked("abcd") == "abcdabcd"
    assert recorded(exporter, "hooked", "input") == {"chars": 4}
    assert recorded(exporter, "hooked", "output") == "abc"


def test_a_failing_hook_records_nothing_and_never_breaks_the_call(exporter, caplog):
    def bad_hook(value):
        raise RuntimeError("hook bug")

    @trace(name="guarded", process_input=bad_hook, process_output=bad_hook)
    def guarded(token):
        return "secret-result"

    assert guarded("t0k3n") == "secret-result"
    attrs = attrs_of(exporter, "guarded")
    assert "respan.input" not in attrs
    assert "respan.output" not in attrs
    assert any("internal error" in r.getMessage() for r in caplog.records)


def test_redaction_applies_to_argument_names(exporter):
    @trace(name="login")
    def login(user, password, api_key=None):
        return True

    login("ann", "hunter2", api_key="sk-123")
    assert recorded(exporter, "login", "input") == {
        "user": "ann",
        "password": "[REDACTED]",
        "api_key": "[REDACTED]",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "chain"}, "kind='chain' is not one of workflow"),
        ({"metadata": ["a"]}, "metadata must be a mapping"),
        ({"metadata": {1: "a"}}, "metadata keys must be str"),
        ({"dataset": ""}, "dataset must be a non-empty str"),
        ({"name": ""}, "name must be a non-empty str"),
        ({"process_input": "no"}, "process_input must be callable"),
    ],
)
def test_bad_options_fail_at_decoration_time(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        trace(**kwargs)


def test_non_callable_is_refused():
    with pytest.raises(TypeError, match="needs a callable"):
        trace(42)  # type: ignore[call-overload]


def test_update_current_span_and_set_output_win_over_the_return_value(exporter):
    from respan_otel import update_current_span

    @trace(name="doc")
    def doc(x):
        update_current_span(
            output={"final": True}, metadata={"step": 1}, metrics={"tokens": 7}, name="renamed"
        )
        update_current_span(metadata={"more": 2})
        return "raw"

    assert doc(1) == "raw"
    attrs = attrs_of(exporter, "renamed")
    assert json.loads(attrs["respan.output"]) == {"final": True}
    assert json.loads(attrs["respan.metadata"]) == {"step": 1, "more": 2}
    assert attrs["respan.metrics.tokens"] == 7


def test_update_current_span_without_a_span_is_a_no_op(caplog):
    from respan_otel import update_current_span

    caplog.set_level("DEBUG", logger="respan_otel")
    update_current_span(output="x")
    assert any("no recording span" in r.getMessage() for r in caplog.records)


def test_update_current_span_on_a_foreign_span(exporter, tracer):
    from respan_otel import propagate, update_current_span

    with propagate(metadata={"from": "propagate"}), tracer.start_as_current_span("llm-call"):
        update_current_span(input={"q": 1}, metadata={"extra": True}, metrics={"cost": 0.5})
    attrs = attrs_of(exporter, "llm-call")
    assert json.loads(attrs["respan.input"]) == {"q": 1}
    assert json.loads(attrs["respan.metadata"]) == {"from": "propagate", "extra": True}
    assert attrs["respan.metrics.cost"] == 0.5


def test_unsampled_spans_record_nothing_but_still_run(exporter):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    serialized = []

    class Probe:
        def __repr__(self) -> str:
            serialized.append(1)
            return "probe"

    sampled_out = TracerProvider(sampler=ALWAYS_OFF).get_tracer("t")
    with sampled_out.start_as_current_span("root"):

        @trace(name="under_unsampled")
        def f(p):
            return p

        probe = Probe()
        assert f(probe) is probe
    assert exporter.get_finished_spans() == ()
    assert serialized == []
