"""Where the local server listens, the URLs that reach it, and the names it answers to."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Binding:
    """A bound ``host:port``.

    ``base_url`` is a URL that works from this machine (a wildcard bind is reached via
    loopback, which RespanClient accepts over plain HTTP); ``remote_url`` is the one
    other machines would use; ``hosts`` are the ``Host`` values page links may follow.
    """

    host: str
    port: int
    base_url: str
    remote_url: str
    loopback: bool
    hosts: frozenset[str]

    @classmethod
    def of(cls, host: str, port: int) -> Binding:
        """The binding of a socket bound to ``host`` (as the OS reports it) and ``port``."""
        local = _WILDCARDS.get(host, host)
        loopback = _is_loopback(host)
        remote = socket.gethostname() if host in _WILDCARDS else host
        names = {local, host, "127.0.0.1", "localhost", "::1"}
        if not loopback:
            names.add(remote)
        hosts = frozenset(f"{_bracket(name)}:{port}".lower() for name in names)
        return cls(
            host=host,
            port=port,
            base_url=f"http://{_bracket(local)}:{port}",
            remote_url=f"http://{_bracket(remote)}:{port}",
            loopback=loopback,
            hosts=hosts,
        )

    def warning(self) -> str:
        """What to tell the user when the server is reachable from other machines."""
        where = "every network interface" if self.host in _WILDCARDS else self.host
        return (
            f"WARNING: the local Respan server listens on {where} (port {self.port}), not "
            "only on this machine: anyone who can reach it can try the API key, and every "
            "request, key included, crosses the network as plain HTTP. Bind 127.0.0.1 "
            f"(the default) unless you need this. This machine: {self.base_url}. Other "
            f"machines: {self.remote_url}, with RespanClient(..., allow_insecure_http=True) "
            "(or put an HTTPS proxy in front)."
        )
