"""Scorers: what they may return, how a return value becomes named scores, built-ins.

A scorer is any sync or async callable taking ``(input, output, expected_output)`` (by
position, or any of them by name, plus ``metadata`` and ``row`` by name) and returning a
number, a bool, a dict of named numbers/bools, or ``None`` (no score for this row).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

Score = float | bool
"""One score value: a finite number, or a bool (pass/fail)."""

SCORER_DEFAULTS: Final = ("input", "output", "expected_output")
SCORER_EXTRA: Final = frozenset({"metadata", "row"})


def normalize(name: str, value: object) -> dict[str, Score]:
    """The named scores in a scorer's return value; ``TypeError`` when it is none of the
    accepted shapes, so the row records why."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        scores: dict[str, Score] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"scorer {name!r} returned a dict key {key!r}; use str names")
            if item is not None:
                scores[key] = _one(f"{name}[{key!r}]", item)
        return scores
    return {name: _one(name, value)}


def _one(where: str, value: object) -> Score:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    raise TypeError(
        f"scorer {where} returned {type(value).__name__} {value!r:.80}; "
        "return a finite number, a bool, a dict of them, or None"
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def exact_match(output: Any, expected_output: Any) -> bool | None:
    """``output == expected_output``, text compared with surrounding whitespace ignored.

    No score when the row has no expected output.
    """
    if expected_output is None:
        return None
    if isinstance(output, str) and isinstance(expected_output, str):
        return output.strip() == expected_output.strip()
    return bool(output == expected_output)


def contains(output: Any, expected_output: Any) -> bool | None:
    """Whether the expected text (or every one of a list of texts) appears in the output,
    case-insensitively; non-text values are compared as their JSON text."""
    if expected_output is None:
        return None
    haystack = _text(output).casefold()
    needles = expected_output if isinstance(expected_output, list) else [expected_output]
    return all(_text(needle).casefold() in haystack for needle in needles)


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def json_equal(output: Any, expected_output: Any) -> bool | None:
    """Whether output and expected output are the same JSON value (key order, spacing and
    ``1`` vs ``1.0`` ignored); text is parsed as JSON first when it is JSON."""
    if expected_output is None:
        return None
    return bool(_parsed(output) == _parsed(expected_output))


BUILTINS: Final = {f.__name__: f for f in (exact_match, contains, json_equal)}
"""Built-in scorers by name, as the CLI's ``--scorer`` accepts them."""
