"""The serializer: conversions, markers, caps, and objects that fight back."""

from __future__ import annotations

import array
import base64
import collections
import dataclasses
import datetime as dt
import decimal
import enum
import io
import json
import math
import pathlib
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from fractions import Fraction
from typing import Any, ClassVar

import attrs
import numpy as np
import pydantic
import pytest
from pydantic import v1 as pydantic_v1

from respan_otel._serialize import (
    BASE64_KEY,
    CYCLE_MARKER,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_NODES,
    DEFAULT_MAX_STRING,
    TRUNCATED_KEY,
    JSONValue,
    dumps,
    to_jsonable,
)


def load(value: object, **kwargs: Any) -> Any:
    """``dumps`` then ``json.loads``, checking the cap on the way."""
    text = dumps(value, **kwargs)
    assert len(text.encode("utf-8")) <= kwargs.get("max_bytes", DEFAULT_MAX_BYTES)
    return json.loads(text)


def assert_plain(value: object) -> None:
    """Only plain JSON types, all the way down."""
    if isinstance(value, dict):
        assert type(value) is dict
        for key, item in value.items():
            assert type(key) is str
            assert_plain(item)
    elif isinstance(value, list):
        assert type(value) is list
        for item in value:
            assert_plain(item)
    else:
        assert value is None or type(value) in (bool, int, float, str), type(value)
        if type(value) is float:
            assert math.isfinite(value)


def both(value: object) -> Any:
    """Convert with both entry points and check they agree."""
    converted = to_jsonable(value)
    assert_plain(converted)
    assert load(value) == converted
    return converted


# Primitives and output format


def test_primitives_pass_through() -> None:
    value = {"s": "text", "i": 3, "f": 1.5, "t": True, "n": None, "neg": -0.0}
    assert both(value) == value
    assert dumps(value) == '{"s":"text","i":3,"f":1.5,"t":true,"n":null,"neg":-0.0}'


def test_non_ascii_is_kept_raw() -> None:
    assert dumps({"name": "Zoë ✓ 漢字 🎉"}) == '{"name":"Zoë ✓ 漢字 🎉"}'


@pytest.mark.parametrize(
    ("value", "expected"),
    [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")],
)
def test_non_finite_floats_become_strings(value: float, expected: str) -> None:
    assert both(value) == expected
    assert both([value, {"x": value}]) == [expected, {"x": expected}]
    assert both({value: 1}) == {expected: 1}
    assert "NaN" not in dumps(1.0)


def test_huge_int_becomes_marker() -> None:
    huge = 10**5000
    assert both(huge) == f"<int of {huge.bit_length()} bits>"
    assert both(10**100) == 10**100


def test_lone_surrogates_give_valid_utf8() -> None:
    text = dumps({"bad\ud800": "x\udfffy"})
    text.encode("utf-8")
    assert json.loads(text) == {"bad\ufffd": "x\ufffdy"}


# Bytes


def test_utf8_bytes_become_text() -> None:
    assert both(b"hello") == "hello"
    assert both("héllo".encode()) == "héllo"
    assert both(bytearray(b"abc")) == "abc"
    assert both(memoryview(b"abc")) == "abc"


def test_other_bytes_become_marked_base64() -> None:
    raw = bytes(range(256))
    result = both(raw)
    assert result == {BASE64_KEY: base64.b64encode(raw).decode()}
    assert base64.b64decode(result[BASE64_KEY]) == raw


def test_memoryview_of_non_bytes() -> None:
    numbers = array.array("i", [-1, 2, 3])
    result = both(memoryview(numbers))
    assert base64.b64decode(result[BASE64_KEY]) == numbers.tobytes()


def test_long_bytes_are_cut() -> None:
    text = to_jsonable(b"a" * (DEFAULT_MAX_STRING + 10))
    assert text == "a" * DEFAULT_MAX_STRING + "...[truncated 10 chars]"
    binary = to_jsonable(b"\xff" * (DEFAULT_MAX_STRING + 10))
    assert isinstance(binary, dict)
    assert binary[TRUNCATED_KEY] == 10
    assert len(base64.b64decode(str(binary[BASE64_KEY]))) == DEFAULT_MAX_STRING


def test_cut_inside_a_multibyte_character_is_still_text() -> None:
    data = "é".encode() * DEFAULT_MAX_STRING
    result = to_jsonable(data)
    assert isinstance(result, str)
    assert result.startswith("éé")
    assert result.endswith(f"...[truncated {len(data) - DEFAULT_MAX_STRING} chars]")


# Standard library types


class Color(enum.Enum):
    RED = "red"
    PAIR = (1, 2)


class Level(enum.IntEnum):
    HIGH = 3


class Mode(str, enum.Enum):
    FAST = "fast"


def test_standard_types() -> None:
    moment = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc)
    assert both(moment) == "2024-05-06T07:08:09.123456+00:00"
    assert both(dt.date(2024, 5, 6)) == "2024-05-06"
    assert both(dt.time(7, 8, 9)) == "07:08:09"
    assert both(dt.timedelta(minutes=1, microseconds=500)) == 60.0005
    assert both(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert both(decimal.Decimal("3.14159265358979323846264338327950288")) == (
        "3.14159265358979323846264338327950288"
    )
    assert both(decimal.Decimal("NaN")) == "NaN"
    assert both(pathlib.Path("/tmp/x.txt")) == "/tmp/x.txt"
    assert both(pathlib.PureWindowsPath("C:/x")) == "C:\\x"
    assert both(1 + 2j) == "(1+2j)"
    assert both(Color.RED) == "red"
    assert both(Color.PAIR) == [1, 2]
    assert both(Level.HIGH) == 3
    assert both(Mode.FAST) == "fast"
    assert both({Color.RED: 1, Level.HIGH: 2}) == {"red": 1, "3": 2}


def test_subclasses_of_builtins() -> None:
    class Text(str):
        def __str__(self) -> str:
            raise RuntimeError("no")

    class Number(int):
        def __int__(self) -> int:
            raise RuntimeError("no")

    class Real(float):
        pass

    class Stamp(dt.datetime):
        pass

    result = both([Text("t"), Number(4), Real(2.5), Real(math.nan), Stamp(2024, 1, 1)])
    assert result == ["t", 4, 2.5, "NaN", "2024-01-01T00:00:00"]
    assert [type(v) for v in result] == [str, int, float, str, str]


def test_containers() -> None:
    assert both((1, "a", None)) == [1, "a", None]
    assert both({3, 1, 2}) == [1, 2, 3]
    assert both(frozenset({"b", "a"})) == ["a", "b"]
    assert sorted(both({1, "a"}), key=str) == [1, "a"]
    assert both(collections.deque([1, 2])) == [1, 2]
    assert both(range(3)) == [0, 1, 2]
    assert both({"b": 1, "a": 2}.keys()) == ["b", "a"]
    assert both({"a": 1}.values()) == [1]
    assert both({"a": 1}.items()) == [["a", 1]]
    assert both(collections.OrderedDict(a=1)) == {"a": 1}
    assert both(collections.defaultdict(list, a=[1])) == {"a": [1]}
    assert both(collections.Counter("aab")) == {"a": 2, "b": 1}
    assert both(collections.ChainMap({"a": 1}, {"b": 2})) == {"b": 2, "a": 1}
    assert both(collections.UserList([1])) == [1]
    assert both(array.array("d", [1.5])) == [1.5]


def test_dict_keys_become_strings() -> None:
    value = {7: "int", 2.5: "float", None: "none", True: "bool", (1, 2): "tuple"}
    assert both(value) == {
        "7": "int",
        "2.5": "float",
        "null": "none",
        "true": "bool",
        "(1, 2)": "tuple",
    }


def test_namedtuple_becomes_object() -> None:
    point = collections.namedtuple("point", ["x", "y"])
    assert both(point(1, [2])) == {"x": 1, "y": [2]}


def test_exceptions() -> None:
    class QuotaError(Exception):
        pass

    assert both(ValueError("bad value")) == {"type": "ValueError", "message": "bad value"}
    assert both(QuotaError("over")) == {
        "type": f"{__name__}.test_exceptions.<locals>.QuotaError",
        "message": "over",
    }


def helper() -> None:
    """A module-level function to name."""


class Widget:
    def method(self) -> None:
        """A method to name."""


def test_classes_functions_and_modules() -> None:
    assert both(helper) == f"{__name__}.helper"
    assert both(Widget) == f"{__name__}.Widget"
    assert both(Widget().method) == f"{__name__}.Widget.method"
    assert both(Widget.method) == f"{__name__}.Widget.method"
    assert both(len) == "len"
    assert both(int) == "int"
    assert both(str.upper) == "str.upper"
    assert both(json) == "<module json>"
    assert str(both(lambda: 1)).endswith("<lambda>")


def test_other_objects_fall_back_to_repr() -> None:
    assert both(Fraction(1, 3)) == "Fraction(1, 3)"
    assert both(object()).startswith("<object object at 0x")


# Records


@dataclasses.dataclass
class Point:
    x: int
    y: float
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class Slotted:
    label: str
    when: dt.date


@dataclasses.dataclass
class Line:
    start: Point
    end: Point
    note: Any = None


def test_dataclasses() -> None:
    line = Line(Point(1, 2.0, ["a"]), Point(3, 4.5), note=Slotted("s", dt.date(2024, 1, 1)))
    assert both(line) == {
        "start": {"x": 1, "y": 2.0, "tags": ["a"]},
        "end": {"x": 3, "y": 4.5, "tags": []},
        "note": {"label": "s", "when": "2024-01-01"},
    }


def test_dataclass_class_is_named_not_walked() -> None:
    assert both(Point) == f"{__name__}.Point"


def test_dataclass_with_an_unset_slot() -> None:
    @dataclasses.dataclass(slots=True)
    class Lazy:
        ready: int
        value: int = dataclasses.field(init=False)

    assert both(Lazy(1)) == {"ready": 1, "value": "<unreadable: AttributeError>"}


class Message(pydantic.BaseModel):
    role: str
    content: str


class Conversation(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")

    messages: list[Message]
    created: dt.datetime
    key: pydantic.SecretStr
    blob: pydantic.SecretBytes
    meta: dict[str, Any] = {}


class Tags(pydantic.RootModel[list[str]]):
    pass


def test_pydantic_v2_models() -> None:
    value = Conversation(
        messages=[Message(role="user", content="hi")],
        created=dt.datetime(2024, 1, 1),
        key=pydantic.SecretStr("sk-live"),
        blob=pydantic.SecretBytes(b"raw"),
        meta={"n": 1},
        note="extra field",  # type: ignore[call-arg]
    )
    result = both(value)
    assert result == {
        "messages": [{"role": "user", "content": "hi"}],
        "created": "2024-01-01T00:00:00",
        "key": "[REDACTED]",
        "blob": "[REDACTED]",
        "meta": {"n": 1},
        "note": "extra field",
    }
    assert "sk-live" not in dumps(value)
    assert both(Tags(["a", "b"])) == ["a", "b"]


class LegacyMessage(pydantic_v1.BaseModel):
    role: str
    content: str


class LegacyConversation(pydantic_v1.BaseModel):
    messages: list[LegacyMessage]
    key: pydantic_v1.SecretStr


def test_pydantic_v1_models() -> None:
    value = LegacyConversation(
        messages=[LegacyMessage(role="user", content="hi")],
        key=pydantic_v1.SecretStr("sk-live"),
    )
    assert both(value) == {"messages": [{"role": "user", "content": "hi"}], "key": "[REDACTED]"}


@attrs.define
class AttrsPoint:
    x: int
    y: int = attrs.field(repr=False)


@attrs.frozen
class AttrsShape:
    points: list[AttrsPoint]
    name: str


def test_attrs_classes() -> None:
    value = AttrsShape([AttrsPoint(1, 2)], "tri")
    assert both(value) == {"points": [{"x": 1, "y": 2}], "name": "tri"}


class Plain:
    def __init__(self) -> None:
        self.name = "p"
        self.items = [1, 2]
        self._hidden = "secret"


class OnlyPrivate:
    def __init__(self) -> None:
        self._state = 1

    def __repr__(self) -> str:
        return "OnlyPrivate()"


def test_objects_with_dict() -> None:
    assert both(Plain()) == {"name": "p", "items": [1, 2]}
    assert both(OnlyPrivate()) == "OnlyPrivate()"


def test_objects_with_many_attributes_are_bounded() -> None:
    obj = Plain()
    for index in range(DEFAULT_MAX_NODES + 100):
        setattr(obj, f"a{index}", index)
    result = to_jsonable(obj)
    assert isinstance(result, dict)
    assert len(result) <= DEFAULT_MAX_NODES + 1
    assert result[TRUNCATED_KEY] is True


# Numpy


def test_numpy_scalars() -> None:
    assert both(np.int64(3)) == 3
    assert both(np.float32(1.5)) == 1.5
    assert both(np.float64(np.nan)) == "NaN"
    assert both(np.bool_(True)) is True
    assert both(np.str_("s")) == "s"
    assert both(np.complex128(1 + 1j)) == "(1+1j)"
    assert both(np.datetime64("2024-01-02")) == "2024-01-02"
    assert both(np.array(5)) == 5


def test_numpy_arrays() -> None:
    assert both(np.arange(4)) == [0, 1, 2, 3]
    assert both(np.array([[1.5, np.inf], [0, -1]])) == [[1.5, "Infinity"], [0.0, -1.0]]
    assert both(np.array(["a", "b"])) == ["a", "b"]
    assert both(np.array([{"k": 1}, None], dtype=object)) == [{"k": 1}, None]
    assert both(np.zeros((2, 0))) == [[], []]


class SpyArray(np.ndarray):
    """Records the size of every array ``tolist`` is called on."""

    sizes: ClassVar[list[int]] = []

    def tolist(self) -> Any:
        SpyArray.sizes.append(self.size)
        return super().tolist()


@pytest.mark.parametrize("shape", [(10_000_000,), (10_000, 1_000), (2, 5_000_000)])
def test_huge_arrays_are_capped_before_tolist(shape: tuple[int, ...]) -> None:
    SpyArray.sizes.clear()
    arr = np.zeros(shape, dtype=np.float32).view(SpyArray)
    started = time.perf_counter()
    result = to_jsonable(arr)
    assert time.perf_counter() - started < 2
    assert SpyArray.sizes
    assert max(SpyArray.sizes) <= DEFAULT_MAX_NODES
    assert isinstance(result, list)
    assert result[-1] == {TRUNCATED_KEY: shape[0] - (len(result) - 1)}
    text = dumps(arr)
    assert len(text.encode()) <= DEFAULT_MAX_BYTES
    assert TRUNCATED_KEY in text


# Lazy objects are never consumed


def test_generator_is_not_consumed() -> None:
    def numbers() -> Iterator[int]:
        yield from range(3)

    gen = numbers()
    result = both({"g": gen})
    assert result["g"].startswith("<generator object test_generator_is_not_consumed.")
    assert list(gen) == [0, 1, 2]


def test_iterators_are_not_consumed() -> None:
    items = iter([1, 2, 3])
    assert both(items) == "<iterator list_iterator>"
    assert list(items) == [1, 2, 3]
    zipped = zip([1], [2], strict=True)
    assert both(zipped) == "<iterator zip>"
    assert list(zipped) == [(1, 2)]

    class Countdown:
        def __init__(self) -> None:
            self.left = 2

        def __iter__(self) -> Countdown:
            return self

        def __next__(self) -> int:
            if not self.left:
                raise StopIteration
            self.left -= 1
            return self.left

    countdown = Countdown()
    assert both(countdown) == "<iterator test_iterators_are_not_consumed.<locals>.Countdown>"
    assert list(countdown) == [1, 0]


async def test_async_generator_and_coroutine_are_not_consumed() -> None:
    async def agen() -> Any:
        yield 1

    async def coro() -> int:
        return 1

    stream = agen()
    assert "async_generator" in both(stream)
    assert [item async for item in stream] == [1]
    pending = coro()
    assert "coroutine" in both(pending)
    assert await pending == 1


def test_files_are_not_read(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("line one\nline two\n")
    with path.open() as handle:
        handle.readline()
        position = handle.tell()
        result = both({"file": handle})
        assert "TextIOWrapper" in result["file"]
        assert handle.tell() == position
        assert handle.read() == "line two\n"
    buffer = io.BytesIO(b"payload")
    assert "BytesIO" in both(buffer)
    assert buffer.read() == b"payload"


# Cycles and depth


def test_self_referencing_list_and_dict() -> None:
    items: list[Any] = [1]
    items.append(items)
    mapping: dict[str, Any] = {"a": 1}
    mapping["self"] = mapping
    assert both(items) == [1, CYCLE_MARKER]
    assert both(mapping) == {"a": 1, "self": CYCLE_MARKER}


@dataclasses.dataclass
class Node:
    name: str
    peer: Any = None


def test_mutual_dataclass_cycle() -> None:
    first, second = Node("a"), Node("b")
    first.peer, second.peer = second, first
    assert both(first) == {"name": "a", "peer": {"name": "b", "peer": CYCLE_MARKER}}


def test_cycle_through_object_attributes() -> None:
    obj: Any = Plain()
    obj.items = [obj]
    assert both(obj) == {"name": "p", "items": [CYCLE_MARKER]}


def test_shared_references_are_not_cycles() -> None:
    shared = [1]
    assert both([shared, shared, {"a": shared}]) == [[1], [1], {"a": [1]}]


def nest(levels: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(levels):
        child: list[Any] = []
        current.append(child)
        current = child
    return root


def depth_of(value: Any) -> int:
    depth = 0
    while isinstance(value, list) and value:
        value = value[0]
        depth += 1
    return depth


def test_depth_cap() -> None:
    result = both(nest(1000))
    assert depth_of(result) == DEFAULT_MAX_DEPTH
    leaf = result
    for _ in range(DEFAULT_MAX_DEPTH):
        leaf = leaf[0]
    assert leaf == "<max depth exceeded: list>"
    assert to_jsonable([[["x"]]], max_depth=2) == [["<max depth exceeded: list>"]]
    assert to_jsonable({"a": 1}, max_depth=0) == "<max depth exceeded: dict>"
    assert depth_of(to_jsonable(nest(1000), max_depth=10_000)) == 100


def test_depth_cap_on_records() -> None:
    node = Node("n0")
    head = node
    for index in range(1, 100):
        node.peer = Node(f"n{index}")
        node = node.peer
    result = to_jsonable(head, max_depth=3)
    assert result == {
        "name": "n0",
        "peer": {"name": "n1", "peer": {"name": "n2", "peer": "<max depth exceeded: Node>"}},
    }


def test_deep_call_stack_does_not_break() -> None:
    def recurse(levels: int) -> str:
        if levels:
            return recurse(levels - 1)
        return dumps(nest(50))

    room = sys.getrecursionlimit() - len(_stack()) - 30
    text = recurse(room)
    json.loads(text)


def _stack() -> list[Any]:
    frames = []
    frame = sys._getframe()
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back  # type: ignore[assignment]
    return frames


# Work caps


def test_node_cap_on_huge_list() -> None:
    huge = list(range(1_000_000))
    started = time.perf_counter()
    result = to_jsonable(huge)
    assert time.perf_counter() - started < 1
    assert isinstance(result, list)
    assert result[:3] == [0, 1, 2]
    kept = len(result) - 1
    assert kept < DEFAULT_MAX_NODES
    assert result[-1] == {TRUNCATED_KEY: len(huge) - kept}


def test_node_cap_on_huge_dict() -> None:
    huge = {f"k{i}": i for i in range(200_000)}
    result = to_jsonable(huge)
    assert isinstance(result, dict)
    kept = len(result) - 1
    assert result[TRUNCATED_KEY] == len(huge) - kept
    assert result["k0"] == 0


def test_node_cap_is_shared_depth_first() -> None:
    value = [list(range(100)) for _ in range(1_000)]
    result: Any = to_jsonable(value)
    assert isinstance(result, list)
    assert result[0] == list(range(100))
    assert result[-1][TRUNCATED_KEY] > 0


def test_lying_sequence_is_bounded() -> None:
    class Endless(Sequence[int]):
        def __len__(self) -> int:
            return 10**12

        def __getitem__(self, index: Any) -> Any:
            return 7

    started = time.perf_counter()
    result = both(Endless())
    assert time.perf_counter() - started < 2
    assert result[0] == 7
    assert result[-1][TRUNCATED_KEY] == 10**12 - (len(result) - 1)


def test_huge_string_is_fast_and_capped() -> None:
    text = "x" * 50_000_000
    started = time.perf_counter()
    result = dumps({"doc": text})
    assert time.perf_counter() - started < 1
    assert len(result.encode()) <= DEFAULT_MAX_BYTES
    loaded = json.loads(result)["doc"]
    kept = len(loaded) - len(loaded[loaded.index("...[truncated") :])
    assert loaded.endswith(f"...[truncated {len(text) - kept} chars]")
    assert kept > DEFAULT_MAX_BYTES * 0.9
    converted = to_jsonable(text)
    assert (
        converted
        == "x" * DEFAULT_MAX_STRING + f"...[truncated {len(text) - DEFAULT_MAX_STRING} chars]"
    )


def test_many_long_strings_share_the_cap() -> None:
    value = [f"{i}:" + "y" * 10_000 for i in range(100)]
    result = load(value)
    assert len(result) == 100
    assert all(item.startswith(f"{i}:yyy") for i, item in enumerate(result))
    assert all("...[truncated" in item for item in result)
    assert len(dumps(value).encode()) > DEFAULT_MAX_BYTES * 0.9


def test_multibyte_text_is_cut_by_bytes() -> None:
    text = "漢" * 100_000
    result = dumps([text])
    size = len(result.encode())
    assert DEFAULT_MAX_BYTES * 0.9 < size <= DEFAULT_MAX_BYTES
    assert json.loads(result)[0].startswith("漢漢漢")


# Byte cap


@pytest.mark.parametrize("max_bytes", [256, 257, 300, 512, 1000, 4096, 65_536])
@pytest.mark.parametrize(
    "value",
    [
        "s" * 100_000,
        ["item"] * 50_000,
        {f"key{i}": "v" * 50 for i in range(5_000)},
        [{"id": i, "text": "t" * 40, "tags": ["a", "b"]} for i in range(5_000)],
        {"deep": nest(30), "wide": list(range(10_000))},
        [[["abc" * 30] * 50] * 50] * 5,
        {"k" * 1_000: "v" * 1_000},
        ["é" * 3_000, "😀" * 3_000, '\n\t"\\' * 3_000],
        list(range(100_000)),
    ],
    ids=[
        "string",
        "many-items",
        "wide-dict",
        "records",
        "deep-and-wide",
        "nested-lists",
        "long-key",
        "escapes-and-multibyte",
        "ints",
    ],
)
def test_byte_cap(max_bytes: int, value: object) -> None:
    started = time.perf_counter()
    text = dumps(value, max_bytes=max_bytes)
    assert time.perf_counter() - started < 2
    assert len(text.encode("utf-8")) <= max_bytes
    json.loads(text)
    if len(dumps(value, max_bytes=10**8).encode()) > max_bytes:
        assert TRUNCATED_KEY in text or "...[truncated " in text


def test_value_that_fits_is_unchanged() -> None:
    value = {"text": "a" * 1000}
    exact = json.dumps(value, separators=(",", ":"))
    assert dumps(value, max_bytes=len(exact)) == exact


@pytest.mark.parametrize("over", [1, 2, 5, 30, 100])
def test_just_too_big(over: int) -> None:
    max_bytes = 1000
    padding = max_bytes - len('{"text":""}') + over
    value = {"text": "a" * padding}
    text = dumps(value, max_bytes=max_bytes)
    assert len(text.encode()) <= max_bytes
    result = json.loads(text)["text"]
    assert result.endswith(" chars]")
    assert "...[truncated " in result
    assert len(text) > max_bytes - 40


@pytest.mark.parametrize("count", [1, 2, 10, 100, 1_000])
def test_just_too_big_list(count: int) -> None:
    base = ["x" * 10] * count
    size = len(json.dumps(base, separators=(",", ":")))
    for max_bytes in (max(256, size - 1), max(256, size - 50)):
        if max_bytes >= size:
            continue
        text = dumps(base, max_bytes=max_bytes)
        assert len(text.encode()) <= max_bytes
        assert TRUNCATED_KEY in text


def test_preview_when_nothing_sensible_fits() -> None:
    value: dict[str, Any] = {}
    current = value
    for index in range(18):
        child: dict[str, Any] = {}
        current[f"{index}" + "k" * 60] = child
        current = child
    text = dumps(value, max_bytes=256)
    assert len(text.encode()) <= 256
    result = json.loads(text)
    assert result[TRUNCATED_KEY] is True
    assert result["preview"].startswith('{"0kkk')
    assert len(text) > 200


def test_below_the_documented_minimum_still_valid() -> None:
    for max_bytes in (0, 1, 10, 50, 100, 255):
        json.loads(dumps({"a": "b" * 1000, "c": list(range(100))}, max_bytes=max_bytes))


def test_markers_in_to_jsonable_are_plain() -> None:
    value = {"s": "x" * (DEFAULT_MAX_STRING + 5), "l": list(range(DEFAULT_MAX_NODES + 5))}
    result = to_jsonable(value)
    assert_plain(result)
    assert isinstance(result, dict)
    assert str(result["s"]).endswith("...[truncated 5 chars]")


def test_to_jsonable_returns_a_fresh_tree() -> None:
    source: dict[str, Any] = {"a": [1, 2], "b": {"c": 3}}
    result: Any = to_jsonable(source)
    assert result == source
    assert result is not source
    assert result["a"] is not source["a"]
    result["b"]["c"] = 4
    assert source["b"]["c"] == 3


# Hostile objects


class RaisingRepr:
    __slots__ = ()

    def __repr__(self) -> str:
        raise RuntimeError("repr")


class RaisingStr:
    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        return "RaisingStr()"


class RaisingBoth:
    __slots__ = ()

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __repr__(self) -> str:
        raise ValueError("repr")


class RaisingGetattr:
    def __init__(self) -> None:
        self.visible = 1

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name}")


class EverythingGetattr:
    """Pretends to have every attribute, like a mock."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        self.__dict__["calls"] += 1
        return lambda *args, **kwargs: self


class RaisingGetattribute:
    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        raise RuntimeError(name)

    def __repr__(self) -> str:
        return "RaisingGetattribute()"


class RaisingClass:
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        raise RuntimeError("class")


class Counter:
    def __init__(self) -> None:
        self.reads = 0
        self.data = "d"

    @property
    def expensive(self) -> int:
        self.reads += 1
        return self.reads

    @property
    def broken(self) -> int:
        raise RuntimeError("broken")


class RaisingItems(Mapping[str, int]):
    def __getitem__(self, key: str) -> int:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(["a"])

    def __len__(self) -> int:
        return 1

    def items(self) -> Any:
        raise RuntimeError("items")


class BrokenMidway(Mapping[str, int]):
    def __getitem__(self, key: str) -> int:
        if key == "b":
            raise RuntimeError("b")
        return 1

    def __iter__(self) -> Iterator[str]:
        return iter(["a", "b", "c"])

    def __len__(self) -> int:
        return 3


class LyingLength(Sequence[int]):
    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        if index >= 3:
            raise IndexError(index)
        return index


class RaisingIter(Sequence[int]):
    def __len__(self) -> int:
        raise RuntimeError("len")

    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("getitem")

    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("iter")


class HugeRepr:
    __slots__ = ()

    def __repr__(self) -> str:
        return "r" * 10_000_000


class NonStrRepr:
    __slots__ = ()

    def __repr__(self) -> Any:
        return 42


class HostileMeta(type):
    def __getattr__(cls, name: str) -> Any:
        raise RuntimeError(name)


class WithHostileMeta(metaclass=HostileMeta):
    def __init__(self) -> None:
        self.ok = True


class InterruptingRepr:
    __slots__ = ()

    def __repr__(self) -> str:
        raise KeyboardInterrupt


def test_raising_repr() -> None:
    assert both(RaisingRepr()) == "<unrepresentable RaisingRepr>"
    assert both([RaisingRepr(), 1]) == ["<unrepresentable RaisingRepr>", 1]


def test_raising_str_in_keys_and_exceptions() -> None:
    assert both({RaisingStr(): 1}) == {"RaisingStr()": 1}
    assert both({RaisingBoth(): 1}) == {"<unrepresentable RaisingBoth>": 1}

    class BadMessage(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no message")

    result = both(BadMessage("x"))
    assert result["type"].endswith("BadMessage")
    assert result["message"] == "BadMessage('x')"


def test_raising_getattr_is_never_triggered() -> None:
    assert both(RaisingGetattr()) == {"visible": 1}
    obj = EverythingGetattr()
    assert both(obj) == {"calls": 0}
    assert obj.calls == 0
    assert both(RaisingGetattribute()) == "RaisingGetattribute()"
    assert both(RaisingClass()).startswith(f"<{__name__}.RaisingClass object at 0x")
    assert both(WithHostileMeta()) == {"ok": True}


def test_properties_are_never_read() -> None:
    obj = Counter()
    assert both(obj) == {"reads": 0, "data": "d"}
    assert obj.reads == 0
    assert obj.expensive == 1


def test_hostile_mappings() -> None:
    assert both(RaisingItems()).startswith(f"<{__name__}.RaisingItems object at")
    assert both(BrokenMidway()) == {"a": 1, TRUNCATED_KEY: True}


def test_lying_lengths() -> None:
    assert both(LyingLength(10**9)) == [0, 1, 2]
    assert both(LyingLength(1)) == [0, 1, 2]
    assert both(LyingLength(-1)) == [0, 1, 2]
    assert both(RaisingIter()) == [{TRUNCATED_KEY: True}]


def test_enormous_and_odd_reprs() -> None:
    started = time.perf_counter()
    result = to_jsonable(HugeRepr())
    assert time.perf_counter() - started < 1
    assert isinstance(result, str)
    assert result.endswith(f"...[truncated {10_000_000 - DEFAULT_MAX_STRING} chars]")
    assert both(NonStrRepr()) == "<unrepresentable NonStrRepr>"


def test_keyboard_interrupt_propagates() -> None:
    with pytest.raises(KeyboardInterrupt):
        dumps(InterruptingRepr())
    with pytest.raises(KeyboardInterrupt):
        to_jsonable([InterruptingRepr()])


def test_dict_mutated_during_conversion() -> None:
    class Mutator:
        __slots__ = ("target",)

        def __init__(self, target: dict[str, Any]) -> None:
            self.target = target

        def __repr__(self) -> str:
            self.target["new"] = 1
            return "Mutator()"

    target: dict[str, Any] = {}
    target["a"] = Mutator(target)
    target["b"] = 2
    assert to_jsonable(target) == {"a": "Mutator()", TRUNCATED_KEY: True}
    del target["new"]
    assert json.loads(dumps(target)) == {"a": "Mutator()", TRUNCATED_KEY: True}


def test_zoo_in_one_value() -> None:
    zoo: list[Any] = [
        RaisingRepr(),
        RaisingStr(),
        RaisingBoth(),
        RaisingGetattr(),
        EverythingGetattr(),
        RaisingGetattribute(),
        RaisingClass(),
        Counter(),
        RaisingItems(),
        BrokenMidway(),
        LyingLength(10**18),
        RaisingIter(),
        HugeRepr(),
        NonStrRepr(),
        WithHostileMeta(),
        {RaisingBoth(): RaisingRepr()},
    ]
    for max_bytes in (256, 1024, DEFAULT_MAX_BYTES):
        text = dumps({"zoo": zoo}, max_bytes=max_bytes)
        assert len(text.encode()) <= max_bytes
        json.loads(text)
    assert_plain(to_jsonable(zoo))


def test_json_value_alias_is_exported() -> None:
    value: JSONValue = {"a": [1, None]}
    assert to_jsonable(value) == value


def test_concurrent_mutation_never_raises() -> None:
    shared: dict[str, Any] = {f"k{i}": [i] for i in range(200)}
    items: list[Any] = list(range(200))
    stop = threading.Event()

    def mutate() -> None:
        index = 0
        while not stop.is_set():
            index += 1
            shared[f"n{index % 50}"] = {"v": index}
            shared.pop(f"n{(index + 25) % 50}", None)
            items.append(index)
            items.pop(0)

    worker = threading.Thread(target=mutate)
    worker.start()
    try:
        for _ in range(100):
            for max_bytes in (256, 4096):
                text = dumps({"shared": shared, "items": items}, max_bytes=max_bytes)
                assert len(text.encode()) <= max_bytes
                json.loads(text)
            assert_plain(to_jsonable(shared))
    finally:
        stop.set()
        worker.join()
