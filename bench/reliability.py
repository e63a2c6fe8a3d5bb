"""Write docs/reliability.md from the fault suite's and the soak's recorded results.

python -m bench.reliability        # after bench.faults and bench.soak (make chaos)
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.faults import table
from bench.soak import growth

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "reliability.md"

INTRO = """# Reliability: faults, and a soak

Written by `make chaos` (`python -m bench.faults --logins 500`, then
`python -m bench.soak --minutes 10`, then `python -m bench.reliability`) on {machine},
{date}. The bounded part of the fault suite (60 logins a fault, the same assertions) runs
in `make test` (`tests/e2e/test_faults.py`).

## Faults

Each fault gets a fresh stack as `make run` starts it (Redis with its append-only file,
the embedded FerretDB), with **two replicas of every service, gateways included**, and
default settings (30 s reclaim idle time, 1 s heartbeats) but one: the per-client code
limit is raised, since one client key carries every login of the run. {logins} enrolled users log
in at once, {concurrency} at a time, through both gateways, as a careful client does
(`bench/load.py`): an error is retried after 0.5 s on the other gateway; a late code
answer (504) is followed by looking at the login. A quarter of the way in, the fault
strikes; what a supervisor would restart is restarted 2 s later. Every fourth user then
starts a second login and sends the code just accepted: the replay probe.

- **lost**: logins that never signed in (each user typed a right code);
- **accepted twice**: replay probes that signed in (probes run in brackets);
- **stuck**: lost logins last seen pending, or with a code never answered;
- **longest answer**, **p99**: from starting a login to seeing it signed in;
- **errors users saw**: every failed request, by kind (retried by the client).

{faults}

## Soak

One stack as `make run` starts it (one replica of each service), 3,000 enrolled users.
Saturation, from 16 closed-loop clients for 20 s: **{saturation} logins/s**. The soak
then starts **{rate} logins/s** (half of it, open loop) for **{minutes} minutes**:
{soak_logins} logins, {soak_lost} lost, longest {soak_longest} s, p99 {soak_p99} s,
errors: {soak_errors}. Sampled every 30 s; below, the first sample past the second
minute (warm: processed entries are kept 60 s, then trimmed) against the last.

{soak}
"""


def _soak_table(figures: dict[str, Any]) -> str:
    lines = ["| measure | warm | end | growth |", "|---|---|---|---|"]
    titles = {"rss_kib": "resident memory, KiB", "stream_length": "length", "pending": "pending"}
    for kind, values in growth(figures).items():
        for name, (warm, end) in sorted(values.items()):
            change = f"{(end - warm) / warm:+.1%}" if warm else f"{end - warm:+d}"
            lines.append(f"| {titles[kind]}: {name} | {warm} | {end} | {change} |")
    return "\n".join(lines)


def render(faults: list[dict[str, Any]], soak: dict[str, Any]) -> str:
    return INTRO.format(
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        logins=faults[0]["logins"] if faults else 0,
        concurrency=faults[0]["concurrency"] if faults else 0,
        faults=table(faults),
        saturation=soak["saturation_logins_per_second"],
        rate=soak["soak_logins_per_second"],
        minutes=soak["minutes"],
        soak_logins=soak["logins"],
        soak_lost=soak["lost"],
        soak_longest=soak["longest_seconds"],
        soak_p99=soak["p99_seconds"],
        soak_errors=", ".join(f"{k} x{v}" for k, v in soak["errors"].items()) or "none",
        soak=_soak_table(soak),
    )


def main() -> None:
    faults = json.loads((RESULTS / "faults.json").read_text())
    soak = json.loads((RESULTS / "soak.json").read_text())
    DOC.write_text(render(faults, soak))
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
