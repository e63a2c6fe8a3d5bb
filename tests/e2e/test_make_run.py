"""`make run` as a person runs it: what it opens to an operator, and stopped with Ctrl-C
in its terminal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from deploy.localstack import INFRASTRUCTURE, METRICS_PORTS, ROOT, SERVICES, free_port

# Ports of its own, so that a developer's `make run` next to it is never scraped instead.
PORTS = dict(zip(METRICS_PORTS, (free_port() for _ in METRICS_PORTS), strict=True))

pytestmark = pytest.mark.e2e

READY = "Ctrl-C stops everything"


@dataclass
class Running:
    process: subprocess.Popen[str]
    gateway: str
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture(scope="module")
def made_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MFA_")},
        "MFA_DATA_DIR": str(tmp_path_factory.mktemp("make-run") / "data"),
        "MFA_PORT": str(port),
        "MFA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # a Redis of its own
        "MFA_RUN_METRICS_PORTS": ",".join(str(p) for p in PORTS.values()),
        "MFA_REPLICAS": "verification=2",  # ops scale one service locally
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "deploy.localstack", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's process group, with the stack at its head
    )
    running = Running(process, f"http://127.0.0.1:{port}")
    threading.Thread(target=lambda: running.lines.extend(process.stdout or []), daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        while not any(READY in line for line in running.lines):
            assert process.poll() is None, running.output
            assert time.monotonic() < deadline, running.output
            time.sleep(0.2)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_each_service_shows_http_and_process_metrics_and_no_created_series(
    made_run: Running,
) -> None:
    operator = {
        "Authorization": "Bearer dev-operator-key",
        "Accept": "application/openmetrics-text",
    }
    httpx.get(f"{made_run.gateway}/healthz")  # one request to count
    gateway = httpx.get(f"{made_run.gateway}/metrics", headers=operator)
    assert gateway.headers["content-type"].startswith("application/openmetrics-text")
    assert 'mfa_http_requests_total{method="GET",route="/healthz",status="200"}' in gateway.text
    assert "mfa_http_request_duration_seconds_bucket" in gateway.text
    scrapes = {"gateway": gateway.text}
    for service, port in PORTS.items():
        assert f"{service} http://127.0.0.1:{port}/metrics" in made_run.output  # the banner
        scrapes[service] = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    for service, text in scrapes.items():
        assert "process_cpu_seconds_total" in text, service
        assert "process_resident_memory_bytes" in text, service
        assert "_created" not in text, service


def test_mfa_replicas_starts_more_verification_processes_the_gateway_counts(
    made_run: Running,
) -> None:
    assert "2 verification" in made_run.output  # the banner
    operator = {"Authorization": "Bearer dev-operator-key"}
    deadline = time.monotonic() + 30
    while True:  # each replica's heartbeat reaches the gateway
        metrics = httpx.get(f"{made_run.gateway}/metrics", headers=operator).text
        if 'mfa_downstream_replicas{service="verification"} 2.0' in metrics:
            break
        assert time.monotonic() < deadline, metrics
        time.sleep(0.5)


def test_ctrl_c_stops_the_services_first_then_the_database_and_redis(made_run: Running) -> None:
    os.killpg(made_run.process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    assert made_run.process.wait(60) == 0, made_run.output
    time.sleep(0.5)  # the last lines reach the reader
    output = made_run.output
    assert "Traceback" not in output, output
    assert "Application shutdown failed" not in output, output
    stopped = re.findall(r"^stopped (\S+)$", output, re.MULTILINE)
    assert {*SERVICES, "verification-1"} <= set(stopped), output
    first_infrastructure = min(stopped.index(n) for n in INFRASTRUCTURE if n in stopped)
    assert all(stopped.index(s) < first_infrastructure for s in SERVICES), stopped
