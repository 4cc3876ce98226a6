"""Every filter operator evaluated by the local server, positive and negative, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from respan_otel.local import LocalRespan

KEY = "filter-key"

LOGS: list[dict[str, object]] = [
    {
        "input": {"q": "Hello World", "lang": "en"},
        "output": "Bonjour",
        "timestamp": "2025-01-01T10:00:00Z",
        "metadata": {
            "model": "gpt-4",
            "custom_identifier": "alpha-1",
            "user": "alice",
            "tier": 1,
            "tags": ["a", "b"],
            "nested": {"k": "v"},
            "city": "Zürich",
        },
        "metrics": {"cost": 0.5, "latency": 1.0},
    },
    {
        "input": {"q": "goodbye"},
        "output": {"answer": 42},
        "timestamp": "2025-01-02T10:00:00Z",
        "status_code": 500,
        "metadata": {
            "model": "gpt-4o-mini",
            "custom_identifier": "beta-2",
            "user": "bob",
            "tier": 2,
            "tags": ["c"],
        },
        "metrics": {"cost": 1.5, "latency": 2.0},
    },
    {
        "input": "plain text",
        "timestamp": "2025-01-03T10:00:00Z",
        "metadata": {"custom_identifier": "gamma-3", "user": "Carol", "empty": "", "tier": "3"},
        "metrics": {"cost": 3},
    },
]


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[requests.Session, str]]:
    with LocalRespan(api_key=KEY) as server, requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {KEY}"
        api = server.base_url + "/api"
        ds = session.post(f"{api}/datasets/", json={"name": "filters"}).json()["id"]
        r = session.post(f"{api}/datasets/{ds}/logs/bulk/", json={"logs": LOGS})
        assert r.json()["success_count"] == len(LOGS)
        yield session, f"{api}/datasets/{ds}/logs/list/"


def names(target: tuple[requests.Session, str], filters: dict[str, object]) -> set[str]:
    session, url = target
    r = session.post(url, json={"filters": filters})
    assert r.status_code == 200, r.text
    return {str(log["custom_identifier"]).split("-")[0] for log in r.json()["results"]}


def f(field: str, op: str, value: object = None, *, no_value: bool = False) -> dict[str, object]:
    spec: dict[str, object] = {"operator": op}
    if not no_value:
        spec["value"] = value
    return {field: spec}


CASES: list[tuple[str, dict[str, object], set[str]]] = [
    # equality and its aliases
    ("eq", f("model", "", "gpt-4"), {"alpha"}),
    ("eq-alias-eq", f("model", "eq", "gpt-4"), {"alpha"}),
    ("eq-alias-=", f("model", "=", "gpt-4"), {"alpha"}),
    ("eq-alias-==", f("model", "==", ["gpt-4"]), {"alpha"}),
    ("eq-alias-equals", f("model", "equals", "gpt-4"), {"alpha"}),
    ("eq-none", f("model", "", "gpt-5"), set()),
    ("eq-list-any", f("model", "", ["gpt-4", "gpt-4o-mini"]), {"alpha", "beta"}),
    ("eq-number", f("status_code", "eq", 500), {"beta"}),
    ("eq-numeric-string", f("metadata__tier", "", "1"), {"alpha"}),
    ("eq-number-vs-string", f("metadata__tier", "", 3), {"gamma"}),
    ("eq-object", f("output", "", {"answer": 42}), {"beta"}),
    ("eq-derived-status", f("status", "", "error"), {"beta"}),
    ("eq-null-means-missing", f("model", "", None), {"gamma"}),
    # iexact
    ("iexact", f("metadata__user", "iexact", "CAROL"), {"gamma"}),
    ("iexact-negative", f("metadata__user", "iexact", "car"), set()),
    # ordering
    ("lt", f("cost", "lt", 1.5), {"alpha"}),
    ("lte", f("cost", "lte", 1.5), {"alpha", "beta"}),
    ("gt", f("cost", "gt", 1.5), {"gamma"}),
    ("gte", f("cost", "gte", 1.5), {"beta", "gamma"}),
    ("gt-none", f("cost", "gt", 100), set()),
    ("gt-metadata-number", f("metadata__tier", "gt", 1), {"beta", "gamma"}),
    ("lt-missing-field-never-matches", f("latency", "lt", 100), {"alpha", "beta"}),
    ("gte-timestamp", f("timestamp", "gte", "2025-01-02T10:00:00Z"), {"beta", "gamma"}),
    ("lt-timestamp-offset", f("timestamp", "lt", "2025-01-02T11:00:00+01:00"), {"alpha"}),
    # text operators
    ("contains-input-json", f("input", "contains", "World"), {"alpha"}),
    ("contains-case-sensitive", f("input", "contains", "world"), set()),
    ("contains-string-input", f("input", "contains", "plain"), {"gamma"}),
    ("contains-key-text", f("input", "contains", '"lang":"en"'), {"alpha"}),
    ("icontains", f("input", "icontains", "WORLD"), {"alpha"}),
    ("icontains-output", f("output", "icontains", "bonj"), {"alpha"}),
    ("icontains-unicode", f("metadata__city", "icontains", "zÜr"), {"alpha"}),
    ("icontains-list-any", f("input", "icontains", ["goodbye", "plain"]), {"beta", "gamma"}),
    ("startswith", f("custom_identifier", "startswith", "beta"), {"beta"}),
    ("startswith-negative", f("custom_identifier", "startswith", "eta"), set()),
    ("endswith", f("custom_identifier", "endswith", "-3"), {"gamma"}),
    ("endswith-negative", f("custom_identifier", "endswith", "-4"), set()),
    # membership
    ("in", f("metadata__user", "in", ["alice", "bob"]), {"alpha", "beta"}),
    ("in-none", f("metadata__user", "in", ["zed"]), set()),
    ("in-empty-list", f("metadata__user", "in", []), set()),
    ("not_in", f("metadata__user", "not_in", ["alice"]), {"beta", "gamma"}),
    ("not_in-empty-list", f("metadata__user", "not_in", []), {"alpha", "beta", "gamma"}),
    # null and emptiness
    ("isnull-true", f("model", "isnull", True), {"gamma"}),
    ("isnull-false", f("model", "isnull", [False]), {"alpha", "beta"}),
    ("empty", f("model", "empty", no_value=True), {"gamma"}),
    ("empty-string", f("metadata__empty", "empty", []), {"alpha", "beta", "gamma"}),
    ("not_empty", f("model", "not_empty", no_value=True), {"alpha", "beta"}),
    ("notEmpty-alias", f("model", "notEmpty", no_value=True), {"alpha", "beta"}),
    # negations: exact complements (a missing field matches them)
    ("not", f("model", "not", "gpt-4"), {"beta", "gamma"}),
    ("not-list", f("model", "not", ["gpt-4", "gpt-4o-mini"]), {"gamma"}),
    ("not_contains", f("input", "not_contains", "World"), {"beta", "gamma"}),
    ("not_startswith", f("custom_identifier", "not_startswith", "alpha"), {"beta", "gamma"}),
    ("not_endswith", f("custom_identifier", "not_endswith", "-1"), {"beta", "gamma"}),
    # patterns
    ("regex", f("custom_identifier", "regex", r"^[ab]\w+-\d$"), {"alpha", "beta"}),
    ("regex-negative", f("custom_identifier", "regex", r"^\d"), set()),
    ("ilike", f("custom_identifier", "ilike", "ALPHA%"), {"alpha"}),
    ("ilike-underscore", f("custom_identifier", "ilike", "_eta-_"), {"beta"}),
    ("ilike-negative", f("custom_identifier", "ilike", "alpha"), set()),
    # objects and arrays
    ("has_key", f("metadata", "has_key", "nested"), {"alpha"}),
    ("has_key-negative", f("metadata", "has_key", "missing"), set()),
    ("overlap", f("metadata__tags", "overlap", ["b", "z"]), {"alpha"}),
    ("overlap-negative", f("metadata__tags", "overlap", ["z"]), set()),
    ("not_overlap", f("metadata__tags", "not_overlap", ["b"]), {"beta", "gamma"}),
    # field forms
    ("metadata-key", f("metadata__user", "", "bob"), {"beta"}),
    ("metadata-legacy-dot", f("metadata.user", "", "bob"), {"beta"}),
    ("metadata-nested", f("metadata__nested__k", "", "v"), {"alpha"}),
    ("metrics-key", f("metrics__latency", "gte", 2), {"beta"}),
    ("input-key", f("input__q", "startswith", "good"), {"beta"}),
    ("unknown-field", f("no_such_field", "", "x"), set()),
    (
        "and-of-fields",
        {
            "model": {"operator": "in", "value": ["gpt-4", "gpt-4o-mini"]},
            "metadata__tier": {"operator": "", "value": 2},
        },
        {"beta"},
    ),
    ("and-contradiction", {**f("model", "", "gpt-4"), **f("cost", "gt", 1)}, set()),
]


@pytest.mark.parametrize(("filters", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_filter(
    target: tuple[requests.Session, str], filters: dict[str, object], expected: set[str]
) -> None:
    assert names(target, filters) == expected


def test_every_operator_is_exercised() -> None:
    from respan_otel.client._filters import ALIASES, OPERATORS

    used = set()
    for _, filters, _ in CASES:
        for spec in filters.values():
            assert isinstance(spec, dict)
            used.add(ALIASES.get(spec["operator"], spec["operator"]))
    assert used == set(OPERATORS)


def test_filters_with_get_query_parameter(target: tuple[requests.Session, str]) -> None:
    session, url = target
    r = session.get(url, params={"filters": '{"model": {"operator": "eq", "value": "gpt-4"}}'})
    assert [log["model"] for log in r.json()["results"]] == ["gpt-4"]
    assert session.get(url, params={"filters": "{bad"}).status_code == 400


def test_current_filters_echo_the_normalised_filters(target: tuple[requests.Session, str]) -> None:
    session, url = target
    page = session.post(url, json={"filters": f("metadata.user", "eq", "bob")}).json()
    assert page["current_filters"] == {"metadata__user": {"operator": "", "value": ["bob"]}}
