"""The ``regex`` filter operator, bounded in time.

Python's ``re`` backtracks: ``^(a+)+$`` on 30 characters takes minutes, holding the
store lock and the GIL, and nothing can stop it. So patterns run on the ``regex``
package (the ``local`` extra), whose matching takes a timeout and releases the GIL. Each
request gets one budget (:data:`REGEX_BUDGET_SECONDS`) for all its pattern searches and
``ilike`` scans; when it runs out the request fails with a ``400`` that says so, and
whatever statement was running (a filtered delete included) is rolled back. Without the
package the ``regex`` operator is refused with a ``400`` naming the extra.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Final

_engine: Any
try:  # the ``local`` extra
    import regex as _engine
except ImportError:  # pragma: no cover - depends on the environment
    _engine = None

REGEX_BUDGET_SECONDS: Final = 1.0
"""Time one request may spend in regex and ``ilike`` matching, over all rows."""
MAX_PATTERN_CHARS: Final = 1000
EXTRA_HINT: Final = "install the 'regex' package: pip install 'respan-otel[local]'"


class RegexBudgetError(Exception):
    """Raised (inside the SQL function, which aborts the statement) when time runs out."""


class _Budget(threading.local):
    deadline: float | None = None
    exceeded: bool = False


_budget = _Budget()


@contextlib.contextmanager
def regex_budget(seconds: float = REGEX_BUDGET_SECONDS) -> Iterator[_Budget]:
    """Give the requests handled in this thread, inside the block, ``seconds`` of matching."""
    _budget.deadline = time.monotonic() + seconds
    _budget.exceeded = False
    try:
        yield _budget
    finally:
        _budget.deadline = None


def spend_budget() -> float:
    """Seconds left in this request's budget; raises when none is left."""
    if _budget.deadline is None:
        return REGEX_BUDGET_SECONDS
    left = _budget.deadline - time.monotonic()
    if left <= 0:
        _budget.exceeded = True
        raise RegexBudgetError
    return left


def compile_regex(pattern: str) -> Any:
    """A compiled pattern, or ``ValueError`` saying why it cannot be used."""
    if _engine is None:
        raise ValueError(f"the regex operator needs a matcher with a time limit: {EXTRA_HINT}")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"regex patterns are limited to {MAX_PATTERN_CHARS} characters")
    try:
        return _engine.compile(pattern)
    except _engine.error as exc:
        raise ValueError(f"invalid regex: {exc}") from None


def regex_search(pattern: Any, text: str) -> bool:
    """Whether ``pattern`` is found in ``text``, within what is left of the budget."""
    try:
        return pattern.search(text, timeout=spend_budget()) is not None
    except TimeoutError:
        _budget.exceeded = True
        raise RegexBudgetError from None
