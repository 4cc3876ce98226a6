"""A trace's dataset logs as a tree with timings, for the CLI's ``logs show`` and the viewer.

Each log names its trace and span in ``metadata`` (``trace_id``, ``span_id``,
``parent_span_id``, as this library writes them) or in Respan's lifted fields
(``trace_unique_id``, ``span_unique_id``, ``span_parent_id``, as other SDKs write them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

MAX_TRACE_LOGS: Final = 1000
"""At most this many logs of one trace are fetched and drawn."""


def _meta(log: Mapping[str, Any], meta_key: str, lifted_key: str) -> str | None:
    metadata = log.get("metadata")
    value = metadata.get(meta_key) if isinstance(metadata, Mapping) else None
    value = value or log.get(lifted_key)
    return str(value) if value else None


def trace_id_of(log: Mapping[str, Any]) -> str | None:
    """The trace a log belongs to, or ``None`` when it does not say."""
    return _meta(log, "trace_id", "trace_unique_id")


def trace_filter(trace_id: str, *, lifted: bool) -> dict[str, object]:
    """API filters selecting the logs of one trace (``lifted``: by ``trace_unique_id``)."""
    field_name = "trace_unique_id" if lifted else "metadata__trace_id"
    return {field_name: {"operator": "", "value": [trace_id]}}


def trace_filter_for(log: Mapping[str, Any]) -> dict[str, object] | None:
    """The filters that find ``log``'s whole trace, or ``None`` when it names none."""
    trace_id = trace_id_of(log)
    if trace_id is None:
        return None
    metadata = log.get("metadata")
    in_metadata = isinstance(metadata, Mapping) and bool(metadata.get("trace_id"))
    return trace_filter(trace_id, lifted=not in_metadata)


def parse_moment(value: object) -> float | None:
    """Seconds since the epoch of an ISO 8601 text (``...Z`` included), else ``None``."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"  # Python 3.10's fromisoformat does not read Z
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(eq=False)
class TraceNode:
    """One log in its trace: its span, timing and children (ordered by start)."""

    log: Mapping[str, Any]
    span_id: str | None
    parent_id: str | None
    start: float | None
    end: float | None
    children: list[TraceNode] = field(default_factory=list)
    depth: int = 0

    @property
    def log_id(self) -> str:
        """The log's id."""
        return str(self.log.get("unique_id") or self.log.get("id") or "")

    @property
    def name(self) -> str:
        """The span's name, else the log type, else the log id."""
        return (
            _meta(self.log, "span_name", "span_name")
            or str(self.log.get("log_type") or "")
            or self.log_id
        )

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, when both are known."""
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)

    @property
    def failed(self) -> bool:
        """Whether the log records an error."""
        code = self.log.get("status_code")
        return self.log.get("status") == "error" or (isinstance(code, int) and code >= 400)


def _node(log: Mapping[str, Any]) -> TraceNode:
    start = parse_moment(log.get("start_time"))
    end = parse_moment(log.get("timestamp"))
    metrics = log.get("metrics")
    latency = _number(log.get("latency"))
    if latency is None and isinstance(metrics, Mapping):
        latency = _number(metrics.get("latency"))
    if start is not None and latency is not None:
        end = start + latency  # the measured duration beats the second-rounded timestamp
    elif end is not None and start is None and latency is not None:
        start = end - latency
    return TraceNode(
        log=log,
        span_id=_meta(log, "span_id", "span_unique_id"),
        parent_id=_meta(log, "parent_span_id", "span_parent_id"),
        start=start,
        end=end,
    )


def build_tree(logs: Iterable[Mapping[str, Any]]) -> list[TraceNode]:
    """The roots of the trace: logs whose parent is not among ``logs`` (or who have none).

    Children and roots are ordered by start time; a span seen twice (two logs of the same
    span) keeps both, the first one becoming the parent of the span's children.
    """
    nodes = [_node(log) for log in logs]
    by_span: dict[str, TraceNode] = {}
    for node in nodes:
        if node.span_id is not None:
            by_span.setdefault(node.span_id, node)
    roots: list[TraceNode] = []
    for node in nodes:
        parent = by_span.get(node.parent_id) if node.parent_id is not None else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    reached = {id(node) for node in walk(roots)}
    for node in nodes:  # spans that name each other as parents (a cycle) become roots
        if id(node) not in reached:
            for holder in nodes:
                holder.children = [child for child in holder.children if child is not node]
            roots.append(node)
            reached.update(id(n) for n in walk([node]))

    pending = [(roots, 0)]  # an explicit stack: no recursion limit on deep traces
    while pending:
        items, depth = pending.pop()
        items.sort(key=lambda n: (n.start is None, n.start or 0.0, n.log_id))
        for item in items:
            item.depth = depth
            pending.append((item.children, depth + 1))
    return roots


def walk(roots: Iterable[TraceNode]) -> Iterable[TraceNode]:
    """Every node, depth first, parents before children."""
    stack = list(reversed(list(roots)))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def span_of(roots: Iterable[TraceNode]) -> tuple[float, float] | None:
    """``(earliest start, latest end)`` over the trace, when any timing is known."""
    starts: list[float] = []
    ends: list[float] = []
    for node in walk(roots):
        if node.start is not None:
            starts.append(node.start)
        if node.end is not None:
            ends.append(node.end)
    if not starts:
        return None
    return min(starts), max(ends + starts)
