"""The login story on a Redis Cluster: three masters on this machine (redis-server in
cluster mode), the four services given a ``redis+cluster://`` URL."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from deploy.localstack import free_port
from tests.real_stack import Stack, launch, new_user

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three masters covering the 16,384 slots, no replicas."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    assert server, "redis-server comes with deploy/system-deps.sh"
    assert cli, "so does redis-cli"
    ports = [_node_port() for _ in range(3)]
    nodes = []
    for port in ports:
        workdir: Path = tmp_path_factory.mktemp(f"node{port}")
        argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
        argv += ["--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"]
        nodes.append(subprocess.Popen([*argv, "--dir", str(workdir)], stdout=subprocess.DEVNULL))
    try:
        for port in ports:
            _until(lambda p=port: _answers(p))
        masters = [f"127.0.0.1:{p}" for p in ports]
        create = [cli, "--cluster", "create", *masters, "--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True)
        _until(lambda: all(_cluster_ok(p) for p in ports))
        yield ports
    finally:
        for node in nodes:
            node.terminate()
            node.wait(10)


def _node_port() -> int:
    """A free port whose cluster bus port (10,000 higher, a Redis rule) is free too."""
    while True:
        port = free_port()
        if port + 10_000 <= 65_535 and _free(port + 10_000):
            return port


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _cluster_ok(port: int) -> bool:
    info = redis.Redis(host="127.0.0.1", port=port).execute_command("CLUSTER INFO")
    return bool(info.get("cluster_state") == "ok")


def _until(condition: object, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the cluster did not come up"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def on_cluster(
    cluster: list[int], mongodb_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    url = f"redis+cluster://127.0.0.1:{cluster[0]}/0"
    stack = launch(url, mongodb_url, tmp_path_factory.mktemp("cluster-stack"))
    try:
        yield stack
    finally:
        stack.close()


def test_the_login_story_runs_on_a_redis_cluster(on_cluster: Stack, cluster: list[int]) -> None:
    on_cluster.set_policy(user_types=["editor"])
    user = new_user()
    secret, login = on_cluster.enrolled_and_back(user)
    assert login["status"] == "code_required"
    wrong = on_cluster.submit(login["login_id"], on_cluster.wrong_code(secret))
    assert wrong.json()["error"]["attempts_left"] == 4
    assert on_cluster.submit(login["login_id"], on_cluster.code(secret)).status_code == 200
    assert on_cluster.reset(user).status_code == 200
    again = on_cluster.start_login(user, f"{user}@example.com", "editor")
    assert again["status"] == "enrollment_required"
    # The streams really are spread over the masters (one stream per key, any slot).
    holding = [p for p in cluster if redis.Redis(host="127.0.0.1", port=p).dbsize() > 0]
    assert len(holding) >= 2
