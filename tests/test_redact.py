"""Key matching of the redactor, and redaction applied by the serializer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import OrderedDict, namedtuple
from types import MappingProxyType
from typing import Any, ClassVar

import attrs
import pydantic
import pytest
from pydantic import v1 as pydantic_v1

from respan_otel._redact import REDACTED, Redactor, get_redactor, split_words
from respan_otel._serialize import dumps, to_jsonable
from respan_otel._settings import DEFAULT_REDACT_KEYS

DEFAULTS = get_redactor(DEFAULT_REDACT_KEYS)

MASKED = [
    "api_key",
    "OPENAI_API_KEY",
    "x-api-key",
    "apiKey",
    "Authorization",
    "db_password",
    "client_secret",
    "access_token",
    "refreshToken",
    "Cookie",
    "set-cookie",
]

KEPT = [
    "max_tokens",
    "prompt_tokens",
    "total_tokens",
    "tokenizer",
    "secretary",
    "session_id",
    "input",
]


@pytest.mark.parametrize("key", MASKED)
def test_default_keys_mask(key: str) -> None:
    assert DEFAULTS.matches(key)


@pytest.mark.parametrize("key", KEPT)
def test_default_keys_keep(key: str) -> None:
    assert not DEFAULTS.matches(key)


@pytest.mark.parametrize(
    "key",
    [
        "API_KEY",
        "ApiKey",
        "APIKey",
        "APIKEY",
        "apikey",
        "my.api.key",
        "api key",
        "X-Api-Key",
        "HTTPAuthorization",
        "oauth2Token",
        "PASSWD",
        "user-Password",
        "AccessKey",
        "accesskey",
        "aws_secret_access_key",
        "PRIVATE_KEY",
        "privateKey",
        "id_token",
        "Set-Cookie",
    ],
)
def test_spellings_of_secret_keys_mask(key: str) -> None:
    assert DEFAULTS.matches(key)


@pytest.mark.parametrize(
    "key",
    [
        "maxTokens",
        "MAX_TOKENS",
        "completion_tokens",
        "tokens",
        "keyboard",
        "passwords_hint",
        "secrets",
        "cookies",
        "api",
        "key",
        "access",
        "",
        "___",
        "-",
    ],
)
def test_similar_but_harmless_keys_are_kept(key: str) -> None:
    assert not DEFAULTS.matches(key)


def test_whole_word_inside_longer_key_masks() -> None:
    assert DEFAULTS.matches("github-token-for-ci")
    assert DEFAULTS.matches("user_password_hash")


@pytest.mark.parametrize(
    "key",
    [
        "token_usage",
        "prompt_tokens",
        "input_token_details",
        "output_token_details",
        "max_tokens",
        "token_count_total",
        "tokenUsage",
        "max_token",
    ],
)
def test_token_counters_stay_visible(key: str) -> None:
    # issue 10: LangChain's token_usage was exported as [REDACTED]
    assert not DEFAULTS.matches(key)


@pytest.mark.parametrize(
    "key", ["token", "access_token", "refresh_token", "id_token", "api_key", "password"]
)
def test_secrets_stay_masked(key: str) -> None:
    assert DEFAULTS.matches(key)


def test_token_usage_of_a_langchain_result_is_kept() -> None:
    value = {
        "llm_output": {"token_usage": {"prompt_tokens": 3, "total_tokens": 5}},
        "usage_metadata": {"input_token_details": {"cache_read": 0}, "access_token": "t"},
    }
    assert to_jsonable(value, redactor=DEFAULTS) == {
        "llm_output": {"token_usage": {"prompt_tokens": 3, "total_tokens": 5}},
        "usage_metadata": {"input_token_details": {"cache_read": 0}, "access_token": REDACTED},
    }


def test_split_words() -> None:
    assert split_words("OPENAI_API_KEY") == ("openai", "api", "key")
    assert split_words("x-api-key") == ("x", "api", "key")
    assert split_words("apiKey") == ("api", "key")
    assert split_words("HTTPAuthorization") == ("http", "authorization")
    assert split_words("oauth2Token") == ("oauth2", "token")
    assert split_words("a.b c__d") == ("a", "b", "c", "d")
    assert split_words("__") == ()


def test_custom_keys() -> None:
    redactor = get_redactor(("session_id", "ssn"))
    assert redactor.keys == ("session_id", "ssn")
    for key in ("session_id", "sessionId", "SESSION-ID", "user.session.id", "SSN", "user_ssn"):
        assert redactor.matches(key), key
    for key in ("session", "id", "api_key", "password", "ssns"):
        assert not redactor.matches(key), key


def test_custom_key_in_camel_case_is_split_like_keys() -> None:
    redactor = Redactor(["sessionId"])
    assert redactor.matches("session_id")
    assert redactor.matches("SESSIONID")
    assert not redactor.matches("session")


def test_get_redactor_is_shared_per_keys() -> None:
    assert get_redactor(("a", "b")) is get_redactor(("a", "b"))
    assert get_redactor(("a", "b")) is not get_redactor(("b", "a"))


def test_single_string_is_one_key() -> None:
    redactor = Redactor("token")
    assert redactor.keys == ("token",)
    assert redactor.matches("access_token")
    assert not redactor.matches("t")


def test_empty_redactor_matches_nothing() -> None:
    redactor = Redactor(())
    assert not redactor.matches("password")
    assert to_jsonable({"password": "x"}, redactor=redactor) == {"password": "x"}


def test_answers_are_cached_and_cache_is_bounded() -> None:
    redactor = Redactor(DEFAULT_REDACT_KEYS)
    assert redactor.matches("api_key")
    assert redactor.cache["api_key"] is True
    for index in range(10_000):
        assert not redactor.matches(f"field_{index}")
    assert len(redactor.cache) <= 4096
    assert redactor.matches("api_key")
    assert not redactor.matches("max_tokens")
    long_key = "x" * 1_000 + "_token"
    assert redactor.matches(long_key)
    assert long_key not in redactor.cache


def test_kept_holds_exactly_the_cached_keys_that_do_not_match() -> None:
    redactor = Redactor(DEFAULT_REDACT_KEYS)
    for key in ("api_key", "max_tokens", "query", "password", "x" * 1_000):
        redactor.matches(key)
    assert redactor.kept == {"max_tokens", "query"}  # the long key is not cached at all
    for index in range(5_000):  # the cache fills and is cleared: kept follows it
        redactor.matches(f"field_{index}")
    assert redactor.kept == {key for key, hit in redactor.cache.items() if not hit}
    assert "query" not in redactor.kept


def test_fast_path_masks_a_secret_met_after_known_kept_keys() -> None:
    redactor = get_redactor(DEFAULT_REDACT_KEYS)
    assert dumps({"query": 1, "limit": 2}, redactor=redactor) == '{"query":1,"limit":2}'
    masked = dumps({"query": 1, "limit": 2, "auth": {"password": "hunter2"}}, redactor=redactor)
    assert json.loads(masked) == {"query": 1, "limit": 2, "auth": {"password": REDACTED}}


# Redaction applied by the serializer


class Hostile:
    """Records any attempt to look at it."""

    touched: ClassVar[list[str]] = []

    def __repr__(self) -> str:
        Hostile.touched.append("repr")
        return "hostile"

    def __str__(self) -> str:
        Hostile.touched.append("str")
        return "hostile"


@pytest.fixture(autouse=True)
def _reset_hostile() -> None:
    Hostile.touched.clear()


def test_nested_dicts_and_lists() -> None:
    value = {
        "model": "gpt-4o",
        "max_tokens": 100,
        "usage": {"prompt_tokens": 3, "total_tokens": 5},
        "headers": [{"Authorization": "Bearer abc", "Accept": "json"}],
        "config": {"openai": {"OPENAI_API_KEY": "sk-1", "timeout": 3}},
        "password": Hostile(),
    }
    result = json.loads(dumps(value, redactor=DEFAULTS))
    assert result == {
        "model": "gpt-4o",
        "max_tokens": 100,
        "usage": {"prompt_tokens": 3, "total_tokens": 5},
        "headers": [{"Authorization": REDACTED, "Accept": "json"}],
        "config": {"openai": {"OPENAI_API_KEY": REDACTED, "timeout": 3}},
        "password": REDACTED,
    }
    assert Hostile.touched == []
    assert to_jsonable(value, redactor=DEFAULTS) == result


def test_container_under_a_secret_key_is_masked_whole() -> None:
    value = {"secret": {"a": [1, 2, 3]}, "token": ["x"]}
    assert to_jsonable(value, redactor=DEFAULTS) == {"secret": REDACTED, "token": REDACTED}


def test_without_redactor_nothing_is_masked() -> None:
    assert to_jsonable({"api_key": "k"}) == {"api_key": "k"}
    assert json.loads(dumps({"api_key": "k"})) == {"api_key": "k"}


def test_non_string_keys_are_matched_on_their_text() -> None:
    class Key:
        def __str__(self) -> str:
            return "api_key"

    assert to_jsonable({Key(): "k", 1: "one"}, redactor=DEFAULTS) == {
        "api_key": REDACTED,
        "1": "one",
    }


def test_other_mappings() -> None:
    value: Any = OrderedDict(token="t", n=1)
    assert to_jsonable(value, redactor=DEFAULTS) == {"token": REDACTED, "n": 1}
    value = MappingProxyType({"Cookie": "c", "n": 1})
    assert to_jsonable(value, redactor=DEFAULTS) == {"Cookie": REDACTED, "n": 1}


@dataclasses.dataclass
class Credentials:
    user: str
    password: Any
    nested: Any = None


def test_dataclass_fields() -> None:
    value = Credentials("ann", Hostile(), nested=[Credentials("bob", "pw")])
    assert to_jsonable(value, redactor=DEFAULTS) == {
        "user": "ann",
        "password": REDACTED,
        "nested": [{"user": "bob", "password": REDACTED, "nested": None}],
    }
    assert Hostile.touched == []


class Settings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)

    api_key: str
    client_secret: pydantic.SecretStr
    max_tokens: int
    extra_headers: dict[str, str] = {}


class Request(pydantic.BaseModel):
    settings: Settings
    prompt: str


def test_pydantic_v2_fields() -> None:
    value = Request(
        settings=Settings(
            api_key="sk",
            client_secret=pydantic.SecretStr("s"),
            max_tokens=7,
            extra_headers={"x-api-key": "k", "x-trace": "t"},
        ),
        prompt="hi",
    )
    assert to_jsonable(value, redactor=DEFAULTS) == {
        "settings": {
            "api_key": REDACTED,
            "client_secret": REDACTED,
            "max_tokens": 7,
            "extra_headers": {"x-api-key": REDACTED, "x-trace": "t"},
        },
        "prompt": "hi",
    }


class LegacySettings(pydantic_v1.BaseModel):
    token: str
    temperature: float


def test_pydantic_v1_fields() -> None:
    value = {"legacy": LegacySettings(token="t", temperature=0.5)}
    assert to_jsonable(value, redactor=DEFAULTS) == {
        "legacy": {"token": REDACTED, "temperature": 0.5}
    }


@attrs.define
class AttrsConfig:
    private_key: str
    name: str


def test_attrs_fields() -> None:
    assert to_jsonable(AttrsConfig("pem", "n"), redactor=DEFAULTS) == {
        "private_key": REDACTED,
        "name": "n",
    }


class Endpoint:  # (a class named Client would be summarized as not-data)
    def __init__(self) -> None:
        self.base_url = "https://example.test"
        self.access_token = Hostile()
        self._private = "skipped"


def test_object_attributes() -> None:
    assert to_jsonable(Endpoint(), redactor=DEFAULTS) == {
        "base_url": "https://example.test",
        "access_token": REDACTED,
    }
    assert Hostile.touched == []


def test_namedtuple_fields() -> None:
    login = namedtuple("login", ["user", "passwd"])
    assert to_jsonable(login("u", "p"), redactor=DEFAULTS) == {"user": "u", "passwd": REDACTED}


def test_custom_key_set_through_get_redactor() -> None:
    redactor = get_redactor((*DEFAULT_REDACT_KEYS, "ssn"))
    value = {"ssn": "123", "user": {"SSN": "456", "name": "x"}, "api_key": "k"}
    assert json.loads(dumps(value, redactor=redactor)) == {
        "ssn": REDACTED,
        "user": {"SSN": REDACTED, "name": "x"},
        "api_key": REDACTED,
    }


def test_slow_path_masks_too() -> None:
    value = {"when": dt.date(2024, 1, 1), "api_key": Hostile(), "inner": {"token": {1, 2}}}
    assert json.loads(dumps(value, redactor=DEFAULTS)) == {
        "when": "2024-01-01",
        "api_key": REDACTED,
        "inner": {"token": REDACTED},
    }
    assert Hostile.touched == []


def test_redacted_output_is_identical_from_both_paths() -> None:
    plain = {"a": 1, "password": "p", "nested": [{"secret": "s", "b": 2}]}
    slow = {**plain, "extra": dt.date(2024, 1, 1)}
    fast_result = json.loads(dumps(plain, redactor=DEFAULTS))
    slow_result = json.loads(dumps(slow, redactor=DEFAULTS))
    del slow_result["extra"]
    assert fast_result == slow_result == to_jsonable(plain, redactor=DEFAULTS)
    assert plain["password"] == "p"
