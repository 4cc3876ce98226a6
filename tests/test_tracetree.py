"""A trace's logs as a tree: parents, order, timings, and logs that do not fit."""

from __future__ import annotations

from respan_otel._tracetree import build_tree, parse_moment, span_of, trace_filter_for, walk


def log(uid: str, span: str, parent: str | None, start: str, latency: float) -> dict:
    metadata = {"trace_id": "t1", "span_id": span, "span_name": f"name-{uid}"}
    if parent is not None:
        metadata["parent_span_id"] = parent
    return {"unique_id": uid, "start_time": start, "latency": latency, "metadata": metadata}


def test_children_hang_under_parents_in_start_order():
    roots = build_tree(
        [
            log("c2", "s3", "s1", "2026-01-01T00:00:02Z", 1.0),
            log("root", "s1", None, "2026-01-01T00:00:00Z", 5.0),
            log("c1", "s2", "s1", "2026-01-01T00:00:01Z", 0.5),
            log("g", "s4", "s2", "2026-01-01T00:00:01.2Z", 0.1),
        ]
    )
    assert [(n.log_id, n.depth) for n in walk(roots)] == [
        ("root", 0),
        ("c1", 1),
        ("g", 2),
        ("c2", 1),
    ]
    start, end = span_of(roots) or (0, 0)
    assert end - start == 5.0
    assert roots[0].duration == 5.0
    assert roots[0].name == "name-root"


def test_missing_parents_and_cycles_still_show_every_log():
    roots = build_tree(
        [
            log("orphan", "s9", "gone", "2026-01-01T00:00:03Z", 1.0),
            log("a", "sa", "sb", "2026-01-01T00:00:01Z", 1.0),
            log("b", "sb", "sa", "2026-01-01T00:00:02Z", 1.0),
        ]
    )
    assert sorted(n.log_id for n in walk(roots)) == ["a", "b", "orphan"]


def test_deep_traces_do_not_hit_the_recursion_limit():
    chain = [
        log(f"n{i}", f"s{i}", f"s{i - 1}" if i else None, "2026-01-01T00:00:00Z", 1)
        for i in range(3000)
    ]
    assert len(list(walk(build_tree(chain)))) == 3000


def test_times_with_z_offsets_or_none():
    assert parse_moment("2026-01-01T00:00:00Z") == parse_moment("2026-01-01T01:00:00+01:00")
    assert parse_moment("not a time") is None
    assert parse_moment(None) is None


def test_the_filter_that_finds_a_trace_follows_where_the_log_keeps_its_id():
    ours = trace_filter_for({"metadata": {"trace_id": "abc"}})
    assert ours == {"metadata__trace_id": {"operator": "", "value": ["abc"]}}
    lifted = trace_filter_for({"trace_unique_id": "xyz", "metadata": {}})
    assert lifted == {"trace_unique_id": {"operator": "", "value": ["xyz"]}}
    assert trace_filter_for({"metadata": {}}) is None
