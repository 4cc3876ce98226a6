"""Validation of the arguments of ``@trace``, ``span()`` and the span setters.

Mistakes raise at the call site (decoration time for ``@trace``) with a message that names
the argument; nothing here runs on the per-call hot path of ``@trace``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

from respan_otel import _attributes as attrs

Kind = Literal[
    "workflow",
    "task",
    "agent",
    "tool",
    "llm",
    "retriever",
    "embedding",
    "guardrail",
    "evaluator",
    "custom",
]
"""What a span stands for; it becomes the dataset log's ``log_type``."""

KINDS: Final[tuple[str, ...]] = get_args(Kind)
DEFAULT_KIND: Final = attrs.DEFAULT_KIND


def check_kind(kind: object, where: str) -> str:
    """Validate ``kind=`` early, with an error that lists the accepted kinds."""
    if kind not in KINDS:
        raise ValueError(f"{where}: kind={kind!r} is not one of {', '.join(KINDS)}")
    return str(kind)


def check_metadata(metadata: object, where: str) -> dict[str, Any]:
    """Validate a metadata argument: a mapping with string keys (or ``None``)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"{where}: metadata must be a mapping, got {type(metadata).__name__}")
    for key in metadata:
        if not isinstance(key, str):
            raise TypeError(f"{where}: metadata keys must be str, got {type(key).__name__}")
    return dict(metadata)


def check_metrics(metrics: object, where: str) -> dict[str, int | float]:
    """Validate metrics: a mapping of names to real numbers. ``None`` values are skipped."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"{where}: metrics must be a mapping, got {type(metrics).__name__}")
    checked: dict[str, int | float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: metric names must be str, got {type(key).__name__}")
        if value is None:
            continue
        if isinstance(value, (bool, str, bytes)):
            raise TypeError(f"{where}: metric {key!r} must be a number, got {type(value).__name__}")
        if not isinstance(value, (int, float)):
            # numbers from numpy and friends convert cleanly; anything else is a mistake
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"{where}: metric {key!r} must be a number, got {type(value).__name__}"
                ) from None
        checked[key] = value
    return checked


def check_dataset(dataset: object, where: str) -> str | None:
    """Validate ``dataset=``: a non-empty id or name, or ``None``."""
    if dataset is None:
        return None
    if not isinstance(dataset, str) or not dataset.strip():
        raise TypeError(f"{where}: dataset must be a non-empty str (an id or a name)")
    return dataset
