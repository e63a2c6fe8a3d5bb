"""Benchmark: complete MFA logins through the real stack (HTTP -> streams -> services).

    make bench                      # defaults below
    python -m bench.run --users 300 --concurrency 32
    python -m bench.run --enrolled 20000 --users 200   # logins among 20,000 enrolled users

Without ``--enrolled``, phase 1 enrolls every user (login, QR, confirming code) and
phase 2 waits for the next 30-second step (a fresh code for everyone) and logs every
user in again with a code. With ``--enrolled N``, N users are first enrolled through
the services' own stores (bench/population.py), and ``--users`` of them, spread over
the population, log in with a code. The stack runs as ``make run`` does (embedded
FerretDB on a temporary data directory, unless MONGODB_URL is set), without the test
clock, INFO logs written to files. Each phase reports throughput, the latency of each
HTTP step and the CPU each process spent per login. Figures go to stdout and to
bench/results/latest.json; the ones quoted in bench/README.md come from here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pyotp

from bench.population import bench_stack, sample, seed_enrolled
from deploy.localstack import LocalStack

CLIENT = {"Authorization": "Bearer dev-client-key"}
ADMIN = {"Authorization": "Bearer dev-admin-key"}
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarize(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1)

    return {
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


class Bench:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.timings: dict[str, list[float]] = {}

    async def timed(self, step: str, request: Any) -> httpx.Response:
        started = time.perf_counter()
        response = await request
        self.timings.setdefault(step, []).append(time.perf_counter() - started)
        return response  # type: ignore[no-any-return]

    async def login(self, user: str, secret: str | None) -> str:
        created = await self.timed(
            "POST /v1/logins",
            self.http.post(
                "/v1/logins",
                headers=CLIENT,
                json={"user_id": user, "email": f"{user}@example.com", "user_type": "editor"},
            ),
        )
        login_id = created.json()["login_id"]
        state = (
            await self.timed(
                "GET /v1/logins/{id}?wait",
                self.http.get(f"/v1/logins/{login_id}", params={"wait": 30}, headers=CLIENT),
            )
        ).json()
        if secret is None:
            secret = state["enrollment"]["secret"]
        code = pyotp.TOTP(secret).now()
        answer = await self.timed(
            "POST /v1/logins/{id}/code",
            self.http.post(f"/v1/logins/{login_id}/code", json={"code": code}, headers=CLIENT),
        )
        if answer.status_code != 200:
            raise RuntimeError(f"{user}: {answer.status_code} {answer.text}")
        return secret

    async def phase(
        self, users: list[str], secrets: dict[str, str | None], concurrency: int, stack: LocalStack
    ) -> dict[str, Any]:
        self.timings = {}
        pids = {name: child.pid for name, child in stack.children.items()}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        gate = asyncio.Semaphore(concurrency)

        async def one(user: str) -> None:
            async with gate:
                secrets[user] = await self.login(user, secrets[user])

        started = time.perf_counter()
        await asyncio.gather(*(one(u) for u in users))
        elapsed = time.perf_counter() - started
        cpu_ms_per_login = {
            name: round((cpu_seconds(pid) - cpu_before[name]) * 1000 / len(users), 1)
            for name, pid in pids.items()
        }
        return {
            "logins": len(users),
            "seconds": round(elapsed, 2),
            "logins_per_second": round(len(users) / elapsed, 1),
            "cpu_ms_per_login": cpu_ms_per_login,
            "cpu_ms_per_login_total": round(sum(cpu_ms_per_login.values()), 1),
            "steps": {step: summarize(s) for step, s in self.timings.items()},
        }


async def run(
    users: int, concurrency: int, stack: LocalStack, enrolled: int, repeat: int
) -> dict[str, Any]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=60, limits=httpx.Limits(max_connections=concurrency)
    ) as http:
        await http.put("/v1/admin/policy", json={"user_types": ["editor"]}, headers=ADMIN)
        bench = Bench(http)
        run_id = uuid.uuid4().hex[:8]
        figures: dict[str, Any] = {}
        if enrolled:
            started = time.perf_counter()
            population = await seed_enrolled(stack.env, enrolled, f"pop-{run_id}")
            figures["seeding_seconds"] = round(time.perf_counter() - started, 1)
            secrets = sample(population, users)
        else:
            secrets = dict.fromkeys(f"bench-{run_id}-{n}" for n in range(users))
            figures["enrollment"] = await bench.phase(list(secrets), secrets, concurrency, stack)
        rounds = []
        for _ in range(repeat):
            await asyncio.sleep(30 - time.time() % 30 + 0.5)  # the next step: fresh codes
            rounds.append(await bench.phase(list(secrets), secrets, concurrency, stack))
    # The round of median cost stands for the run; all of them are kept.
    figures["login_with_code"] = sorted(rounds, key=lambda r: r["cpu_ms_per_login_total"])[
        len(rounds) // 2
    ]
    if repeat > 1:
        figures["login_with_code_rounds"] = rounds
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--enrolled", type=int, default=0, help="first enroll this many users through the stores"
    )
    parser.add_argument("--rounds", type=int, default=1, help="login-with-code rounds to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        stack = bench_stack(Path(workdir), "bench")
        try:
            stack.start()
            figures = asyncio.run(
                run(args.users, args.concurrency, stack, args.enrolled, args.rounds)
            )
        finally:
            stack.stop()
    report = {
        "users": args.users,
        "enrolled": args.enrolled,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "mongodb": "MONGODB_URL" if "MONGODB_URL" in os.environ else "FerretDB (embedded)",
        **figures,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
