"""One login is one trace: the spans of its events, in all four processes, share one
trace id; exported over OTLP/HTTP to a receiver the test runs. A batch of entries is
consumed in a span of its own, linked to each entry's (OpenTelemetry's way for
batches), and each answer is published in its own login's trace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from deploy.localstack import free_port
from tests.real_stack import Stack, launch, secret_of

pytestmark = pytest.mark.e2e


class Collector:
    """The spans an OTLP/HTTP exporter sends: (service, trace id, attributes)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, dict[str, Any]]] = []
        self.links: dict[str, set[str]] = {}  # trace id -> the trace ids its spans link to
        self._lock = threading.Lock()

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: a.value.string_value for a in span.attributes}
                    linked = {link.trace_id.hex() for link in span.links}
                    with self._lock:
                        self.spans.append((service, span.trace_id.hex(), attributes))
                        self.links.setdefault(span.trace_id.hex(), set()).update(linked)

    def of_login(self, login_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        with self._lock:
            return [
                s
                for s in self.spans
                if login_id
                in (s[2].get("messaging.message.conversation_id"), s[2].get("mfa.login_id"))
            ]


@pytest.fixture(scope="module")
def collector() -> Iterator[tuple[Collector, str]]:
    received = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.receive(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield received, f"http://127.0.0.1:{port}/v1/traces"
    server.shutdown()


@pytest.fixture(scope="module")
def traced(
    collector: tuple[Collector, str],
    redis_url: str,
    mongodb_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("traced")
    stack = launch(redis_url, mongodb_url, workdir, MFA_OTLP_TRACES_ENDPOINT=collector[1])
    try:
        stack.set_policy(user_types=["editor"])
        yield stack
    finally:
        stack.close()


def wait_for_spans(
    collector: Collector, login_id: str, services: set[str], within: float = 20
) -> list[tuple[str, str, dict[str, Any]]]:
    deadline = time.monotonic() + within
    while True:
        spans = collector.of_login(login_id)
        if {s[0] for s in spans} >= services or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def test_the_spans_of_one_login_share_one_trace_id(
    traced: Stack, collector: tuple[Collector, str]
) -> None:
    first = traced.start_login("traced-user", "traced@example.com", "editor")
    secret = secret_of(first["enrollment"]["otpauth_uri"])
    assert traced.submit(first["login_id"], traced.code(secret)).status_code == 200
    traced.next_step()
    second = traced.start_login("traced-user", "traced@example.com", "editor")
    assert traced.submit(second["login_id"], traced.code(secret)).status_code == 200

    everyone = {"mfa-gateway", "mfa-policy", "mfa-enrollment", "mfa-verification"}
    spans = wait_for_spans(collector[0], first["login_id"], everyone)
    assert {s[0] for s in spans} == everyone
    login_trace = next(s[1] for s in spans if s[0] == "mfa-gateway")
    batches = {s[1] for s in spans} - {login_trace}
    # One trace, code step included; a batch's own consume trace links into it.
    assert all(login_trace in collector[0].links.get(b, set()) for b in batches), spans
    hops = {v.rpartition(":")[2] for s in spans for k, v in s[2].items() if "destination" in k}
    # the code, sent by another request minutes later, joined the login's trace
    assert {"mfa.login.attempted", "mfa.code.submitted", "mfa.code.verified"} <= hops, hops
    other = wait_for_spans(collector[0], second["login_id"], everyone)
    other_trace = next(s[1] for s in other if s[0] == "mfa-gateway")
    assert other_trace != login_trace  # another login, another trace
    published = [s for s in other if s[2].get("messaging.operation") == "publish"]
    assert {s[1] for s in published} == {other_trace}  # every answer in its login's trace
