"""``respan-otel gateway``: read the tokens and the directory, then serve in the foreground."""

from __future__ import annotations

import os
from pathlib import Path

from respan_otel._settings import ENV_GATEWAY_DIR, ENV_GATEWAY_TOKENS
from respan_otel.gateway._service import Gateway


def default_directory() -> Path:
    """``$RESPAN_GATEWAY_DIR``, else ``$XDG_STATE_HOME/respan-otel/gateway``."""
    configured = os.environ.get(ENV_GATEWAY_DIR)
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "respan-otel" / "gateway"


def read_tokens(tokens_file: str | None) -> list[str]:
    """Client tokens: one per line of ``tokens_file`` (``#`` comments), else the env var."""
    if tokens_file is not None:
        lines = Path(tokens_file).read_text(encoding="utf-8").splitlines()
    else:
        lines = os.environ.get(ENV_GATEWAY_TOKENS, "").split(",")
    tokens = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not tokens:
        raise ValueError(
            f"the gateway accepts no client without a token: set {ENV_GATEWAY_TOKENS}=t1,t2 "
            "or pass --tokens-file (generate one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    return tokens


def run(
    *,
    host: str,
    port: int,
    directory: str | None,
    tokens_file: str | None,
    journal_max_bytes: int,
    retry_after: int,
) -> None:
    gateway = Gateway(
        directory=directory or default_directory(),
        tokens=read_tokens(tokens_file),
        host=host,
        port=port,
        journal_max_bytes=journal_max_bytes,
        retry_after=retry_after,
    )
    print(
        f"respan-otel gateway: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={gateway.url}/v1/traces "
        f"(journal {gateway.journal.directory}; Ctrl-C to stop)",
        flush=True,
    )
    gateway.serve()
