"""The stream services' probe and metrics endpoints, over real HTTP."""

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from deploy.localstack import free_port
from shared.metrics import serve


@pytest.fixture
def ready() -> list[bool]:
    return [False]


@pytest.fixture
def base_url(ready: list[bool]) -> Iterator[str]:
    registry = CollectorRegistry()
    Counter("mfa_probe_test", "a metric to find", registry=registry).inc()
    port = free_port()
    server = serve(registry, "127.0.0.1", port, ready=lambda: ready[0])
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def test_liveness_answers_while_readiness_follows_the_service(
    base_url: str, ready: list[bool]
) -> None:
    assert httpx.get(f"{base_url}/healthz").status_code == 200
    assert httpx.get(f"{base_url}/readyz").status_code == 503
    ready[0] = True
    assert httpx.get(f"{base_url}/readyz").status_code == 200


def test_metrics_are_served_beside_the_probes(base_url: str) -> None:
    body = httpx.get(f"{base_url}/metrics").text
    assert "mfa_probe_test_total 1.0" in body
