"""Security: the API key never leaks, redaction reaches the stored log, transport safety,
and the local server's own guards.

The leak test drives every error path of the client, the exporter, ``configure()`` and
the CLI against a server that echoes the ``Authorization`` header back (in JSON error
bodies, in text bodies cut at the excerpt boundary, in headers, in a redirect target,
in per-item bulk errors), plus dropped connections, timeouts and refused connections,
under ``caplog`` at DEBUG and ``capsys``. It then scans everything captured for any ten
characters of the key's secret part.
"""

from __future__ import annotations

import http.server
import inspect
import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import respan_otel
import respan_otel._setup as configure_module
from respan_otel import (
    RespanClient,
    RespanDatasetExporter,
    propagate,
    span,
    trace,
    update_current_span,
)
from respan_otel.cli import main as cli_main
from respan_otel.client._errors import APIConnectionError
from respan_otel.local import LocalRespan, serve
from tests.faulty_server import FaultyServer, RecordedRequest, Reply, json_reply
from tests.ports import free_port
from tests.scripts.harness import child_env, local_respan, logs_of, run

SECRET = "9c1f4e7a2b8d6053e4a1f7c2b9d8e6a5"
KEY = f"sk-live-{SECRET}"
DATASET = "6d0b2c7e-3a6a-4c09-9c7e-1f2d9e2d3f0a"
WINDOW = 10
"""Any run of this many characters of ``SECRET`` counts as a leak."""


def leaked_fragment(text: str) -> str | None:
    for start in range(len(SECRET) - WINDOW + 1):
        fragment = SECRET[start : start + WINDOW]
        if fragment in text:
            return fragment
    return None


# --- everything captured ------------------------------------------------------------------


class Evidence:
    """Texts gathered from every place a key could surface, each with its origin."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, origin: str, text: object) -> None:
        self.items.append((origin, text if isinstance(text, str) else repr(text)))

    def exception(self, origin: str, exc: BaseException) -> None:
        self.add(f"{origin}: traceback", "".join(traceback.format_exception(exc)))
        seen: BaseException | None = exc
        depth = 0
        while seen is not None and depth < 10:
            self.add(f"{origin}: str (chain {depth})", str(seen))
            self.add(f"{origin}: repr (chain {depth})", repr(seen))
            self.add(f"{origin}: attributes (chain {depth})", repr(vars(seen)))
            seen = seen.__cause__ or seen.__context__
            depth += 1

    def attempt(self, origin: str, call: Callable[[], object]) -> object:
        try:
            return call()
        except Exception as exc:
            self.exception(origin, exc)
            return None

    def leaks(self) -> list[str]:
        found = []
        for origin, text in self.items:
            fragment = leaked_fragment(text)
            if fragment is not None:
                at = text.index(fragment)
                found.append(f"{origin}: ...{text[max(0, at - 60) : at + 30]!r}")
        return found


def log_texts(evidence: Evidence, records: list[logging.LogRecord]) -> None:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    for record in records:
        evidence.add(f"log {record.name} {record.levelname}", formatter.format(record))
        evidence.add(f"log {record.name} args", repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            evidence.exception(f"log {record.name} exc_info", record.exc_info[1])


def echo(kind: str) -> Callable[[RecordedRequest], Reply]:
    """Replies that send the caller's Authorization header back."""

    def handler(request: RecordedRequest) -> Reply:
        auth = request.header("Authorization") or ""
        n = len(request.json()["logs"]) if request.route.endswith("/bulk/") else 1
        if kind == "json":
            return json_reply(
                401, detail=f"bad credentials: {auth}", errors={"authorization": [auth]}
            )
        if kind == "text-at-the-boundary":  # the key straddles the 200-character excerpt
            return Reply(500, "x " * 85 + auth + " end")
        if kind == "text-2xx":
            return Reply(200, "y " * 85 + auth + " end")
        if kind == "header":
            return Reply(403, {"detail": "no"}, headers={"WWW-Authenticate": f'Bearer e="{auth}"'})
        if kind == "redirect":
            target = "https://elsewhere.example/" + "p" * 150 + "?auth=" + auth.replace(" ", "+")
            return Reply(302, headers={"Location": target})
        if kind == "partial":
            return json_reply(
                201,
                success_count=n - 1,
                error_count=1,
                errors=[{"index": 0, "error": f"not allowed for {auth}"}],
            )
        if kind == "validation":
            return json_reply(422, detail="Validation error", errors={"input": [f"{auth} x"]})
        if kind == "rate":
            return json_reply(429, detail=f"slow down {auth}", retry_after=0.01)
        if kind == "busy":
            return json_reply(503, detail=f"busy {auth}")
        if kind == "too-large":
            return json_reply(413, detail=f"too large for {auth}")
        if kind == "drop":
            return Reply(drop=True)
        if kind == "stall":
            return Reply(200, {"detail": auth}, delay=2)
        raise AssertionError(kind)

    return handler


ECHOES = [
    "json",
    "text-at-the-boundary",
    "text-2xx",
    "header",
    "redirect",
    "partial",
    "validation",
    "rate",
    "busy",
    "too-large",
    "drop",
    "stall",
]


class Recorder(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[Any] = []

    def on_end(self, span: Any) -> None:
        self.spans.append(span)


def test_the_api_key_never_leaks_from_any_error_path(
    route_spans, caplog, capsys, monkeypatch, tmp_path
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(configure_module, "_latest", configure_module._latest)
    monkeypatch.delenv("RESPAN_API_KEY", raising=False)
    evidence = Evidence()
    recorder = Recorder()
    route_spans(recorder)
    with span("work", input={"question": "q"}):
        pass
    with span("named", input={"question": "q"}, dataset="leak-test"):
        pass
    spans = recorder.spans
    refused = f"http://127.0.0.1:{free_port()}"

    with FaultyServer() as server:
        # the client
        for kind in ECHOES:
            server.handler = echo(kind)
            with RespanClient(
                KEY, server.url, timeout=0.3, max_retries=1, _backoff_base=0.01
            ) as client:
                evidence.attempt(f"client {kind} get", lambda c=client: c.datasets.get("x"))
                evidence.attempt(
                    f"client {kind} bulk",
                    lambda c=client: c.datasets.logs.bulk_create(DATASET, [{"input": 1}] * 2),
                )
                evidence.add(f"client {kind} repr", repr(client))
                evidence.add(f"client {kind} vars", repr(vars(client)))
        with RespanClient(KEY, refused, timeout=0.3, max_retries=0) as client:
            evidence.attempt("client refused", lambda: client.datasets.get("x"))
        evidence.attempt("client bad url", lambda: RespanClient(KEY, "http://example.com"))
        evidence.attempt("client key with a space", lambda: RespanClient(KEY + " x"))
        evidence.attempt("client bad timeout", lambda: RespanClient(KEY, timeout=-1))

        # the exporter, one per fault (a given-up fault pauses sending for a while)
        for kind in ECHOES:
            server.handler = echo(kind)
            exporter = RespanDatasetExporter(
                api_key=KEY,
                base_url=server.url,
                dataset_id=DATASET,
                requests_per_minute=0,
                request_timeout=0.3,
                export_timeout=0.6,
                spool_dir=tmp_path / kind,
            )
            evidence.attempt(f"exporter {kind} export", lambda e=exporter: e.export(spans))
            evidence.attempt(f"exporter {kind} flush", lambda e=exporter: e.force_flush(500))
            evidence.attempt(f"exporter {kind} shutdown", lambda e=exporter: e.shutdown(500))
            evidence.add(f"exporter {kind} repr", repr(exporter))
            evidence.add(f"exporter {kind} settings", repr(exporter.settings))
            evidence.add(f"exporter {kind} vars", repr(vars(exporter)))
            evidence.add(f"exporter {kind} stats", repr(exporter.stats))
        exporter = RespanDatasetExporter(
            api_key=KEY, base_url=refused, dataset_id=DATASET, export_timeout=0.3
        )
        evidence.attempt("exporter refused", lambda: exporter.export(spans))
        for bad in ({"base_url": "http://example.com"}, {"batch_size": 0}, {"dataset_id": ""}):
            evidence.attempt(
                f"exporter {bad}", lambda b=bad: RespanDatasetExporter(api_key=KEY, **b)
            )

        # configure(): its errors, and a configured pipeline meeting the echoing server
        for bad in ({"base_url": "http://example.com"}, {"batch_size": 0}, {"dataset_id": ""}):
            evidence.attempt(
                f"configure {bad}",
                lambda b=bad: respan_otel.configure(
                    tracer_provider=TracerProvider(), api_key=KEY, **b
                ),
            )
        for kind in ("json", "partial", "text-at-the-boundary"):
            server.handler = echo(kind)
            provider = TracerProvider()
            handle = respan_otel.configure(
                tracer_provider=provider,
                api_key=KEY,
                base_url=server.url,
                requests_per_minute=0,
                export_timeout=0.5,
                shutdown_timeout=1,
            )
            tracer = provider.get_tracer("tests.security")
            for name in ("a", "b"):
                with tracer.start_as_current_span(
                    name, attributes={"respan.span.kind": "task", "respan.dataset": DATASET}
                ):
                    pass
            evidence.attempt(f"configure {kind} flush", lambda h=handle: h.flush(2))
            evidence.attempt(f"configure {kind} shutdown", handle.shutdown)
            evidence.add(f"configure {kind} handle", repr(handle))
            evidence.add(f"configure {kind} options", repr(handle.options))

        # the command line
        for kind in ("json", "text-at-the-boundary", "redirect"):
            server.handler = echo(kind)
            cli_main(["--api-key", KEY, "--base-url", server.url, "datasets", "list"])
        cli_main(["--api-key", KEY, "--base-url", "http://example.com", "datasets", "list"])
        cli_main(["--api-key", KEY, "--base-url", refused, "datasets", "list"])
        echoed = sum(r.header("Authorization") == f"Bearer {KEY}" for r in server.requests)

    # a wrong key presented to the local server
    with LocalRespan(api_key="sk-local-right") as local:
        with RespanClient(KEY, local.base_url, max_retries=0) as client:
            evidence.attempt("local server wrong key", lambda: client.datasets.list().__next__())
        evidence.add("local server repr", repr(local))

    log_texts(evidence, caplog.records)
    out, err = capsys.readouterr()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    assert len(evidence.items) > 200, "the scan saw too little to prove anything"
    assert echoed > 50, "the key was hardly ever sent, so hardly ever echoed"
    leaks = evidence.leaks()
    assert leaks == [], "the API key leaked:\n" + "\n".join(leaks)


def test_the_scanner_catches_a_partial_key():
    """The leak test is only as good as its scanner: a cut key is still a leak."""
    evidence = Evidence()
    evidence.add("cut", "detail: Bearer " + KEY[:20] + "...")
    evidence.add("clean", "Bearer ***")
    assert [origin.split(":")[0] for origin in evidence.leaks()] == ["cut"]


# --- redaction end to end -----------------------------------------------------------------

SECRETS = {
    "ssn": "111-22-3333",
    "password": "hunter2-pw",
    "account_number": "ACC-998877",
    "token": "tok-5566",
    "api_key": "pk-live-4433",
    "client_secret": "cs-2211",
}


def test_configured_redaction_keys_are_masked_end_to_end(route_spans, monkeypatch):
    """``RESPAN_REDACT_KEYS`` keys and the defaults are masked in input, output and
    metadata, at any depth, in our spans and in other instrumentations' spans, all the
    way into the log the server stores."""
    monkeypatch.setenv("RESPAN_REDACT_KEYS", "ssn,account_number")
    respan_otel._settings.set_capture_settings(None)  # read the environment afresh
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="redaction", is_empty=True)
        exporter = RespanDatasetExporter(
            api_key=server.api_key, base_url=server.base_url, dataset_id=dataset.id
        )
        route_spans(SimpleSpanProcessor(exporter))

        @trace(kind="tool", metadata={"customer": {"ssn": SECRETS["ssn"], "plan": "pro"}})
        def lookup(user: dict[str, Any], password: str, ssn: str) -> dict[str, Any]:
            update_current_span(
                metadata={"nested": [{"account_number": SECRETS["account_number"]}]}
            )
            return {
                "profile": {"name": "Ann", "ssn": SECRETS["ssn"]},
                "session": {"token": SECRETS["token"]},
            }

        with propagate(metadata={"tenant": {"name": "acme", "api_key": SECRETS["api_key"]}}):
            lookup(
                {"name": "Ann", "credentials": {"ssn": SECRETS["ssn"], "password": "hunter2-pw"}},
                SECRETS["password"],
                SECRETS["ssn"],
            )
            with span(
                "block", input=[{"deep": {"deeper": {"account_number": SECRETS["account_number"]}}}]
            ) as handle:
                handle.set_output({"list": [{"client_secret": SECRETS["client_secret"]}]})
        exporter.shutdown()
        logs = {log.metadata["span_name"]: log for log in logs_of(client, dataset.id)}

    assert set(logs) == {lookup.__qualname__, "block"}
    for name, log in logs.items():
        stored = json.dumps([log.input, log.output, log.metadata])
        for key, secret in SECRETS.items():
            assert secret not in stored, f"{key} leaked into the stored log of {name}"
        assert "[REDACTED]" in stored
    traced = logs[lookup.__qualname__]
    assert traced.input["user"]["name"] == "Ann"
    assert traced.input["user"]["credentials"] == {"ssn": "[REDACTED]", "password": "[REDACTED]"}
    assert traced.input["ssn"] == "[REDACTED]"
    assert traced.output["profile"] == {"name": "Ann", "ssn": "[REDACTED]"}
    assert traced.metadata["customer"] == {"ssn": "[REDACTED]", "plan": "pro"}
    assert traced.metadata["nested"] == [{"account_number": "[REDACTED]"}]
    assert traced.metadata["tenant"] == {"name": "acme", "api_key": "[REDACTED]"}


def test_redaction_reaches_other_instrumentations_content(route_spans, tracer, monkeypatch):
    monkeypatch.setenv("RESPAN_REDACT_KEYS", "ssn")
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="foreign-redaction", is_empty=True)
        exporter = RespanDatasetExporter(
            api_key=server.api_key, base_url=server.base_url, dataset_id=dataset.id
        )
        route_spans(SimpleSpanProcessor(exporter))
        with tracer.start_as_current_span(
            "chain",
            attributes={
                "openinference.span.kind": "CHAIN",
                "input.value": json.dumps({"form": {"ssn": SECRETS["ssn"], "name": "Ann"}}),
                "output.value": json.dumps([{"password": SECRETS["password"]}]),
                "metadata": json.dumps({"auth": {"api_key": SECRETS["api_key"]}}),
                "traceloop.association.properties.api_key": SECRETS["token"],
            },
        ):
            pass
        exporter.shutdown()
        (log,) = logs_of(client, dataset.id)
    stored = json.dumps([log.input, log.output, log.metadata])
    for key, secret in SECRETS.items():
        assert secret not in stored, f"{key} leaked from a foreign span"
    assert log.input == {"form": {"ssn": "[REDACTED]", "name": "Ann"}}


CONFIGURED_REDACTION = """
import respan_otel
from respan_otel import trace

respan_otel.configure(redact_keys=["ssn"])


@trace
def sign_up(form):
    return {"ok": True, "echo": form}


sign_up({"ssn": "111-22-3333", "password": "hunter2-pw", "api_key": "pk-live-4433"})
respan_otel.shutdown()
"""


def test_configure_redact_keys_adds_to_the_default_keys():
    """``configure(redact_keys=[...])`` masks the given keys and keeps masking the
    defaults (password, api_key...), as ``RESPAN_REDACT_KEYS`` does."""
    with local_respan() as (server, client):
        dataset = client.datasets.create(name="configured", is_empty=True)
        run(
            CONFIGURED_REDACTION,
            child_env(
                RESPAN_API_KEY=server.api_key,
                RESPAN_BASE_URL=server.base_url,
                RESPAN_DATASET_ID=dataset.id,
            ),
        ).check()
        (log,) = logs_of(client, dataset.id)
    assert log.input["form"]["ssn"] == "[REDACTED]"
    stored = json.dumps([log.input, log.output])
    assert "hunter2-pw" not in stored, "configure(redact_keys=...) dropped the default keys"
    assert "pk-live-4433" not in stored, "configure(redact_keys=...) dropped the default keys"


# --- transport ----------------------------------------------------------------------------

NOT_LOOPBACK = [
    "http://example.com",
    "HTTP://EXAMPLE.COM",
    " http://example.com/api/",
    "http://10.0.0.5:8080",
    "http://192.168.1.10",
    "http://0.0.0.0:8787",
    "http://[::ffff:127.0.0.1]:8787",
    "http://127.0.0.1.nip.io",
    "http://localhost.evil.example",
    "http://2130706433",
    "http://127.1",
    "http://[fe80::1]",
]
LOOPBACK = [
    "http://127.0.0.1:8787",
    "http://127.0.0.2",
    "http://localhost:8787/api",
    "http://LOCALHOST",
    "http://[::1]:8787",
]


@pytest.mark.parametrize("url", NOT_LOOPBACK)
def test_plain_http_to_a_host_that_is_not_loopback_is_refused(url: str, monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"base_url .*http://.*allow_insecure_http") as caught:
        RespanClient(KEY, url)
    assert leaked_fragment(str(caught.value)) is None
    with pytest.raises(ValueError, match="allow_insecure_http"):
        RespanDatasetExporter(api_key=KEY, base_url=url)
    monkeypatch.setenv("RESPAN_BASE_URL", url)
    with pytest.raises(ValueError, match="allow_insecure_http"):
        RespanClient(KEY)
    with pytest.raises(ValueError, match="allow_insecure_http"):
        RespanDatasetExporter(api_key=KEY)


@pytest.mark.parametrize("url", NOT_LOOPBACK[:3])
def test_plain_http_is_accepted_when_explicitly_allowed(url: str) -> None:
    RespanClient(KEY, url, allow_insecure_http=True).close()
    RespanDatasetExporter(api_key=KEY, base_url=url, allow_insecure_http=True).shutdown()


@pytest.mark.parametrize("url", LOOPBACK)
def test_plain_http_to_loopback_is_accepted(url: str) -> None:
    RespanClient(KEY, url).close()
    RespanDatasetExporter(api_key=KEY, base_url=url).shutdown()


def test_tls_verification_is_on_by_default() -> None:
    with RespanClient(KEY) as client:
        assert client._http._session.verify is True
        assert client._http.verify is True
    exporter = RespanDatasetExporter(api_key=KEY)
    assert exporter._client._http._session.verify is True
    exporter.shutdown()


def make_certificate(directory: Path, san: str) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=respan-otel test",
            "-addext",
            f"subjectAltName={san}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


class _Dataset(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"id": "x", "name": "tls"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"success_count": 1, "error_count": 0, "errors": []}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[[str], tuple[str, Path]]]:
    servers: list[http.server.HTTPServer] = []
    threads: list[threading.Thread] = []

    def start(san: str) -> tuple[str, Path]:
        directory = tmp_path / str(len(servers))
        directory.mkdir()
        cert, key = make_certificate(directory, san)
        server = http.server.HTTPServer(("127.0.0.1", 0), _Dataset)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
        thread.start()
        servers.append(server)
        threads.append(thread)
        return f"https://127.0.0.1:{server.server_address[1]}", cert

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
    for thread in threads:
        thread.join(5)


def without_ca_bundle_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets these variables replace a session's ``verify``; see the last test."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_an_untrusted_certificate_is_refused_by_default(tls_server, monkeypatch) -> None:
    url, cert = tls_server("IP:127.0.0.1")
    with (
        RespanClient(KEY, url, max_retries=0, timeout=5) as client,
        pytest.raises(APIConnectionError, match=r"(?i)certificate verify failed"),
    ):
        client.datasets.get("x")
    without_ca_bundle_variables(monkeypatch)
    with (
        RespanClient(KEY, url, max_retries=0, timeout=5) as client,
        pytest.raises(APIConnectionError, match=r"(?i)certificate verify failed"),
    ):
        client.datasets.get("x")
    with RespanClient(KEY, url, max_retries=0, timeout=5, verify=str(cert)) as trusting:
        assert trusting.datasets.get("x").name == "tls", "the server itself works"


def test_a_certificate_for_another_host_is_refused_even_when_trusted(
    tls_server, monkeypatch
) -> None:
    without_ca_bundle_variables(monkeypatch)
    url, cert = tls_server("DNS:api.respan.example")
    with (
        RespanClient(KEY, url, max_retries=0, timeout=5, verify=str(cert)) as client,
        pytest.raises(APIConnectionError, match=r"(?i)mismatch|match"),
    ):
        client.datasets.get("x")


def test_a_ca_bundle_given_as_verify_is_used_even_when_requests_ca_bundle_is_set(
    tls_server, monkeypatch
) -> None:
    """``RespanClient(verify=path)`` is the user's explicit choice (a private CA, a
    corporate proxy); requests' environment variables must not silently replace it."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ssl.get_default_verify_paths().openssl_cafile)
    url, cert = tls_server("IP:127.0.0.1")
    with RespanClient(KEY, url, max_retries=0, timeout=5, verify=str(cert)) as client:
        assert client.datasets.get("x").name == "tls"


def test_the_exporter_refuses_an_untrusted_certificate(tls_server, route_spans, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="respan_otel")
    url, _ = tls_server("IP:127.0.0.1")
    recorder = Recorder()
    route_spans(recorder)
    with span("tls", input={"q": 1}):
        pass
    exporter = RespanDatasetExporter(
        api_key=KEY, base_url=url, dataset_id=DATASET, export_timeout=0.5
    )
    assert exporter.export(recorder.spans).name == "FAILURE"
    assert exporter.stats.snapshot()["exported"] == 0
    assert exporter.stats.snapshot()["failed"] == 1
    assert "certificate verify failed" in caplog.text
    exporter.shutdown()


# --- the local server ---------------------------------------------------------------------


def test_the_local_server_binds_loopback_by_default() -> None:
    assert inspect.signature(LocalRespan).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    with LocalRespan() as server:
        bound = server._server.server_address[0]  # type: ignore[union-attr]
        assert bound == "127.0.0.1"
        assert server.base_url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic c2stbG9jYWwtcmlnaHQ6",
        "Token sk-local-right",
        "Bearer sk-local-righ",
        "Bearer sk-local-rightt",
        "Bearer SK-LOCAL-RIGHT",
        "Bearer sk-local-right\x00",
    ],
)
def test_the_local_server_rejects_missing_and_wrong_keys(authorization: str | None, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with LocalRespan(api_key="sk-local-right") as server:
        host, port = server.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            header = "" if authorization is None else f"Authorization: {authorization}\r\n"
            request = f"GET /api/datasets/ HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n"
            sock.sendall(request.encode("latin-1"))
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 401"), reply[:80]
    assert b"sk-local-right" not in reply
    assert "sk-local-right" not in caplog.text


def raw_exchange(base_url: str, request: bytes, *, wait: float = 3.0) -> tuple[bytes, float]:
    """Send ``request`` and read until the server closes or ``wait`` passes."""
    host, port = base_url.removeprefix("http://").split(":")
    started = time.monotonic()
    reply = b""
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                reply += chunk
                if b"\r\n\r\n" in reply and b"Connection: close" in reply:
                    break
        except TimeoutError:
            pass
    return reply, time.monotonic() - started


def test_the_local_server_bounds_request_bodies_by_default() -> None:
    with LocalRespan(api_key="sk-local-right") as server:
        reply, elapsed = raw_exchange(
            server.base_url,
            b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-local-right\r\n"
            b"Content-Type: application/json\r\nContent-Length: 40000000\r\n\r\n{",
        )
    assert reply.startswith(b"HTTP/1.1 413"), reply[:80]
    assert elapsed < 2, "the oversized body was waited for"


def test_the_local_server_bounds_headers() -> None:
    with LocalRespan(api_key="sk-local-right") as server:
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
        reply, _ = raw_exchange(
            server.base_url, b"GET /api/datasets/ HTTP/1.1\r\n" + many + b"\r\n"
        )
        assert reply.startswith(b"HTTP/1.1 431"), reply[:80]
        long_line = b"X-Long: " + b"a" * 70_000 + b"\r\n"
        reply, _ = raw_exchange(
            server.base_url, b"GET /api/datasets/ HTTP/1.1\r\n" + long_line + b"\r\n"
        )
        assert reply.startswith(b"HTTP/1.1 431"), reply[:80]


def test_the_local_server_refuses_an_unauthenticated_body_without_reading_it() -> None:
    """No key, a large declared body never sent: the 401 must come at once, not after the
    server has waited for (and buffered) up to 32 MiB from an unauthenticated client."""
    with LocalRespan(api_key="sk-local-right") as server:
        reply, elapsed = raw_exchange(
            server.base_url,
            b"POST /api/datasets/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 30000000\r\n\r\n{",
            wait=2.0,
        )
    assert reply.startswith(b"HTTP/1.1 401"), f"no 401 within {elapsed:.1f} s: {reply[:80]!r}"
