"""Child processes of a local stack: started, waited for, restarted, stopped."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1  # prctl(2)


def _own_group_ended_with_parent() -> None:
    """In the child, before exec: a process group of its own, so a terminal's Ctrl-C
    reaches only the stack, which then stops the services before Redis and the
    database; and SIGTERM when the stack itself dies, so no child outlives it."""
    os.setpgid(0, 0)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log_path: Path | None  # None: the child writes to this terminal
    serving: Callable[[], bool] = lambda: True  # whether it answers yet
    process: subprocess.Popen[bytes] | None = None
    own_group: bool = False  # see _own_group_ended_with_parent

    def start(self) -> Child:
        out: IO[bytes] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            cwd=self.cwd,
            # Only `make run`'s stack, whose main thread starts every child.
            preexec_fn=_own_group_ended_with_parent if self.own_group else None,  # noqa: PLW1509
        )
        if out is not None:
            out.close()  # the child holds its own descriptor
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None  # noqa: S101 - started before anyone asks
        return self.process.pid

    def stop(self, timeout: float = 10) -> None:
        if self.process is None or not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Die without cleaning up, as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"\n--- {self.name} ---\n" + "\n".join(tail)


def wait_for(
    probe: Callable[[], bool], timeout: float, what: str, watched: Iterable[Child] = ()
) -> None:
    """Poll ``probe`` until it holds; give up early if a watched child has exited."""
    watched = list(watched)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        dead = [c.name for c in watched if not c.running]
        if dead:
            logs = "".join(c.log_tail() for c in watched)
            raise RuntimeError(f"waiting for {what}: {', '.join(dead)} exited{logs}")
        time.sleep(0.1)
    logs = "".join(c.log_tail() for c in watched)
    raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s{logs}")
