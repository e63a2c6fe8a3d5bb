"""privacyIDEA against this project, on this machine, in one run, with one client.

    make bench-compare
    python -m bench.compare --concurrency 16 --warmup 5 --duration 20

First privacyIDEA (bench/privacyidea.py): gunicorn with 2 workers on SQLite, TOTP
tokens enrolled through its REST API; the operation is a valid ``/validate/check``.
Then this project's stack as ``make run`` starts it (bench/population.py: embedded
FerretDB with its metrics listener, Redis), users enrolled through the stores; the
operation is a full MFA login: create it, wait for the code step, send the code; then,
on a fresh stack, the one-request login (POST /v1/logins with the code and a wait).
Both are driven by bench/closedloop.py. The report gives both rates, latency
percentiles, the ratio, CPU per operation by process and, for this project, database
requests per login by command (from FerretDB's own counters) and each step's latency
at half of its saturation rate (an open loop after the closed one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.closedloop import FreshCodes, LoopFigures, closed_loop, open_loop
from bench.load import CLIENT, require_mfa_of_editors
from bench.population import bench_stack, seed_enrolled
from bench.privacyidea import VERSION, WORKERS, PrivacyIdea
from deploy.processes import free_port

RESULTS = Path(__file__).resolve().parent / "results"
SERVICES = ("gateway", "policy", "enrollment", "verification")
_REQUESTS = re.compile(r'^ferretdb_client_requests_total\{command="(\w+)",opcode="OP_MSG"\} (\S+)$')


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pids: Mapping[str, int]) -> Callable[[], dict[str, float]]:
    return lambda: {f"cpu:{name}": cpu_seconds(pid) for name, pid in pids.items()}


def database_requests(metrics_url: str) -> dict[str, float]:
    """FerretDB's requests so far, by command (hello and its kin included)."""
    text = httpx.get(metrics_url, timeout=10).text
    found = (_REQUESTS.match(line) for line in text.splitlines())
    return {f"db:{m[1]}": float(m[2]) for m in found if m}


def per_operation(figures: LoopFigures) -> dict[str, Any]:
    """CPU milliseconds and database requests per completed operation."""
    done = max(figures.completed, 1)
    cpu = {
        key.removeprefix("cpu:"): round(value * 1000 / done, 2)
        for key, value in sorted(figures.counters.items())
        if key.startswith("cpu:")
    }
    requests = {
        key.removeprefix("db:"): round(value / done, 2)
        for key, value in sorted(figures.counters.items(), key=lambda kv: -kv[1])
        if key.startswith("db:") and value
    }
    return {"cpu_ms": cpu, "database_requests": requests}


async def measure_privacyidea(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = PrivacyIdea(workdir / "privacyidea")
    server.start()
    try:
        codes = FreshCodes(await server.enroll(args.tokens))
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=_limits(args)) as http:

            async def check() -> None:
                serial, code = await codes.take()
                answer = await http.post("/validate/check", data={"serial": serial, "pass": code})
                if answer.json()["result"].get("value") is not True:
                    raise RuntimeError(f"not accepted: {answer.text[:200]}")

            figures = await _loop(check, args, cpu_of(server.pids()))
    finally:
        server.stop()
    return {
        "system": f"privacyIDEA {VERSION}, gunicorn {WORKERS} workers, SQLite",
        "operation": "valid /validate/check",
        **figures.report(),
        "pool_waits": codes.waits,
        **per_operation(figures),
    }


async def measure_stack(
    workdir: Path, args: argparse.Namespace, one_request: bool = False
) -> dict[str, Any]:
    """This project on a stack of its own: the three-step login (with the code step at
    half of saturation), or the one-request login. Each mode gets a fresh stack, so
    neither pays for the other's logins in the collections."""
    stack = bench_stack(workdir / ("stack-one" if one_request else "stack"), "compare")
    external = "MONGODB_URL" in os.environ
    if not external:
        stack.database_metrics_port = free_port()
    stack.start()
    try:
        await require_mfa_of_editors(stack.gateway_url)
        codes = FreshCodes(await seed_enrolled(stack.env, args.users, "compare"))
        pids = {name: child.pid for name, child in stack.children.items()}
        metrics = f"http://127.0.0.1:{stack.database_metrics_port}/debug/metrics"

        def snapshot() -> dict[str, float]:
            return cpu_of(pids)() | ({} if external else database_requests(metrics))

        async with httpx.AsyncClient(
            base_url=stack.gateway_url, headers=CLIENT, timeout=60, limits=_limits(args)
        ) as http:
            steps: dict[str, list[float]] = {}

            async def timed(step: str, request: Awaitable[httpx.Response]) -> httpx.Response:
                started = time.perf_counter()
                response = await request
                steps.setdefault(step, []).append(time.perf_counter() - started)
                return response

            async def login() -> None:
                user, code = await codes.take()
                body = {"user_id": user, "email": f"{user}@example.com", "user_type": "editor"}
                created = await timed("create", http.post("/v1/logins", json=body))
                path = f"/v1/logins/{created.raise_for_status().json()['login_id']}"
                state = await timed("wait", http.get(path, params={"wait": 30}))
                if (status := state.raise_for_status().json()["status"]) != "code_required":
                    raise RuntimeError(f"login {status}, not asking for a code")
                answer = await timed("code", http.post(f"{path}/code", json={"code": code}))
                if answer.status_code != 200:
                    raise RuntimeError(f"code answered {answer.status_code}: {answer.text[:200]}")

            async def one_request_login() -> None:
                user, code = await codes.take()
                body = {
                    "user_id": user,
                    "email": f"{user}@example.com",
                    "user_type": "editor",
                    "code": code,
                    "wait": 30,
                }
                answer = await timed("one_request", http.post("/v1/logins", json=body))
                if answer.status_code != 201 or answer.json()["status"] != "authenticated":
                    raise RuntimeError(f"answered {answer.status_code}: {answer.text[:200]}")

            figures = await _loop(one_request_login if one_request else login, args, snapshot)
            at_half_report: dict[str, Any] = {}
            if not one_request:
                # Then half of that rate, arriving as independent users: the code step's
                # latency when the stack is not saturated.
                half = figures.per_second / 2
                await asyncio.sleep(args.settle)  # the saturated phase's after-effects pass
                steps.clear()
                at_half = await open_loop(login, half, args.warmup, args.duration)
                at_half_report = {
                    "at_half_saturation": {
                        "per_second_offered": round(half, 1),
                        **at_half.report(),
                        "steps": {
                            step: LoopFigures(0, 0, latencies=times).percentiles()
                            for step, times in steps.items()
                        },
                    }
                }
    finally:
        stack.stop()
    costs = per_operation(figures)
    services = sum(costs["cpu_ms"].get(name, 0.0) for name in SERVICES)
    return {
        "system": "this project: 4 services, Redis, "
        + ("MongoDB at MONGODB_URL" if external else "FerretDB (embedded)"),
        "operation": "one-request login (POST /v1/logins with code and wait)"
        if one_request
        else "full MFA login (create, wait, code)",
        **figures.report(),
        "pool_waits": codes.waits,
        "cpu_ms_four_services": round(services, 2),
        **costs,
        **at_half_report,
    }


async def measure_both(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    three_step = await measure_stack(workdir, args)
    return {**three_step, "one_request": await measure_stack(workdir, args, one_request=True)}


def _limits(args: argparse.Namespace) -> httpx.Limits:
    in_flight = args.concurrency
    return httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)


async def _loop(
    operation: Callable[[], Awaitable[None]],
    args: argparse.Namespace,
    snapshot: Callable[[], dict[str, float]],
) -> LoopFigures:
    return await closed_loop(operation, args.concurrency, args.warmup, args.duration, snapshot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--warmup", type=float, default=5, help="seconds not counted")
    parser.add_argument("--duration", type=float, default=20, help="seconds counted")
    parser.add_argument("--settle", type=float, default=10, help="quiet seconds between phases")
    parser.add_argument(
        "--tokens", type=int, default=1200, help="privacyIDEA tokens (enough for 25 s at 40/s)"
    )
    parser.add_argument("--users", type=int, default=3000, help="this project's users enrolled")
    parser.add_argument(
        "--only-this-project", action="store_true", help="skip privacyIDEA (profiling runs)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        if args.only_this_project:
            print(json.dumps(asyncio.run(measure_both(Path(workdir), args)), indent=2))
            return
        theirs = asyncio.run(measure_privacyidea(Path(workdir), args))
        ours = asyncio.run(measure_both(Path(workdir), args))
    report = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "concurrency": args.concurrency,
        "warmup_seconds": args.warmup,
        "duration_seconds": args.duration,
        "privacyidea": theirs,
        "this_project": ours,
        "ratio": round(ours["per_second"] / max(theirs["per_second"], 1e-9), 2),
        "ratio_one_request": round(
            ours["one_request"]["per_second"] / max(theirs["per_second"], 1e-9), 2
        ),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    for side in (theirs, ours):
        print(
            f"{side['system']}: {side['per_second']} {side['operation']}/s, "
            f"p50/p95/p99 {side['p50_ms']}/{side['p95_ms']}/{side['p99_ms']} ms"
        )
    half = ours["at_half_saturation"]
    code = half["steps"].get("code", {})
    print(
        f"code step at half of saturation ({half['per_second_offered']}/s offered): "
        f"p50/p99 {code.get('p50_ms')}/{code.get('p99_ms')} ms"
    )
    print(
        f"CPU ms per login, four services: {ours['cpu_ms_four_services']}; "
        f"database requests per login: {sum(ours['database_requests'].values()):.1f}"
    )
    one = ours["one_request"]
    print(
        f"one-request logins/s: {one['per_second']} (p50/p99 {one['p50_ms']}/{one['p99_ms']} ms);"
        f" CPU ms, four services: {one['cpu_ms_four_services']}; database requests: "
        f"{sum(one['database_requests'].values()):.1f}"
    )
    print(f"ratio, three-step: {report['ratio']}; one-request: {report['ratio_one_request']}")
    for side in (theirs, ours):
        if side["pool_waits"]:  # the client waited for fresh codes: the rate is the pool's
            print(f"WARNING: {side['system']} ran out of fresh codes; raise --tokens/--users")


if __name__ == "__main__":
    main()
