"""Run the whole stack on this machine: Redis, a MongoDB-compatible server, four services.

``python -m deploy.localstack`` is what ``make run`` calls; the end-to-end and
browser tests drive the same class, so the stack they test is the stack people run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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

import redis

ROOT = Path(__file__).resolve().parent.parent
JONGODB = ROOT / "deploy/jongodb/node_modules/@jongodb/memory-server-bin-linux-x64-gnu/bin/jongodb"
SERVICES = ("policy", "enrollment", "verification", "gateway")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Die without cleaning up, as a crash would."""
        self.process.kill()
        self.process.wait()


@dataclass
class LocalStack:
    env: dict[str, str] = field(default_factory=dict)
    log_dir: Path | None = None  # None: children write to this terminal
    children: dict[str, Child] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env.get('MFA_PORT', '8000')}"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Child:
        out: IO[bytes] | None = None
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{name}.log"
            out = log_path.open("ab")
        process = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT if out else None, cwd=ROOT
        )
        child = Child(name, process, log_path)
        self.children[name] = child
        return child

    def ensure_redis(self) -> None:
        url = self.env.setdefault("MFA_REDIS_URL", "redis://127.0.0.1:6379/0")
        if redis_answers(url):
            return
        port = re.search(r":(\d+)", url.split("//", 1)[1])
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit(f"Redis does not answer at {url} and redis-server is not installed")
        self._spawn(
            "redis",
            [
                server,
                "--port",
                port.group(1) if port else "6379",
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            dict(os.environ),
        )
        self._wait(lambda: redis_answers(url), 10, "Redis")

    def ensure_mongodb(self) -> None:
        if self.env.get("MFA_MONGODB_URL") or os.environ.get("MONGODB_URL"):
            self.env.setdefault("MFA_MONGODB_URL", os.environ.get("MONGODB_URL", ""))
            return
        if not JONGODB.exists():
            raise SystemExit(f"{JONGODB} is missing: run `npm ci --prefix deploy/jongodb`")
        port = free_port()
        child = self._spawn(
            "mongodb", [str(JONGODB), "--host=127.0.0.1", f"--port={port}"], dict(os.environ)
        )
        self.env["MFA_MONGODB_URL"] = f"mongodb://127.0.0.1:{port}/"
        self._wait(lambda: _port_open(port), 20, "the MongoDB wire server", child)

    def start_service(self, service: str, replica: int = 0) -> Child:
        env = {**os.environ, **self.env}
        name = service if replica == 0 else f"{service}-{replica}"
        env.setdefault("MFA_CONSUMER_NAME", f"{socket.gethostname()}-{name}")
        env["MFA_CONSUMER_NAME"] = f"{env['MFA_CONSUMER_NAME']}-{replica}"
        return self._spawn(name, [sys.executable, "-m", f"services.{service}"], env)

    def start(self, ready_timeout: float = 60) -> None:
        self.ensure_redis()
        self.ensure_mongodb()
        for service in SERVICES:
            self.start_service(service)
        self.wait_ready(ready_timeout)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.gateway_url}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60) -> None:
        self._wait(self.ready, timeout, "the stack to be ready")

    def _wait(self, probe: object, timeout: float, what: str, child: Child | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(probe) and probe():
                return
            dead = [c.name for c in self.children.values() if c.process.poll() is not None]
            if dead:
                raise RuntimeError(f"waiting for {what}: {', '.join(dead)} exited{self.logs()}")
            time.sleep(0.2)
        raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s{self.logs()}")

    def logs(self) -> str:
        parts = []
        for child in self.children.values():
            if child.log_path and child.log_path.exists():
                tail = child.log_path.read_text(errors="replace").splitlines()[-40:]
                parts.append(f"\n--- {child.name} ---\n" + "\n".join(tail))
        return "".join(parts)

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()
        self.children.clear()


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


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
        [sys.executable, "-m", "services.gateway.users", "seed-demo"], env=env, cwd=ROOT, check=True
    )
    url = f"{stack.gateway_url}/v1/admin/policy"
    with contextlib.suppress(OSError):  # configured keys: leave the policy to its admins
        if _admin_call(url)["version"] == 0:
            _admin_call(url, {"user_types": ["editor", "admin"]})


def main() -> None:
    from services.gateway.directory import DEMO_USERS  # noqa: PLC0415 - only for the banner

    stack = LocalStack(env={k: v for k, v in os.environ.items() if k.startswith("MFA_")})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        stack.start()
        seed_demo(stack)
        users = "\n".join(f"    {u.email:<26} {u.password:<22} {u.user_type}" for u in DEMO_USERS)
        print(
            f"\nImageshop MFA is up: {stack.gateway_url}\n"
            f"  Sign in at {stack.gateway_url}/ (admin console: /admin) as:\n{users}\n"
            "  Policy: editors and admins need an authenticator; viewers do not.\n"
            "  API keys: client=dev-client-key admin=dev-admin-key (unless configured)\n"
            f"  MongoDB: {stack.env['MFA_MONGODB_URL']}  Redis: {stack.env['MFA_REDIS_URL']}\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(c.process.poll() is None for c in stack.children.values()):
            time.sleep(0.5)
        print("a process exited; stopping the stack", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
