"""Property tests: any value gives valid JSON within the cap, quickly, without raising."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import json
import math
import time
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from respan_otel._redact import REDACTED, get_redactor
from respan_otel._serialize import DEFAULT_MAX_BYTES, _node_budget, dumps, to_jsonable
from respan_otel._serialize._fast import plain_json
from respan_otel._settings import DEFAULT_REDACT_KEYS

CAPS = st.sampled_from([256, 257, 300, 512, 1024, 4096, 65_536, DEFAULT_MAX_BYTES])
REDACTOR = get_redactor(DEFAULT_REDACT_KEYS)
FAST = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])

any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
long_text = st.builds(
    lambda unit, count: unit * count,
    st.sampled_from(["a", "é", "漢", "😀", "\n", '"', "\ud800", "ab\x00"]),
    st.integers(300, 20_000),
)
keys = st.one_of(
    any_text,
    st.sampled_from(["api_key", "max_tokens", "Authorization", "_truncated", "preview"]),
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=8),
        st.dictionaries(st.text(max_size=20), children, max_size=8),
    ),
    max_leaves=30,
)


class Shade(enum.Enum):
    DARK = "dark"
    LIGHT = 2


@dataclasses.dataclass
class Box:
    content: Any
    password: str = "pw"


class Loud:
    __slots__ = ()

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Liar:
    def __init__(self) -> None:
        self.size = -1

    def __len__(self) -> int:
        return self.size

    def __getattr__(self, name: str) -> Any:
        raise ValueError(name)


def _generator() -> Any:
    yield 1


odd_leaves = st.one_of(
    json_leaves,
    st.floats(),
    st.integers(4_000, 6_000).map(lambda digits: 10**digits),
    st.integers(4_000, 6_000).map(lambda digits: -(10**digits)),
    any_text,
    long_text,
    st.binary(max_size=200),
    st.datetimes(),
    st.dates(),
    st.timedeltas(),
    st.decimals(),
    st.uuids(),
    st.complex_numbers(),
    st.fractions(),
    st.sampled_from(list(Shade)),
    st.builds(Loud),
    st.builds(Liar),
    st.builds(_generator),
    st.builds(object),
    st.builds(lambda: iter([1, 2])),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=10),
        st.lists(children, max_size=10).map(tuple),
        st.dictionaries(keys, children, max_size=10),
        st.dictionaries(st.integers() | st.floats() | st.none(), children, max_size=5),
        st.frozensets(st.integers() | st.text(max_size=5), max_size=10),
        st.builds(Box, children),
    )


odd_values = st.recursive(odd_leaves, _containers, max_leaves=40)


def check(value: object, max_bytes: int) -> Any:
    """Serialize under the cap: valid UTF-8 JSON, within the cap, fast."""
    started = time.perf_counter()
    text = dumps(value, max_bytes=max_bytes, redactor=REDACTOR)
    assert time.perf_counter() - started < 2
    raw = text.encode("utf-8")
    assert len(raw) <= max_bytes
    return json.loads(text)


def assert_plain(value: object) -> None:
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str
            assert_plain(item)
    elif type(value) is list:
        for item in value:
            assert_plain(item)
    else:
        assert value is None or type(value) in (bool, int, str, float), type(value)
        if type(value) is float:
            assert math.isfinite(value)


@FAST
@given(json_values)
def test_plain_json_round_trips(value: Any) -> None:
    assert json.loads(dumps(value, max_bytes=10**7)) == value
    assert to_jsonable(value) == value


@FAST
@given(odd_values, CAPS)
def test_any_value_gives_valid_json_within_the_cap(value: Any, max_bytes: int) -> None:
    check(value, max_bytes)


@FAST
@given(odd_values)
def test_to_jsonable_gives_plain_json(value: Any) -> None:
    converted = to_jsonable(value, redactor=REDACTOR)
    assert_plain(converted)
    json.dumps(converted, allow_nan=False)


@FAST
@given(st.dictionaries(keys, st.one_of(odd_leaves, _containers(odd_leaves)), max_size=6))
def test_secret_keys_are_always_masked(value: dict[str, Any]) -> None:
    result = to_jsonable(value, redactor=REDACTOR)
    assert isinstance(result, dict)
    for key in value:
        if type(key) is str and REDACTOR.matches(key) and key in result:
            assert result[key] == REDACTED


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["list", "dict", "box"]), min_size=1, max_size=8),
    st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20),
    CAPS,
)
def test_cyclic_graphs(kinds: list[str], edges: list[tuple[int, int]], max_bytes: int) -> None:
    nodes: list[Any] = []
    for kind in kinds:
        nodes.append([] if kind == "list" else {} if kind == "dict" else Box(None))
    for source, target in edges:
        holder = nodes[source % len(nodes)]
        child = nodes[target % len(nodes)]
        if isinstance(holder, list):
            holder.append(child)
        elif isinstance(holder, dict):
            holder[f"n{len(holder)}"] = child
        else:
            holder.content = [holder.content, child]
    check(nodes[0], max_bytes)
    assert_plain(to_jsonable(nodes[0]))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3_000), st.sampled_from(["list", "dict", "tuple"]), CAPS)
def test_deep_nesting(levels: int, kind: str, max_bytes: int) -> None:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value] if kind == "list" else {"k": value} if kind == "dict" else (value,)
    check(value, max_bytes)


@settings(max_examples=12, deadline=None)
@given(
    st.integers(50_000, 400_000),
    st.sampled_from(["ints", "strings", "dicts", "nested"]),
    CAPS,
)
def test_huge_inputs_finish_quickly(count: int, shape: str, max_bytes: int) -> None:
    if shape == "ints":
        value: Any = list(range(count))
    elif shape == "strings":
        value = ["s" * (count % 997)] * (count // 10)
    elif shape == "dicts":
        value = {str(i): {"v": i} for i in range(count // 4)}
    else:
        value = [[i, [str(i)]] for i in range(count // 4)]
    check(value, max_bytes)


@settings(max_examples=25, deadline=None)
@given(st.integers(100, 2_000_000), any_text, CAPS)
def test_huge_strings(length: int, unit: str, max_bytes: int) -> None:
    text = (unit or "x") * (length // max(1, len(unit)))
    result = check({"text": text, "n": 1}, max_bytes)
    assert isinstance(result, dict)


@FAST
@given(st.dictionaries(st.text(max_size=10), json_leaves, max_size=5))
def test_small_flat_dicts_match_json_dumps(value: dict[str, Any]) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert dumps(value) == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), long_text), min_size=1, max_size=40), CAPS)
def test_cut_strings_keep_their_heads(texts: list[str], max_bytes: int) -> None:
    result = check(texts, max_bytes)
    if isinstance(result, list):
        for original, kept in zip(texts, result, strict=False):
            original = original.replace("\ud800", "\ufffd")
            if isinstance(kept, str) and kept != original:
                head, note = kept.rsplit("...[truncated ", 1)
                assert original.startswith(head)
                assert note == f"{len(original) - len(head)} chars]"


def _mixed() -> list[Any]:
    return [
        dt.datetime(2024, 1, 1),
        decimal.Decimal("1.5"),
        uuid.uuid4(),
        Shade.DARK,
        Box([1, 2]),
        math.nan,
    ]


@FAST
@given(st.permutations(_mixed()), CAPS)
def test_mixed_standard_types(values: list[Any], max_bytes: int) -> None:
    result = check(values, max_bytes)
    if max_bytes >= 1024:
        assert len(result) == len(values)


near_plain_leaves = st.one_of(
    json_leaves,
    st.floats(),  # NaN and infinities too
    st.integers(min_value=10**3990, max_value=10**4010),
    st.text(min_size=300, max_size=400),
)
near_plain = st.recursive(
    near_plain_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.integers(), st.sampled_from(["api_key", "token"])),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=40,
)


@given(near_plain, st.sampled_from([256, 4_096, DEFAULT_MAX_BYTES]))
def test_the_fast_path_writes_what_the_general_walk_writes(value: Any, max_bytes: int) -> None:
    redactor = get_redactor(DEFAULT_REDACT_KEYS)
    fast = plain_json(value, max_bytes, _node_budget(max_bytes) - 1, redactor)
    if fast is not None:
        general = to_jsonable(value, redactor=redactor)
        assert json.loads(fast) == general
        assert fast == json.dumps(general, ensure_ascii=False, separators=(",", ":"))


def test_the_fast_path_stops_at_the_walkers_depth() -> None:
    value: Any = "leaf"
    for _ in range(25):
        value = [value]
    assert plain_json(value, DEFAULT_MAX_BYTES, 1_000, None) is None
    assert "<max depth exceeded" in dumps(value)


def test_the_fast_path_refuses_text_larger_than_the_cap_before_encoding() -> None:
    class Loud(str):
        """Never encoded: a str subclass is refused by the scan, so it can tell."""

    assert plain_json({"doc": "x" * 2_000}, 1_000, 100, None) is None
    assert plain_json({"x" * 2_000: 1}, 1_000, 100, None) is None
    assert plain_json(["x" * 600, "y" * 600], 1_000, 100, None) is None
    assert plain_json([Loud("a")], 1_000, 100, None) is None
    assert plain_json({"doc": "x" * 900}, 1_000, 100, None) == '{"doc":"' + "x" * 900 + '"}'


# Values far over the cap: long strings, wide and nested containers, so every step of
# fitting (strings cut, containers cut, a preview) is reached.
oversized = st.recursive(
    st.one_of(json_leaves, long_text, keys),
    lambda children: st.one_of(
        st.builds(lambda item, count: [item] * count, children, st.integers(1, 60)),
        st.dictionaries(keys, children, max_size=12),
        st.lists(children, max_size=6),
    ),
    max_leaves=20,
)


@settings(FAST, max_examples=150)
@given(oversized, st.integers(256, 20_000))
def test_oversized_values_fit_the_cap_as_valid_json(value: Any, max_bytes: int) -> None:
    text = dumps(value, max_bytes=max_bytes)
    assert len(text.encode("utf-8")) <= max_bytes
    json.loads(text)
