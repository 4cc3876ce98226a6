"""A local, Respan-compatible datasets and experiments server, stored in SQLite.

It speaks the same paths and bodies as ``https://api.respan.ai`` for datasets, dataset
logs and experiments, so the library, its examples and users' own tests run offline and
over real HTTP. Use :class:`LocalRespan` in-process (a context manager on a free port) or
:func:`serve` (``respan-otel serve``) as a standalone process. See ``docs/local-server.md``
for what it emulates and where it differs from the real service.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import types
from typing import Final

from respan_otel._settings import ENV_API_KEY
from respan_otel.local._api import Api
from respan_otel.local._binding import Binding
from respan_otel.local._common import logger
from respan_otel.local._server import LocalHTTPServer, RateLimiter, ServerState
from respan_otel.local._server_state import DEFAULT_MAX_CONNECTIONS, REQUEST_SECONDS
from respan_otel.local._store import Store

DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024
"""Largest accepted request body (32 MiB); larger ones get 413 before they are read."""

DEFAULT_PORT: Final = 8787
DEFAULT_DB: Final = "respan-local.db"
_SHUTDOWN_JOIN_SECONDS: Final = 5.0


class LocalRespan:
    """An in-process Respan-compatible server.

    Nothing happens at construction: :meth:`start` opens the database, binds the socket
    (port 0 picks a free port) and serves from a daemon thread; :meth:`stop` closes every
    connection, joins every thread and closes the socket and the database. As a context
    manager it starts on entry and stops on exit::

        with LocalRespan() as server:
            client = RespanClient(api_key=server.api_key, base_url=server.base_url)

    The API key it accepts is ``api_key``, else ``RESPAN_API_KEY``, else a random one,
    which a file database keeps: a restart on the same database accepts the same key.
    ``rate_limit_per_minute`` turns on the emulation of Respan's per-key limit (429 with
    ``retry_after``). ``org_rate_limit_per_minute`` emulates Respan's organisation-wide
    limit on bulk log requests, one window for every key and caller; :attr:`limiter` is
    then an :class:`~respan_otel.local._org_limit.OrgRateLimiter` that counts what it let
    through and refused and records every accepted bulk request. At most
    ``max_connections`` connections are served at once, and each must send a whole
    request within ``request_timeout`` seconds (idle time included).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        db: str | os.PathLike[str] = ":memory:",
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit_per_minute: int | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        request_timeout: float = REQUEST_SECONDS,
        org_rate_limit_per_minute: int | None = None,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {port}")
        if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
            raise ValueError(
                f"rate_limit_per_minute must be at least 1 or None, got {rate_limit_per_minute}"
            )
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be positive, got {max_connections}")
        if not request_timeout > 0:
            raise ValueError(f"request_timeout must be positive, got {request_timeout}")
        key = api_key or os.environ.get(ENV_API_KEY) or None
        self.api_key_generated = key is None
        """Whether :attr:`api_key` was made up here (so the user must be told it)."""
        self.api_key: str = key or f"sk-local-{secrets.token_urlsafe(24)}"
        self.db = db
        self.host = host
        self.port = port
        self.rate_limit_per_minute = rate_limit_per_minute
        if org_rate_limit_per_minute is not None and org_rate_limit_per_minute < 1:
            raise ValueError("org_rate_limit_per_minute must be at least 1 or None")
        self.org_rate_limit_per_minute = org_rate_limit_per_minute
        """One budget shared by every key and caller, as Respan limits an organisation."""
        self.limiter: RateLimiter | None = None
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self.binding: Binding | None = None
        """Where it listens once started: the URL to use here and from other machines."""
        self._rate_window_seconds = 60.0
        self._lock = threading.Lock()
        self._server: LocalHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._base_url: str | None = None

    def __repr__(self) -> str:
        state = self._base_url if self._base_url is not None else "stopped"
        return f"LocalRespan({state}, db={os.fspath(self.db)!r})"

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server; the API is under ``/api/``."""
        if self._base_url is None:
            raise RuntimeError("LocalRespan is not running; call start() first")
        return self._base_url

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    def start(self) -> LocalRespan:
        """Open the database, bind and serve in a daemon thread; no-op when running."""
        with self._lock:
            if self._server is not None:
                return self
            store = Store(self.db)
            if self.api_key_generated:
                # kept with the data, so clients of the last run still have the right key
                self.api_key = store.setting("api_key", lambda: self.api_key)
            limiter = (
                RateLimiter(self.rate_limit_per_minute, self._rate_window_seconds)
                if self.rate_limit_per_minute is not None
                else None
            )
            api = Api(store)
            self.limiter = limiter
            if self.org_rate_limit_per_minute is not None:
                # bulk requests only, as Respan counts them; the API meters what it let in
                from respan_otel.local._org_limit import OrgLimitedApi, OrgRateLimiter

                org = OrgRateLimiter(self.org_rate_limit_per_minute, self._rate_window_seconds)
                api, self.limiter = OrgLimitedApi(store, org), org
            state = ServerState(
                api,
                self.api_key,
                self.max_body_bytes,
                limiter,
                max_connections=self.max_connections,
                request_seconds=self.request_timeout,
            )
            try:
                server = LocalHTTPServer((self.host, self.port), state)
            except BaseException:
                store.close()
                raise
            bound_host, bound_port = server.server_address[:2]
            binding = Binding.of(str(bound_host), int(bound_port))
            self.binding = binding
            state.hosts = binding.hosts
            self._base_url = state.origin = binding.base_url
            if not binding.loopback:
                logger.warning("%s", binding.warning())
            thread = threading.Thread(
                target=server.serve_until_stopped,
                name=f"respan-local-server-{bound_port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread, self._store = server, thread, store
            logger.debug("local Respan server started on %s", self._base_url)
            return self

    def stop(self) -> None:
        """Stop serving, close connections, join threads, close socket and database.

        Idempotent; in-flight requests finish first (for up to a few seconds).
        """
        with self._lock:
            server, thread, store = self._server, self._thread, self._store
            if server is None or thread is None or store is None:
                return
            server.stop_serving()
            thread.join()
            if not server.close_all(_SHUTDOWN_JOIN_SECONDS):
                logger.warning("local Respan server: some connections did not close in time")
            server.server_close()
            store.close()
            logger.debug("local Respan server on %s stopped", self._base_url)
            self._server = self._thread = self._store = None
            self._base_url = None

    def __enter__(self) -> LocalRespan:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    db: str = DEFAULT_DB,
    api_key: str | None = None,
    rate_limit_per_minute: int | None = None,
    org_rate_limit_per_minute: int | None = None,
) -> None:
    """Run the local server in the foreground until Ctrl-C (or SIGTERM); for the CLI.

    Prints one line with the URL to use, and the API key unless it was given (a key made
    up here is kept in the database, so it is the same on every start with that file).
    """
    server = LocalRespan(
        api_key=api_key,
        db=db,
        host=host,
        port=port,
        rate_limit_per_minute=rate_limit_per_minute,
        org_rate_limit_per_minute=org_rate_limit_per_minute,
    )
    stop = threading.Event()
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if on_main_thread else None
    try:
        server.start()
        line = f"Respan local server: RESPAN_BASE_URL={server.base_url}"
        if server.api_key_generated:
            line += f" RESPAN_API_KEY={server.api_key}"
        limit = f", {rate_limit_per_minute} requests/min" if rate_limit_per_minute else ""
        if server.api_key_generated and db != ":memory:":
            limit += ", key kept in the database"
        viewer = f"; viewer at {server.base_url}/"
        print(f"{line} (database {db}{limit}{viewer}; Ctrl-C to stop)", flush=True)
        logger.info("local Respan server listening on %s", server.base_url)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if on_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


__all__ = ["DEFAULT_MAX_BODY_BYTES", "LocalRespan", "serve"]
