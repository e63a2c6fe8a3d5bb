"""The fault suite, bounded: logins through a stack with two replicas of everything while
each fault strikes (bench/faults.py; `make chaos` runs it at 500 logins a fault)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.faults import FAULTS, Fault, run_fault

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOGINS = 60
QUIET = {"kill-policy", "kill-enrollment", "kill-verification"}  # users see no error at all


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_no_login_is_lost_stuck_or_accepted_twice_through(
    fault: Fault, tmp_path: Path, external_mongodb_url: str | None
) -> None:
    if fault.needs_own_database and external_mongodb_url is not None:
        pytest.skip("the database is MONGODB_URL's, not this stack's to pause")
    figures = asyncio.run(
        run_fault(fault, LOGINS, concurrency=16, workdir=tmp_path, mongodb_url=external_mongodb_url)
    )
    assert (figures["lost"], figures["stuck"], figures["accepted_twice"]) == (0, 0, 0), figures
    assert figures["authenticated"] == figures["asked_for_code"] == LOGINS  # all with a code
    assert figures["replay_probes"] >= LOGINS // 4 - 1  # the replay probes did run
    if fault.name in QUIET:
        assert figures["errors"] == {}, figures
        assert figures["longest_seconds"] < 10, figures  # no one waited for a 30 s reclaim
