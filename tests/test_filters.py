"""The shared filter syntax: operators, aliases, value shapes and error messages."""

from __future__ import annotations

import datetime as dt

import pytest

from respan_otel.client._filters import ALIASES, OPERATORS, normalize_filters

DOCUMENTED = {
    "",
    "iexact",
    "lt",
    "lte",
    "gt",
    "gte",
    "contains",
    "icontains",
    "startswith",
    "endswith",
    "in",
    "isnull",
    "not",
}


def test_documented_operators_are_canonical() -> None:
    assert DOCUMENTED <= OPERATORS
    assert {"not_in", "not_contains", "regex", "empty", "not_empty", "has_key"} <= OPERATORS


def test_aliases_map_to_canonical_operators() -> None:
    assert {ALIASES[a] for a in ("=", "==", "eq", "equals")} == {""}
    assert ALIASES["notEmpty"] == "not_empty"
    assert set(ALIASES.values()) <= OPERATORS
    assert not set(ALIASES) & OPERATORS


def test_none_and_empty_give_no_filters() -> None:
    assert normalize_filters(None) == {}
    assert normalize_filters({}) == {}


@pytest.mark.parametrize("alias", ["=", "==", "eq", "equals", ""])
def test_equality_aliases(alias: str) -> None:
    got = normalize_filters({"status_code": {"operator": alias, "value": 200}})
    assert got == {"status_code": {"operator": "", "value": [200]}}


def test_missing_operator_means_equals() -> None:
    assert normalize_filters({"model": {"value": ["gpt-4"]}}) == {
        "model": {"operator": "", "value": ["gpt-4"]}
    }


def test_scalar_value_becomes_list_and_list_is_kept() -> None:
    got = normalize_filters(
        {"a": {"operator": "in", "value": ["x", "y"]}, "b": {"operator": "gt", "value": 1.5}}
    )
    assert got["a"]["value"] == ["x", "y"]
    assert got["b"]["value"] == [1.5]


def test_input_is_not_modified_and_lists_are_copied() -> None:
    values = ["x"]
    given = {"a": {"operator": "eq", "value": values}}
    got = normalize_filters(given)
    assert given == {"a": {"operator": "eq", "value": ["x"]}}
    assert got["a"]["value"] is not values


def test_not_empty_alias_and_no_value_operators() -> None:
    got = normalize_filters({"model": {"operator": "notEmpty"}, "x": {"operator": "empty"}})
    assert got == {
        "model": {"operator": "not_empty", "value": []},
        "x": {"operator": "empty", "value": []},
    }


def test_metadata_prefixes() -> None:
    got = normalize_filters(
        {
            "metadata__user_id": {"operator": "", "value": "u1"},
            "metadata.session": {"operator": "", "value": "s1"},
        }
    )
    assert set(got) == {"metadata__user_id", "metadata__session"}


def test_legacy_and_new_metadata_form_of_the_same_key_conflict() -> None:
    with pytest.raises(ValueError, match="metadata__user"):
        normalize_filters(
            {
                "metadata.user": {"operator": "", "value": "a"},
                "metadata__user": {"operator": "", "value": "b"},
            }
        )


@pytest.mark.parametrize("field", ["metadata__", "metadata.", ""])
def test_empty_field_names_are_rejected(field: str) -> None:
    with pytest.raises(ValueError, match="field"):
        normalize_filters({field: {"operator": "", "value": 1}})


def test_unknown_operator_names_field_operator_and_accepted_list() -> None:
    with pytest.raises(ValueError, match="unknown operator") as info:
        normalize_filters({"status_code": {"operator": "equal", "value": 200}})
    message = str(info.value)
    assert "'status_code'" in message
    assert "'equal'" in message
    for op in ("icontains", "isnull", "not_in", "regex", "startswith"):
        assert op in message
    assert "notEmpty" in message


def test_non_string_operator_is_rejected() -> None:
    with pytest.raises(ValueError, match="operator must be a string"):
        normalize_filters({"a": {"operator": 3, "value": 1}})


@pytest.mark.parametrize("spec", [200, "gpt-4", ["gpt-4"], None])
def test_spec_must_be_an_object(spec: object) -> None:
    with pytest.raises(ValueError, match="'model'"):
        normalize_filters({"model": spec})


def test_filters_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="filters must be an object"):
        normalize_filters([("a", 1)])  # type: ignore[arg-type]


def test_missing_value_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"'cost'.*'gt'.*value"):
        normalize_filters({"cost": {"operator": "gt"}})


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("isnull", "yes"),
        ("gt", True),
        ("lt", {"a": 1}),
        ("contains", None),
        ("icontains", ["a", ["b"]]),
        ("regex", 5),
        ("has_key", 1),
        ("in", [[1, 2]]),
        ("", []),
        ("startswith", []),
    ],
)
def test_bad_values_name_field_and_operator(op: str, value: object) -> None:
    with pytest.raises(ValueError, match="filter 'f'") as info:
        normalize_filters({"f": {"operator": op, "value": value}})
    assert "'f'" in str(info.value)
    assert repr(op) in str(info.value)


def test_non_json_values_are_rejected_and_dates_converted() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        normalize_filters({"f": {"operator": "", "value": object()}})
    with pytest.raises(ValueError, match="not a JSON number"):
        normalize_filters({"f": {"operator": "gt", "value": float("nan")}})
    moment = dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc)
    got = normalize_filters({"timestamp": {"operator": "gte", "value": moment}})
    assert got["timestamp"]["value"] == ["2025-07-01T00:00:00+00:00"]


def test_in_accepts_an_empty_list() -> None:
    assert normalize_filters({"a": {"operator": "in", "value": []}})["a"]["value"] == []


def test_extra_keys_are_kept() -> None:
    got = normalize_filters({"a": {"operator": "eq", "value": 1, "connector": "AND"}})
    assert got["a"] == {"connector": "AND", "operator": "", "value": [1]}


def test_equality_accepts_json_objects() -> None:
    got = normalize_filters({"input": {"operator": "", "value": {"q": "hi"}}})
    assert got["input"]["value"] == [{"q": "hi"}]
