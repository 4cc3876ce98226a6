"""The binder's fast path gives what ``Signature.bind`` + ``apply_defaults`` gives."""

from __future__ import annotations

import inspect
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from respan_otel._tracing._binding import Binder

NAMES = ("a", "b", "c", "d")


@st.composite
def calls(draw: st.DrawFn) -> tuple[inspect.Signature, tuple[Any, ...], dict[str, Any]]:
    count = draw(st.integers(0, 4))
    with_default = draw(st.integers(0, count))  # the last ones have defaults
    params = [
        inspect.Parameter(
            name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=inspect.Parameter.empty if index < count - with_default else f"d{index}",
        )
        for index, name in enumerate(NAMES[:count])
    ]
    args = tuple(draw(st.lists(st.integers(), max_size=5)))
    keys = draw(st.lists(st.sampled_from((*NAMES, "zz")), unique=True, max_size=5))
    return inspect.Signature(params), args, {key: f"k{key}" for key in keys}


def reference(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return {"args": list(args), "kwargs": kwargs}
    bound.apply_defaults()
    return dict(bound.arguments)


@given(calls())
def test_fast_path_agrees_with_signature_bind(
    call: tuple[inspect.Signature, tuple[Any, ...], dict[str, Any]],
) -> None:
    signature, args, kwargs = call
    got = Binder(signature).bind(args, kwargs)
    expected = reference(signature, args, kwargs)
    assert got == expected
    assert list(got) == list(expected)  # same order too
