"""Streams keep what a consumer group still needs, and recent history; the rest goes.

Redis keeps every entry until it is trimmed. MAXLEN caps each stream (100,000 entries),
but under steady traffic every stream would grow to the cap, Redis's memory with it,
and the sealed codes and secrets in old entries would linger. So every replica trims,
now and then, the streams it consumes: down to the oldest entry any group still needs
(its oldest pending entry, or the last one delivered to it), and never an entry younger
than ``retention``. A stream no group reads yet (a service not yet deployed) is left to
its cap, as are the dead letters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

EntryId = tuple[int, int]


def parse_id(value: bytes | str) -> EntryId:
    text = value.decode() if isinstance(value, bytes) else value
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def trim_to(needed_by_groups: Iterable[EntryId], now_ms: int, retention_ms: int) -> EntryId | None:
    """The first entry to keep (XTRIM MINID), or None to keep everything."""
    needed = list(needed_by_groups)
    if not needed:
        return None
    return min([*needed, (now_ms - retention_ms, 0)])


def needed_by(group: Mapping[str, Any], oldest_pending: bytes | str | None) -> EntryId:
    """The oldest entry a group may still read: its oldest pending one, else the last
    one delivered to it (all later ones are yet to be delivered)."""
    if oldest_pending:
        return parse_id(oldest_pending)
    return parse_id(group["last-delivered-id"])


async def trim(redis: Redis, stream: str, now_ms: int, retention_ms: int) -> int:
    """Trim ``stream`` to what its groups need and ``retention``; answers how many
    entries went."""
    needed = []
    for group in await redis.xinfo_groups(stream):
        summary = await redis.xpending(stream, group["name"])
        needed.append(needed_by(group, summary.get("min") if summary["pending"] else None))
    first_kept = trim_to(needed, now_ms, retention_ms)
    if first_kept is None:
        return 0
    # Exact, not "~": an approximate trim keeps whole nodes of up to 100 entries.
    minid = f"{first_kept[0]}-{first_kept[1]}"
    return int(await redis.xtrim(stream, minid=minid, approximate=False))
