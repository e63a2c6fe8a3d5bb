"""Run the whole stack on this machine: Redis, an embedded MongoDB, four services.

``python -m deploy.localstack`` is what ``make run`` calls; the end-to-end and
browser tests drive the same class, so the stack they test is the stack people run.

Everything the stack keeps lives in one data directory (``MFA_DATA_DIR``, default
``.data/``): FerretDB's SQLite files in ``mongo/`` and, when the stack starts Redis
itself, Redis's append-only file in ``redis/``. Both survive a stop, and a Redis or
FerretDB that exits while the stack runs is started again on the same data.
``make wipe-data`` deletes the directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlparse, urlunparse

import redis

from deploy import ferretdb
from deploy.processes import Child, free_port, port_open, wait_for
from deploy.redis_acl import acl_file
from shared.redis_connection import is_cluster, node_url

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("policy", "enrollment", "verification", "gateway")
INFRASTRUCTURE = ("redis", "mongodb")
# make run's stream services answer /metrics on these ports, printed in its banner;
# MFA_RUN_METRICS_PORTS=policy,enrollment,verification (three numbers) moves them.
METRICS_PORTS = {"policy": 9101, "enrollment": 9102, "verification": 9103}


def metrics_ports() -> dict[str, int]:
    chosen = os.environ.get("MFA_RUN_METRICS_PORTS")
    if not chosen:
        return dict(METRICS_PORTS)
    ports = [int(p) for p in chosen.split(",")]
    if len(ports) != len(METRICS_PORTS):
        raise SystemExit("MFA_RUN_METRICS_PORTS: three ports, for policy,enrollment,verification")
    return dict(zip(METRICS_PORTS, ports, strict=True))


MAX_REPLICAS = 8


def replica_counts(chosen: str | None) -> dict[str, int]:
    """MFA_REPLICAS, e.g. ``verification=3,enrollment=2``: how many processes of each
    service make run starts (1 of each otherwise). Gateway replicas listen on the ports
    after MFA_PORT; the stream services' replicas share their consumer groups."""
    counts = dict.fromkeys(SERVICES, 1)
    for part in filter(None, (chosen or "").replace(" ", "").split(",")):
        service, _, number = part.partition("=")
        if service not in counts or not number.isdigit() or not 1 <= int(number) <= MAX_REPLICAS:
            raise SystemExit(
                f"MFA_REPLICAS: {part!r} is not service=count (services: {', '.join(SERVICES)};"
                f" 1 to {MAX_REPLICAS} each), e.g. MFA_REPLICAS=verification=3"
            )
        counts[service] = int(number)
    return counts


__all__ = ["ROOT", "LocalStack", "free_port", "redis_answers", "replica_counts"]


def with_credentials(url: str, user: str, password: str) -> str:
    parts = urlparse(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}"
    return urlunparse(parts._replace(netloc=f"{netloc}:{parts.port or 6379}"))


def without_credentials(url: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(netloc=f"{parts.hostname}:{parts.port or 6379}"))


def redis_answers(url: str) -> bool:
    try:
        if is_cluster(url):
            return bool(redis.RedisCluster.from_url(node_url(url)).ping())
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@dataclass
class LocalStack:
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None  # None: children write to this terminal
    data_dir: Path | None = None  # None: Redis keeps nothing; no embedded MongoDB
    children: dict[str, Child] = field(default_factory=dict)
    redis_users: dict[str, str] = field(default_factory=dict)  # service -> its own Redis URL
    database_metrics_port: int | None = None  # the embedded FerretDB's /debug/metrics
    own_process_groups: bool = False  # children ignore the terminal's Ctrl-C (make run)
    metrics_ports: dict[str, int] = field(default_factory=dict)  # stream service -> port
    replicas: dict[str, int] = field(default_factory=dict)  # service -> processes (MFA_REPLICAS)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env.get('MFA_PORT', '8000')}"

    def _spawn(self, child: Child) -> Child:
        self.children[child.name] = child.start()
        wait_for(child.serving, 30, child.name, self.children.values())
        return child

    def _child(self, name: str, argv: list[str], env: dict[str, str], **kw: object) -> Child:
        log_path = self.log_dir / f"{name}.log" if self.log_dir else None
        kw.setdefault("own_group", self.own_process_groups)
        return Child(name, argv, env, ROOT, log_path, **kw)  # type: ignore[arg-type]

    def _data(self, part: str) -> Path:
        if self.data_dir is None:
            raise ValueError(f"{part}: this stack has no data directory")
        path = self.data_dir / part
        path.mkdir(parents=True, exist_ok=True)
        return path

    def ensure_redis(self) -> None:
        """Use the Redis at MFA_REDIS_URL; if none answers, start one there."""
        url = self.env.setdefault("MFA_REDIS_URL", "redis://127.0.0.1:6379/0")
        if redis_answers(url):
            return
        if is_cluster(url):
            raise SystemExit(f"no Redis Cluster answers at {without_credentials(url)}")
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit(f"Redis does not answer at {url} and redis-server is not installed")
        argv = [server, "--port", str(urlparse(url).port or 6379), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--loglevel", "warning"]  # the append-only file is the record
        if self.data_dir is None:
            argv += ["--appendonly", "no"]
        else:
            directory = self._data("redis")
            argv += ["--dir", str(directory), "--appendonly", "yes", "--appendfsync", "everysec"]
            argv += ["--aclfile", str(self._redis_users(directory, url))]
            url = self.env["MFA_REDIS_URL"]
        answers = lambda: redis_answers(url)  # noqa: E731
        self._spawn(self._child("redis", argv, dict(os.environ), serving=answers))

    def _redis_users(self, directory: Path, url: str) -> Path:
        """A Redis user per service, allowed only its own streams and keys (the ACL file
        is rewritten, with new passwords, at every start); the stack itself is admin."""
        passwords = {service: secrets.token_urlsafe(24) for service in SERVICES}
        admin = secrets.token_urlsafe(24)
        acl = directory / "users.acl"
        acl.touch(mode=0o600)
        acl.write_text(acl_file(passwords, admin, self.env.get("MFA_STREAM_PREFIX", "")))
        self.env["MFA_REDIS_URL"] = with_credentials(url, "default", admin)
        self.redis_users = {s: with_credentials(url, s, pw) for s, pw in passwords.items()}
        return acl

    def ensure_mongodb(self) -> None:
        """Use MFA_MONGODB_URL or MONGODB_URL; otherwise start FerretDB on the data directory."""
        configured = self.env.get("MFA_MONGODB_URL") or os.environ.get("MONGODB_URL")
        if configured:
            self.env["MFA_MONGODB_URL"] = configured
            return
        if not ferretdb.BINARY.exists():
            raise SystemExit("FerretDB is not built yet: run `make deps`")
        port = free_port()
        argv = ferretdb.server_command(self._data("mongo"), port, self.database_metrics_port)
        env = {**ferretdb.SERVER_ENV, **os.environ}
        self._spawn(self._child("mongodb", argv, env, serving=lambda: port_open(port)))
        self.env["MFA_MONGODB_URL"] = f"mongodb://127.0.0.1:{port}/"

    def start_service(self, service: str, replica: int = 0, **env_overrides: str) -> Child:
        own_user = (
            {"MFA_REDIS_URL": self.redis_users[service]} if service in self.redis_users else {}
        )
        metrics = self.metrics_ports.get(service) if replica == 0 else None
        exposed = {"MFA_METRICS_PORT": str(metrics)} if metrics else {}
        env = {**os.environ, **self.env, **own_user, **exposed, **env_overrides}
        name = service if replica == 0 else f"{service}-{replica}"
        env.setdefault("MFA_CONSUMER_NAME", f"{socket.gethostname()}-{name}")
        env["MFA_CONSUMER_NAME"] = f"{env['MFA_CONSUMER_NAME']}-{replica}"
        argv = [sys.executable, "-m", f"services.{service}"]
        return self._spawn(self._child(name, argv, env))

    def start(self, ready_timeout: float = 60) -> None:
        """Start everything; if any part fails, stop what had started (no Redis is left
        running behind a FerretDB that could not bind its port) and raise."""
        try:
            self.ensure_redis()
            self.ensure_mongodb()
            for service in SERVICES:
                for replica in range(self.replicas.get(service, 1)):
                    self.start_service(service, replica, **self._replica_port(service, replica))
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _replica_port(self, service: str, replica: int) -> dict[str, str]:
        """A gateway replica's own port: the ones after MFA_PORT."""
        if service != "gateway" or replica == 0:
            return {}
        return {"MFA_PORT": str(int(self.env.get("MFA_PORT", "8000")) + replica)}

    def service_children(self) -> list[str]:
        """The services' processes, replicas included (gateway, gateway-1, ...)."""
        return [n for n in self.children if n.partition("-")[0] in SERVICES]

    def restart(self, name: str) -> None:
        """Stop a child and start it again as it was: same command, port and data."""
        child = self.children[name]
        child.stop()
        self._spawn(child)

    def revive_infrastructure(self) -> list[str]:
        """Start Redis or FerretDB again if it has exited; returns what was revived."""
        infrastructure = [self.children[n] for n in INFRASTRUCTURE if n in self.children]
        revived = [child for child in infrastructure if not child.running]
        for child in revived:
            self._spawn(child)
        return [child.name for child in revived]

    def ready(self) -> bool:
        """The gateway is ready and every service it sends to has a live replica."""
        try:
            with urllib.request.urlopen(f"{self.gateway_url}/readyz", timeout=2) as response:
                health = json.load(response)
        except (OSError, ValueError):
            return False
        return health.get("status") == "ready" and all(health.get("downstream", {}).values())

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(self.ready, timeout, "the stack to be ready", self.children.values())

    def logs(self) -> str:
        return "".join(child.log_tail() for child in self.children.values())

    def stop(self, say: bool = False) -> None:
        """Stop the services first (newest first), then the database and Redis they use."""
        for child in reversed(list(self.children.values())):
            child.stop()
            if say:
                print(f"stopped {child.name}", file=sys.stderr, flush=True)
        self.children.clear()


def _admin_call(url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        method="PUT" if body else "GET",
        data=json.dumps(body).encode() if body else None,
        headers={"Authorization": "Bearer dev-admin-key", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return dict(json.load(response))


def seed_demo(stack: LocalStack) -> None:
    """Demo users for the sign-in page, and a first policy if none was ever set."""
    env = {**os.environ, **stack.env}
    subprocess.run(
        [sys.executable, "-m", "services.gateway.cli.users", "seed-demo"],
        env=env,
        cwd=ROOT,
        check=True,
    )
    url = f"{stack.gateway_url}/v1/admin/policy"
    try:  # configured keys: leave the policy to its admins
        if _admin_call(url)["version"] == 0:
            _admin_call(url, {"user_types": ["editor", "admin"]})
    except OSError:
        pass


def data_dir() -> Path:
    return Path(os.environ.get("MFA_DATA_DIR") or ROOT / ".data").resolve()


def hold(directory: Path) -> IO[str]:
    """Lock the data directory for as long as the returned file stays open."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = (directory / ".lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another stack is running on {directory}: stop it first") from None
    return lock


def banner(stack: LocalStack, directory: Path) -> str:
    from services.gateway.web.directory import DEMO_USERS  # noqa: PLC0415 - only for the banner

    users = "\n".join(f"    {u.email:<26} {u.password:<22} {u.user_type}" for u in DEMO_USERS)
    mongo = "FerretDB on SQLite in mongo/" if "mongodb" in stack.children else "MONGODB_URL"
    scrapes = ", ".join(
        f"{name} http://127.0.0.1:{port}/metrics" for name, port in stack.metrics_ports.items()
    )
    replicas = ", ".join(f"{n} {s}" for s, n in stack.replicas.items()) or "one of each"
    extra_gateways = stack.replicas.get("gateway", 1) - 1
    if extra_gateways:
        port = int(stack.env.get("MFA_PORT", "8000"))
        replicas += f" (gateways on ports {port} to {port + extra_gateways})"
    redis_data = (
        "append-only file in redis/, a user per service (users.acl)"
        if "redis" in stack.children
        else "its own"
    )
    return (
        f"\nImageshop MFA is up: {stack.gateway_url}\n"
        f"  Sign in at {stack.gateway_url}/ (admin console: /admin) as:\n{users}\n"
        f"  Passkeys work at {stack.gateway_url.replace('127.0.0.1', 'localhost')}/"
        " (an RP ID is a name, never an IP address)\n"
        "  Policy: editors and admins need an authenticator; viewers do not (until changed).\n"
        "  Organization 'default' (the demo), unless keys are configured: client key\n"
        "  dev-client-key, admin key dev-admin-key; operator key dev-operator-key creates\n"
        "  organizations and their keys (python -m services.gateway.cli.operator --help)\n"
        f"  Metrics (Prometheus): {stack.gateway_url}/metrics with the operator key;"
        f" {scrapes}\n"
        f"  MongoDB: {stack.env['MFA_MONGODB_URL']}  "
        f"Redis: {without_credentials(stack.env['MFA_REDIS_URL'])}\n"
        f"  Processes: {replicas} (MFA_REPLICAS=verification=3 starts more)\n"
        f"  Data kept in {directory} (MongoDB: {mongo}; Redis: {redis_data});\n"
        "  it survives restarts. `make wipe-data` deletes it.\n"
        "  Ctrl-C stops everything.\n"
    )


def with_demo_passkeys(env: dict[str, str]) -> dict[str, str]:
    """Passkeys on the development stack, at http://localhost:<port> (an RP ID is a
    domain, never 127.0.0.1), unless the environment names a relying party."""
    port = env.get("MFA_PORT", "8000")
    return {
        "MFA_WEBAUTHN_RP_ID": "localhost",
        "MFA_WEBAUTHN_ORIGINS": json.dumps([f"http://localhost:{port}"]),
        **env,
    }


def run() -> None:
    directory = data_dir()
    lock = hold(directory)
    stack = LocalStack(
        env=with_demo_passkeys({k: v for k, v in os.environ.items() if k.startswith("MFA_")}),
        data_dir=directory,
        own_process_groups=True,
        metrics_ports=metrics_ports(),
        replicas=replica_counts(os.environ.get("MFA_REPLICAS")),
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stack.start()
        seed_demo(stack)
        print(banner(stack, directory), flush=True)
        while True:
            time.sleep(0.5)
            for name in stack.revive_infrastructure():
                print(f"{name} had stopped: started it again on the same data", file=sys.stderr)
            exited = [n for n in stack.service_children() if not stack.children[n].running]
            if exited:
                print(f"{', '.join(exited)} exited; stopping the stack", file=sys.stderr)
                return
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: the stop goes on
        stack.stop(say=True)
        lock.close()


def wipe() -> None:
    directory = data_dir()
    with hold(directory):
        shutil.rmtree(directory)
    print(f"deleted {directory}")


def main() -> None:
    commands = {"run": run, "wipe": wipe}
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    if command not in commands:
        raise SystemExit("usage: python -m deploy.localstack [run|wipe]")
    commands[command]()


if __name__ == "__main__":
    main()
