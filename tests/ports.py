"""A port on 127.0.0.1 that nothing listens on (standard library only: benchmarks use it
too, through ``tests.gateway.process``)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the OS just handed out and that is closed again: free to bind, and refusing
    connections until something does."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
