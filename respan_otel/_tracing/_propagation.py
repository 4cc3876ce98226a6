"""``propagate()``: session, customer, thread and custom ids, and metadata, for every span
opened inside it, ours and other instrumentations' alike. A span's ``dataset=`` travels the
same way (see ``_handle.start``).

The values live in the OpenTelemetry context, so they follow the same rules as the current
span: they cross ``await`` and ``asyncio`` tasks, and threads through
:class:`~respan_otel.ContextThreadPoolExecutor` or :func:`~respan_otel.wrap_context`.
``@trace`` and ``span()`` stamp them on their own spans; ``PropagationSpanProcessor``
stamps them on everyone else's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.util.types import AttributeValue

from respan_otel import _attributes as attrs
from respan_otel._redact import get_redactor
from respan_otel._serialize import dumps
from respan_otel._settings import capture_settings
from respan_otel._tracing._context import context_decorator, enter_scope, exit_scope

_KEY: Final = otel_context.create_key("respan_otel.propagated")


class Propagated:
    """An immutable set of propagated values, with the span attributes they make."""

    __slots__ = ("attributes", "dataset", "ids", "metadata")

    def __init__(
        self, ids: Mapping[str, str], metadata: Mapping[str, Any], dataset: str | None = None
    ) -> None:
        self.ids: dict[str, str] = dict(ids)
        self.metadata: dict[str, Any] = dict(metadata)
        self.dataset = dataset
        attributes: dict[str, AttributeValue] = {
            attrs.PROPAGATED_IDS[key]: value for key, value in self.ids.items()
        }
        if self.metadata:
            settings = capture_settings()
            attributes[attrs.METADATA] = dumps(
                self.metadata,
                max_bytes=settings.max_field_bytes,
                redactor=get_redactor(settings.redact_keys),
            )
        if dataset is not None:
            attributes[attrs.DATASET] = dataset
        self.attributes = attributes

    def merged(self, ids: Mapping[str, str], metadata: Mapping[str, Any]) -> Propagated:
        """These values overlaid with inner ones: ids replace, metadata keys merge."""
        return Propagated({**self.ids, **ids}, {**self.metadata, **metadata}, self.dataset)

    def with_dataset(self, dataset: str) -> Propagated:
        """These values with ``dataset`` for every span started inside (no re-encoding)."""
        copy = Propagated.__new__(Propagated)
        copy.ids, copy.metadata, copy.dataset = self.ids, self.metadata, dataset
        copy.attributes = {**self.attributes, attrs.DATASET: dataset}
        return copy


EMPTY: Final = Propagated({}, {})


def current_propagated(ctx: Context | None = None) -> Propagated | None:
    """The propagated values in ``ctx`` (default: the current context), if any."""
    value = otel_context.get_value(_KEY, ctx)
    return value if isinstance(value, Propagated) else None


def with_propagated(ctx: Context | None, values: Propagated) -> Context:
    """``ctx`` (default: the current context) carrying ``values`` for spans started in it."""
    return otel_context.set_value(_KEY, values, ctx)


def _check_id(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"propagate({name}=...) must be a str, got {type(value).__name__}")
    return str(value)


class Propagation:
    """What ``propagate(...)`` returns: a context manager (sync and async) and a decorator.

    One object can be re-entered, or used by several tasks at once: each entry is undone
    in the context that made it.
    """

    __slots__ = ("_ids", "_metadata")

    def __init__(self, ids: Mapping[str, str], metadata: Mapping[str, Any]) -> None:
        self._ids = dict(ids)
        self._metadata = dict(metadata)

    def context(self, parent: Context | None = None) -> Context:
        """``parent`` (default: the current context) with these values merged in."""
        outer = current_propagated(parent) or EMPTY
        return with_propagated(parent, outer.merged(self._ids, self._metadata))

    def __enter__(self) -> Propagation:
        enter_scope(self, self.context())
        return self

    def __exit__(self, *exc_info: object) -> None:
        exit_scope(self)  # exited where it was never entered: nothing to undo there

    async def __aenter__(self) -> Propagation:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)

    def __call__(self, func: Any) -> Any:
        """Decorate a sync, async, generator or async generator function."""
        return context_decorator(func, self.context)


def propagate(
    *,
    session_id: str | None = None,
    customer_identifier: str | None = None,
    thread_identifier: str | None = None,
    custom_identifier: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Propagation:
    """Stamp ids and metadata on every span started inside the block or decorated call.

    Nested ``propagate`` blocks merge: inner ids replace outer ones, metadata keys merge.
    Works as ``with``, ``async with`` and as a decorator of sync, async and generator
    functions (for generators the values apply while the generator body runs).
    """
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"propagate(metadata=...) must be a mapping, got {type(metadata).__name__}")
    given = {
        "session_id": _check_id("session_id", session_id),
        "customer_identifier": _check_id("customer_identifier", customer_identifier),
        "thread_identifier": _check_id("thread_identifier", thread_identifier),
        "custom_identifier": _check_id("custom_identifier", custom_identifier),
    }
    ids = {key: value for key, value in given.items() if value is not None}
    return Propagation(ids, dict(metadata or {}))
