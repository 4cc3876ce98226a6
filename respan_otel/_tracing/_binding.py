"""Call arguments as ``{parameter name: value}``, defaults applied, for ``@trace`` input."""

from __future__ import annotations

import inspect
from typing import Any, Final

_POSITIONAL_OR_KEYWORD: Final = inspect.Parameter.POSITIONAL_OR_KEYWORD


def signature_of(func: Any) -> inspect.Signature | None:
    """The signature, without evaluating annotations where Python allows (3.14+)."""
    try:
        try:
            import annotationlib  # type: ignore[import-not-found]

            return inspect.signature(  # type: ignore[call-arg]
                func, annotation_format=annotationlib.Format.FORWARDREF
            )
        except ImportError:
            return inspect.signature(func)
    except (TypeError, ValueError):
        return None


class Binder:
    """``Signature.bind`` plus ``apply_defaults``, with the signature inspected once.

    When every parameter is positional-or-keyword (the common case) a fast path builds the
    same dict, in the same order, without ``BoundArguments``; any call it is not sure of
    (too many arguments, unknown or repeated keywords, a missing argument) goes to
    ``Signature.bind``. ``tests/tracing/test_binding.py`` checks the two agree. A call that
    does not bind is recorded as ``{"args": [...], "kwargs": {...}}``.
    """

    __slots__ = ("defaults", "names", "signature", "simple")

    def __init__(self, signature: inspect.Signature) -> None:
        params = list(signature.parameters.values())
        self.signature = signature
        self.simple = all(p.kind is _POSITIONAL_OR_KEYWORD for p in params)
        self.names = tuple(p.name for p in params)
        self.defaults = {p.name: p.default for p in params if p.default is not p.empty}

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        names = self.names
        given = len(args)
        if self.simple and given <= len(names):
            if not kwargs and given == len(names):
                return dict(zip(names, args, strict=True))
            bound = dict(zip(names, args, strict=False))
            defaults = self.defaults
            used = 0
            for name in names[given:]:
                if name in kwargs:
                    bound[name] = kwargs[name]
                    used += 1
                elif name in defaults:
                    bound[name] = defaults[name]
                else:
                    break  # missing argument: let Signature.bind word the failure
            else:
                if used == len(kwargs):  # no keyword left over (unknown, or repeats a positional)
                    return bound
        return self._bind(args, kwargs)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError:
            return {"args": list(args), "kwargs": dict(kwargs)}
        bound.apply_defaults()
        return dict(bound.arguments)
