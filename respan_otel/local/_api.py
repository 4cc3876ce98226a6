"""The Respan datasets and experiments API, over the local store, independent of HTTP.

:class:`Api` maps a :class:`Request` (method, path, query, body) to a :class:`Response`.
Paths are the real API's, each accepted with or without its trailing slash. Handlers
live by resource: :mod:`._api_datasets` (datasets), :mod:`._api_logs` (dataset logs),
:mod:`._api_experiments` (experiments and their logs).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Final

from respan_otel.local._api_datasets import DatasetRoutes
from respan_otel.local._api_experiments import ExperimentRoutes
from respan_otel.local._api_logs import LogRoutes
from respan_otel.local._common import ApiError
from respan_otel.local._protocol import Request, Response
from respan_otel.local._regex import REGEX_BUDGET_SECONDS, RegexBudgetError, regex_budget
from respan_otel.local._routes import SAVED_LOGS_DATASET
from respan_otel.local._store import Store

__all__ = ["API_PREFIX", "SAVED_LOGS_DATASET", "Api", "Request", "Response"]

API_PREFIX: Final = "/api/"
"""Every API path starts with this; other paths are not the API's (see the server)."""

Handler = Callable[..., Response]
_SLOW_PATTERN: Final = (
    f"Invalid filters: a regex or ilike filter took longer than {REGEX_BUDGET_SECONDS:g} s "
    "to evaluate; simplify the pattern (nested repeats such as (a+)+ backtrack "
    "exponentially) or narrow the other filters"
)
# The fixed path words below are never ids, so e.g. GET .../logs/summary/ is a 405 of the
# summary route, not a lookup of a log called "summary".
_RESERVED: Final = ("list", "bulk", "import", "summary", "eval-reports", "histogram", "logs")
_ID: Final = r"(?P<{}>(?!(?:" + "|".join(map(re.escape, _RESERVED)) + r")$)[^/]+)"


def _route(pattern: str) -> re.Pattern[str]:
    names = re.findall(r"\{(\w+)\}", pattern)
    regex = re.escape(pattern.rstrip("/"))
    for name in names:
        regex = regex.replace(re.escape("{" + name + "}"), _ID.format(name))
    return re.compile(f"^{regex}/?$")


_ROUTES: Final[tuple[tuple[str, dict[str, str]], ...]] = (
    ("/api/datasets/", {"POST": "create_dataset", "GET": "list_datasets"}),
    ("/api/datasets/list/", {"POST": "list_datasets", "GET": "list_datasets"}),
    ("/api/datasets/{ds}/logs/bulk/", {"POST": "bulk_create_logs"}),
    ("/api/datasets/{ds}/logs/list/", {"POST": "list_logs", "GET": "list_logs"}),
    ("/api/datasets/{ds}/logs/import/", {"POST": "import_logs", "DELETE": "remove_logs"}),
    ("/api/datasets/{ds}/logs/summary/", {"POST": "summarize_logs", "GET": "summarize_logs"}),
    ("/api/datasets/{ds}/logs/", {"POST": "create_log", "GET": "list_logs"}),
    (
        "/api/datasets/{ds}/logs/{uid}/",
        {"GET": "get_log", "PATCH": "update_log", "PUT": "replace_log", "DELETE": "delete_log"},
    ),
    ("/api/datasets/{ds}/eval-reports/create/", {"POST": "run_evaluators"}),
    ("/api/datasets/{ds}/eval-reports/list/", {"GET": "list_eval_runs", "POST": "list_eval_runs"}),
    (
        "/api/datasets/{ds}/",
        {"GET": "get_dataset", "PATCH": "update_dataset", "DELETE": "delete_dataset"},
    ),
    ("/api/v2/experiments/", {"POST": "create_experiment", "GET": "list_experiments"}),
    ("/api/v2/experiments/list/", {"POST": "list_experiments", "GET": "list_experiments"}),
    ("/api/v2/experiments/summary/", {"POST": "summarize_experiments"}),
    (
        "/api/v2/experiments/{exp}/logs/list/",
        {"POST": "list_experiment_logs", "GET": "list_experiment_logs"},
    ),
    ("/api/v2/experiments/{exp}/logs/summary/", {"POST": "summarize_experiment_logs"}),
    ("/api/v2/experiments/{exp}/logs/", {"GET": "list_experiment_logs"}),
    (
        "/api/v2/experiments/{exp}/logs/{log}/",
        {"GET": "get_experiment_log", "PATCH": "update_experiment_log"},
    ),
    ("/api/v2/experiments/{exp}/histogram/", {"POST": "experiment_histogram"}),
    (
        "/api/v2/experiments/{exp}/",
        {
            "GET": "get_experiment",
            "PUT": "replace_experiment",
            "PATCH": "update_experiment",
            "DELETE": "delete_experiment",
        },
    ),
)


class Api(DatasetRoutes, LogRoutes, ExperimentRoutes):
    """Routes requests to handlers over a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._routes = [(_route(pattern), methods) for pattern, methods in _ROUTES]

    def handle(self, request: Request) -> Response:
        """Answer one request; API errors become their JSON responses."""
        try:
            for pattern, methods in self._routes:
                found = pattern.match(request.path)
                if found is None:
                    continue
                name = methods.get(request.method)
                if name is None:
                    allowed = ", ".join(sorted(methods))
                    raise ApiError(
                        405,
                        f'Method "{request.method}" not allowed.',
                        headers={"Allow": allowed},
                    )
                handler: Handler = getattr(self, name)
                with regex_budget() as budget:
                    try:
                        return handler(request, **found.groupdict())
                    except (RegexBudgetError, sqlite3.OperationalError):
                        # a pattern search ran out of time inside SQLite, which reports
                        # it as an error of the statement (now rolled back)
                        if not budget.exceeded:
                            raise
                        raise ApiError(400, _SLOW_PATTERN) from None
            raise ApiError(404, "Not found.")
        except ApiError as error:
            return Response.error(error)
