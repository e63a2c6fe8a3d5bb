"""The soak: logins at half of saturation for minutes; does anything keep growing?

    python -m bench.soak --minutes 10

One stack as `make run` starts it (one replica of each service, Redis with its
append-only file, the embedded FerretDB), 3,000 users enrolled through the stores.
First the saturation: closed-loop logins from 16 clients for 20 s give S logins/s. Then
a login starts every 2/S s (open loop: a slow stack gets more logins in flight, as in
production) for the given minutes, each by the next user in turn, so nobody signs in
twice within a 30-second step. Every 30 s: the resident memory of every process, the
length of every stream and the pending entries of every consumer group. Reported: the
sample after the second minute (warm) against the last one.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.load import LoginLoad, LoginRecord, require_mfa_of_editors, summary
from bench.population import bench_stack, seed_enrolled
from deploy.localstack import LocalStack

POPULATION = 3000
RESULTS = Path(__file__).resolve().parent / "results"


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def sample(stack: LocalStack, redis: aioredis.Redis) -> dict[str, Any]:
    prefix = stack.env["MFA_STREAM_PREFIX"]
    streams: dict[str, int] = {}
    pending: dict[str, int] = {}
    async for key in redis.scan_iter(match=f"{prefix}mfa.*", _type="STREAM"):
        name = key.decode().removeprefix(prefix)
        streams[name] = int(await redis.xlen(key))
        for group in await redis.xinfo_groups(key):
            pending[f"{name} / {group['name'].decode()}"] = int(group["pending"])
    memory = {name: resident_kib(child.pid) for name, child in stack.children.items()}
    return {"at": time.time(), "rss_kib": memory, "stream_length": streams, "pending": pending}


async def saturation(load: LoginLoad, users: list[str], seconds: float = 20) -> float:
    """Closed-loop logins from 16 clients for ``seconds``: logins per second."""
    started = time.monotonic()
    running = asyncio.create_task(load.run(users, concurrency=16, probe_every=0))
    await asyncio.sleep(seconds)
    done = load.done
    running.cancel()
    return done / (time.monotonic() - started)


async def soak(stack: LocalStack, minutes: float) -> dict[str, Any]:
    redis = aioredis.from_url(stack.env["MFA_REDIS_URL"])
    await require_mfa_of_editors(stack.gateway_url)
    secrets = await seed_enrolled(stack.env, POPULATION, f"soak-{uuid.uuid4().hex[:6]}")
    users = list(secrets)
    load = LoginLoad([stack.gateway_url], secrets)
    rate = await saturation(load, users[:1000])
    load.records.clear()
    interval = 2 / rate
    turns = itertools.cycle(users[1000:] + users[:1000])
    samples: list[dict[str, Any]] = []
    logins: set[asyncio.Task[None]] = set()
    started = time.monotonic()
    next_sample = started
    while (elapsed := time.monotonic() - started) < minutes * 60:
        if time.monotonic() >= next_sample:
            samples.append({"minute": round(elapsed / 60, 1), **await sample(stack, redis)})
            next_sample += 30
        record = LoginRecord(next(turns), started=time.monotonic())
        load.records.append(record)
        task = asyncio.create_task(load.login(record, probe=False))
        logins.add(task)
        task.add_done_callback(logins.discard)
        await asyncio.sleep(interval)
    await asyncio.gather(*logins)
    samples.append({"minute": round(minutes, 1), **await sample(stack, redis)})
    await load.close()
    await redis.aclose()
    return {
        "saturation_logins_per_second": round(rate, 1),
        "soak_logins_per_second": round(rate / 2, 1),
        "minutes": minutes,
        **summary(load.records),
        "samples": samples,
    }


def growth(figures: dict[str, Any]) -> dict[str, dict[str, tuple[int, int]]]:
    """Each measure at the first sample past two minutes (streams keep processed entries
    60 s, trimmed every 30 s), and at the end."""
    warm = next((s for s in figures["samples"] if s["minute"] >= 2), figures["samples"][0])
    last = figures["samples"][-1]
    return {
        kind: {name: (warm[kind].get(name, 0), value) for name, value in last[kind].items()}
        for kind in ("rss_kib", "stream_length", "pending")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        stack = bench_stack(Path(workdir), "soak")
        try:
            stack.start()
            figures = asyncio.run(soak(stack, args.minutes))
        finally:
            stack.stop()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps({k: v for k, v in figures.items() if k != "samples"}, indent=2))
    print(json.dumps(growth(figures), indent=2))


if __name__ == "__main__":
    main()
