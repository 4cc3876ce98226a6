"""What we know about the instrumentations that make spans: which setting turns their
content on, and which provider SDKs trace their own calls beside an instrumentor."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Final

CONTENT_SETTINGS: Final = (
    (
        "opentelemetry.util.genai",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only and "
        "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental",
    ),
    (
        "opentelemetry.instrumentation.openai_v2",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only and "
        "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental",
    ),
    ("openinference.", "OPENINFERENCE_HIDE_INPUTS=false and OPENINFERENCE_HIDE_OUTPUTS=false"),
    ("com.anthropic.sdk", "ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE=content"),
    ("opentelemetry.instrumentation.", "TRACELOOP_TRACE_CONTENT=true"),
)
"""Instrumentation scope prefix -> the setting that puts prompts and completions on spans."""


def content_setting(scope: str) -> str:
    for prefix, setting in CONTENT_SETTINGS:
        if scope.startswith(prefix):
            return setting
    return "its setting that records prompts and completions on spans"


SDK_TWINS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "com.anthropic.sdk.python": (
        ("openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
        ("opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor"),
    ),
}
"""A provider SDK that traces its own calls -> instrumentors that trace the same calls.

The SDK's span ends first (it is the inner call), so whether it is a duplicate is
decided by whether one of these instrumentors is active in this process."""


def twin_is_traced(scope: str) -> bool:
    """Whether an instrumentor of the same calls as the SDK scope ``scope`` is active."""
    for module_name, class_name in SDK_TWINS.get(scope, ()):
        module = sys.modules.get(module_name)
        instrumentor: Any = getattr(module, class_name, None) if module else None
        # BaseInstrumentor keeps its one instance on the class (calling the class would
        # run __init__ again and reset the instrumentor's options)
        instance = getattr(instrumentor, "_instance", None)
        if getattr(instance, "_is_instrumented_by_opentelemetry", False) is True:
            return True
    return False
