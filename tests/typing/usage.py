"""Checked by mypy --strict in tests/test_typing.py; never executed.

``assert_type`` pins what mypy sees; each ``type: ignore`` marks a call that must stay an
error, and ``warn_unused_ignores`` fails the check if a decorator ever loses the
signature and the error disappears.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

from typing_extensions import assert_type

from respan_otel import ContextThreadPoolExecutor, propagate, span, trace, wrap_context


@trace
def bare(question: str, k: int = 3) -> list[str]:
    return [question] * k


@trace(name="called", kind="llm", metadata={"model": "m"})
async def called(prompt: str) -> str:
    return prompt


@trace("named")
def stream(n: int) -> Iterator[int]:
    yield from range(n)


@trace
async def astream(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


class Service:
    @trace
    def method(self, x: int) -> int:
        return x

    @trace
    @classmethod
    def make(cls, name: str) -> Service:
        return cls()

    @staticmethod
    @trace(kind="tool")
    def helper(text: str) -> str:
        return text


def third_party(a: int, b: int) -> int:
    return a + b


traced_third_party = trace(third_party)


async def use() -> None:
    assert_type(bare("q"), list[str])
    pending: Coroutine[Any, Any, str] = called("p")
    assert_type(await pending, str)
    assert_type(await called("p"), str)
    assert_type(stream(2), Iterator[int])
    assert_type(astream(2), AsyncIterator[int])
    assert_type(Service().method(1), int)
    assert_type(Service.make("n"), Service)
    assert_type(Service.helper("t"), str)
    assert_type(traced_third_party(1, 2), int)
    bare(1)  # type: ignore[arg-type]
    bare("q", k="x")  # type: ignore[arg-type]
    traced_third_party(1)  # type: ignore[call-arg]
    Service().method("x")  # type: ignore[arg-type]

    with span("block", kind="retriever", input={"q": 1}) as handle:
        handle.set_output(["doc"])
        handle.set_metrics({"latency": 0.1})
    async with span("async block") as ahandle:
        ahandle.set_metadata({"k": "v"})
    span("bad", kind="nonsense")  # type: ignore[arg-type]

    with propagate(session_id="s", metadata={"a": 1}):
        pass

    @propagate(customer_identifier="c")
    def decorated(x: int) -> int:
        return x

    decorated(1)

    with ContextThreadPoolExecutor(2) as pool:
        assert_type(pool.submit(third_party, 1, 2).result(), int)
    assert_type(wrap_context(third_party)(1, 2), int)
