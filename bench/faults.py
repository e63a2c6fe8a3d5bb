"""The fault suite: logins through the real stack while a fault strikes, and what users saw.

    make chaos                                        # every fault at 500 logins, the soak,
                                                      # then docs/reliability.md
    python -m bench.faults --logins 500 --only kill-verification

Each fault gets a fresh stack as `make run` starts it (Redis with its append-only file
and the embedded FerretDB on a temporary data directory, unless MONGODB_URL is set),
with two replicas of every service, gateways included; the load spreads over both
gateways. Users are enrolled through the stores (bench/population.py); they log in
with `bench/load.py`'s careful client. Once a quarter of the logins are done the fault
strikes; where a supervisor would restart what died, it restarts it after 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.load import LoginLoad, require_mfa_of_editors, summary
from bench.population import bench_stack, seed_enrolled
from deploy.localstack import SERVICES, free_port
from deploy.processes import wait_for

RESTART_AFTER = 2.0  # a supervisor's restart delay
RESULTS = Path(__file__).resolve().parent / "results"


class FaultStack:
    """A local stack with two replicas of every service."""

    def __init__(self, workdir: Path, mongodb_url: str | None = None) -> None:
        own = {"MFA_MONGODB_URL": mongodb_url} if mongodb_url else {}
        self.data_dir = workdir / "data"
        self.stack = bench_stack(workdir, "chaos", **own)
        self.gateways = [self.stack.gateway_url]

    def start(self) -> FaultStack:
        self.stack.start()
        for service in SERVICES:
            port = {"MFA_PORT": str(free_port())} if service == "gateway" else {}
            self.stack.start_service(service, replica=1, **port)
            if port:
                self.gateways.append(f"http://127.0.0.1:{port['MFA_PORT']}")
        self.stack.wait_ready()
        for url in self.gateways:
            wait_for(partial(_ready, url), 30, url, self.stack.children.values())
        return self

    def pid(self, name: str) -> int:
        return self.stack.children[name].pid

    def stop(self) -> None:
        self.stack.stop()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


Strike = Callable[[FaultStack], Awaitable[None]]


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    strike: Strike
    needs_own_database: bool = False


def kill(name: str) -> Strike:
    async def strike(chaos: FaultStack) -> None:
        chaos.stack.children[name].kill()  # SIGKILL: nothing is cleaned up
        await asyncio.sleep(RESTART_AFTER)
        await asyncio.to_thread(chaos.stack.restart, name)

    return strike


def restart_redis(keep_data: bool) -> Strike:
    async def strike(chaos: FaultStack) -> None:
        chaos.stack.children["redis"].kill()
        if not keep_data:  # as a Redis without persistence would come back: empty
            shutil.rmtree(chaos.data_dir / "redis" / "appendonlydir", ignore_errors=True)
        await asyncio.to_thread(chaos.stack.revive_infrastructure)

    return strike


async def pause_database(chaos: FaultStack) -> None:
    pid = chaos.pid("mongodb")
    os.kill(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(15)
    finally:
        os.kill(pid, signal.SIGCONT)


def _faults() -> list[Fault]:
    killed = "kill -9 of a {}, restarted 2 s later"
    return [
        *(Fault(f"kill-{s}", killed.format(f"{s} replica"), kill(s)) for s in SERVICES[:3]),
        Fault("kill-gateway", killed.format("gateway, requests waiting"), kill("gateway")),
        Fault("redis-restart-aof", "Redis killed, restarted on its AOF", restart_redis(True)),
        Fault("redis-restart-empty", "Redis killed, restarted empty", restart_redis(False)),
        Fault("database-paused-15s", "database server paused (SIGSTOP) 15 s", pause_database, True),
    ]  # fmt: skip


FAULTS = _faults()


async def run_fault(
    fault: Fault, logins: int, concurrency: int, workdir: Path, mongodb_url: str | None = None
) -> dict[str, Any]:
    chaos = await asyncio.to_thread(FaultStack(workdir, mongodb_url).start)
    try:
        await require_mfa_of_editors(chaos.gateways[0])
        secrets = await seed_enrolled(chaos.stack.env, logins, f"chaos-{uuid.uuid4().hex[:6]}")
        load = LoginLoad(chaos.gateways, secrets)
        started = time.monotonic()
        running = asyncio.create_task(load.run(list(secrets), concurrency))
        quarter = asyncio.create_task(load.until_done(logins // 4))
        await asyncio.wait([quarter, running], return_when=asyncio.FIRST_COMPLETED)
        quarter.cancel()
        struck_after = time.monotonic() - started
        await fault.strike(chaos)
        await running
        await load.close()
        return {
            "fault": fault.name,
            "what": fault.what,
            "concurrency": concurrency,
            "struck_after_seconds": round(struck_after, 1),
            "run_seconds": round(time.monotonic() - started, 1),
            **summary(load.records),
        }
    finally:
        await asyncio.to_thread(chaos.stop)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| fault | logins | lost | accepted twice (probes) | stuck | longest answer | p99 "
        "| errors users saw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        errors = ", ".join(f"{k} x{v}" for k, v in r["errors"].items()) or "none"
        lines.append(
            f"| {r['what']} | {r['logins']} | {r['lost']} | {r['accepted_twice']} "
            f"({r['replay_probes']}) | {r['stuck']} | {r['longest_seconds']} s "
            f"| {r['p99_seconds']} s | {errors} |"
        )
    return "\n".join(lines)


async def run_all(faults: list[Fault], logins: int, concurrency: int) -> list[dict[str, Any]]:
    results = []
    for fault in faults:
        with tempfile.TemporaryDirectory() as workdir:
            result = await run_fault(
                fault, logins, concurrency, Path(workdir), os.environ.get("MONGODB_URL")
            )
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--only", action="append", help="a fault's name; repeatable")
    args = parser.parse_args()
    chosen = [f for f in FAULTS if not args.only or f.name in args.only]
    if os.environ.get("MONGODB_URL"):
        chosen = [f for f in chosen if not f.needs_own_database]
    results = asyncio.run(run_all(chosen, args.logins, args.concurrency))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "faults.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
