"""`make run` stopped the way a person stops it: Ctrl-C in its terminal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from deploy.localstack import INFRASTRUCTURE, ROOT, SERVICES, free_port

pytestmark = pytest.mark.e2e

READY = "Ctrl-C stops everything"


def test_ctrl_c_stops_the_services_first_then_the_database_and_redis(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MFA_")},
        "MFA_DATA_DIR": str(tmp_path / "data"),
        "MFA_PORT": str(free_port()),
        "MFA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # a Redis of its own
    }
    stack = subprocess.Popen(
        [sys.executable, "-m", "deploy.localstack", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's process group, with the stack at its head
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(stack.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any(READY in line for line in lines):
            assert stack.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        os.killpg(stack.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        assert stack.wait(60) == 0, "".join(lines)
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait()
    reader.join(10)
    output = "".join(lines)
    assert "Traceback" not in output, output
    assert "Application shutdown failed" not in output, output
    stopped = re.findall(r"^stopped (\S+)$", output, re.MULTILINE)
    assert set(SERVICES) <= set(stopped), output
    first_infrastructure = min(stopped.index(n) for n in INFRASTRUCTURE if n in stopped)
    assert all(stopped.index(s) < first_infrastructure for s in SERVICES), stopped
