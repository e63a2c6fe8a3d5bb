"""The dead-letter stream, for operators: what no service could read, and what to do.

    python -m deploy.deadletter list                 # id, time, stream, error
    python -m deploy.deadletter show ID              # one letter, whole
    python -m deploy.deadletter replay ID [...]      # back onto its stream, as it was
    python -m deploy.deadletter purge ID [...] | --all

Only entries whose payload could not be read land there (a failing handler retries
instead). Replay after the fix: a consumer that now understands the payload (a newer
release) reads it like any other entry. Reads MFA_REDIS_URL (an admin's) and
MFA_STREAM_PREFIX.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from typing import Any

import redis
from faststream.redis.parser import BinaryMessageFormatV1

from shared import streams
from shared.events import DeadLettered


def letters(client: redis.Redis, prefix: str) -> list[tuple[str, DeadLettered]]:
    found = []
    for entry_id, fields in client.xrange(prefix + streams.DEAD_LETTER):
        body, _headers = BinaryMessageFormatV1.parse(fields[b"__data__"])
        found.append((entry_id.decode(), DeadLettered.model_validate_json(body)))
    return found


def letter(client: redis.Redis, prefix: str, entry_id: str) -> DeadLettered:
    for found_id, found in letters(client, prefix):
        if found_id == entry_id:
            return found
    raise SystemExit(f"no letter {entry_id} on {prefix + streams.DEAD_LETTER}")


def replay(client: redis.Redis, prefix: str, entry_id: str) -> str:
    """Send the letter's original entry back to its stream; returns the new entry id."""
    parked = letter(client, prefix, entry_id)
    if parked.original is None:
        raise SystemExit(f"letter {entry_id} holds no original entry to replay")
    data = base64.b64decode(parked.original)
    new_id = client.xadd(parked.stream, {"__data__": data})
    client.xdel(prefix + streams.DEAD_LETTER, entry_id)
    return new_id.decode() if isinstance(new_id, bytes) else str(new_id)


def purge(client: redis.Redis, prefix: str, entry_ids: list[str]) -> int:
    return int(client.xdel(prefix + streams.DEAD_LETTER, *entry_ids)) if entry_ids else 0


def _parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m deploy.deadletter", description=__doc__.splitlines()[0]
    )
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("list")
    commands.add_parser("show").add_argument("entry_id")
    commands.add_parser("replay").add_argument("entry_ids", nargs="+")
    purging = commands.add_parser("purge")
    purging.add_argument("entry_ids", nargs="*")
    purging.add_argument("--all", action="store_true")
    return root


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    client = redis.Redis.from_url(os.environ.get("MFA_REDIS_URL", "redis://127.0.0.1:6379/0"))
    prefix = os.environ.get("MFA_STREAM_PREFIX", "")
    out: Any
    if args.command == "list":
        out = [
            {"id": i, "at": found.occurred_at.isoformat(), "stream": found.stream}
            | {"error": found.error.splitlines()[0][:200]}
            for i, found in letters(client, prefix)
        ]
    elif args.command == "show":
        out = letter(client, prefix, args.entry_id).model_dump(mode="json")
    elif args.command == "replay":
        out = {entry_id: replay(client, prefix, entry_id) for entry_id in args.entry_ids}
    else:
        chosen = [i for i, _ in letters(client, prefix)] if args.all else args.entry_ids
        out = {"purged": purge(client, prefix, chosen)}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
