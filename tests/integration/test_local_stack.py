"""The local stack (make run, the benchmarks, the test stacks) on real processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.localstack import LocalStack
from deploy.processes import free_port


def test_a_stack_that_cannot_start_stops_what_it_had_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FerretDB that could not bind its port once left the bench's Redis running."""
    stack = LocalStack(
        env={"MFA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
        log_dir=tmp_path,
        data_dir=tmp_path,
    )
    started: list[int] = []

    def no_database() -> None:
        started.append(stack.children["redis"].pid)  # Redis is up by now
        raise RuntimeError("waiting for mongodb: mongodb exited")

    monkeypatch.setattr(stack, "ensure_mongodb", no_database)
    with pytest.raises(RuntimeError, match="mongodb exited"):
        stack.start()
    assert stack.children == {}
    (redis,) = started
    assert not _running(redis)


def _running(pid: int) -> bool:
    """Alive, and not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"
