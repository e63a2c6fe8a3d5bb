"""Fixtures every tier shares: a real Redis, a real MongoDB-compatible server, unique
namespaces.

Each test gets its own stream prefix and database prefix, so runs (and tests)
never see each other's events or documents, and nothing needs dropping.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from faststream._internal.endpoint.subscriber.supervisor import TaskCallbackSupervisor

from deploy.localstack import LocalStack, free_port, redis_answers

pytest_plugins = ["tests.real_stack"]  # the `stack` fixture of e2e and browser tests

RUN = uuid.uuid4().hex[:8]
_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _no_subscriber_restarts_in_this_process() -> Iterator[None]:
    """FastStream's supervisor restarts a subscriber task that fails; at the end of the
    tests' shared event loop, a task failing because its broker closed was restarted
    for ever, and closing the loop never ended (a 300 s timeout, seen once in CI). The
    tests' own process does without restarts; the service processes they start keep
    them (this patches this process only, no environment variable is inherited)."""
    patched = pytest.MonkeyPatch()
    patched.setattr(TaskCallbackSupervisor, "is_disabled", property(lambda _: True))
    yield
    patched.undo()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis (or MFA_TEST_REDIS_URL); failing that, a private redis-server."""
    url = os.environ.get("MFA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(url):
        yield url
        return
    stack = LocalStack(
        env={"MFA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
        log_dir=tmp_path_factory.mktemp("redis"),
    )
    stack.ensure_redis()
    try:
        yield stack.env["MFA_REDIS_URL"]
    finally:
        stack.stop()


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None or os.environ.get("MFA_TEST_NO_DOCKER"):
        return False
    try:
        return (
            subprocess.run(
                ["docker", "info"], capture_output=True, timeout=15, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def external_mongodb_url() -> Iterator[str | None]:
    """A real MongoDB when there is one: MONGODB_URL, or a container where Docker runs."""
    if os.environ.get("MONGODB_URL"):
        yield os.environ["MONGODB_URL"]
        return
    if _docker_engine_answers():
        from testcontainers.community.mongodb import MongoDbContainer  # noqa: PLC0415

        with MongoDbContainer("mongo:7.0") as mongo:
            yield mongo.get_connection_url()
        return
    yield None


@pytest.fixture(scope="session")
def mongodb_url(
    external_mongodb_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """That real MongoDB, or else the embedded store (FerretDB on SQLite) in a directory
    of this session's."""
    if external_mongodb_url is not None:
        yield external_mongodb_url
        return
    workdir = tmp_path_factory.mktemp("mongodb")
    stack = LocalStack(env={}, log_dir=workdir, data_dir=workdir)
    stack.ensure_mongodb()
    try:
        yield stack.env["MFA_MONGODB_URL"]
    finally:
        stack.stop()


@dataclass(frozen=True)
class Namespace:
    stream_prefix: str
    database_prefix: str

    def stream(self, name: str) -> str:
        return f"{self.stream_prefix}{name}"


@pytest.fixture
def namespace() -> Namespace:
    n = next(_counter)
    return Namespace(stream_prefix=f"t{RUN}.{n}:", database_prefix=f"t{RUN}_{n}_")


@pytest.fixture
def service_env(
    redis_url: str, mongodb_url: str, namespace: Namespace, tmp_path: Path
) -> dict[str, str]:
    """Settings for a service under test, as keyword arguments."""
    return {
        "redis_url": redis_url,
        "mongodb_url": mongodb_url,
        "stream_prefix": namespace.stream_prefix,
        "database_prefix": namespace.database_prefix,
        "consumer_name": f"test-{RUN}",
        "log_format": "json",
    }
