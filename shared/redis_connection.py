"""Redis connections that recreate a consumer group Redis has lost.

A Redis restarted without persistence comes back with no streams and no groups. The
next XREADGROUP answers ``NOGROUP``, on which FastStream stops the subscriber for good
and exits the service. These connections answer that error themselves: they create the
group (at id 0, MKSTREAM, as the services do at start) and send the command again, so
every service carries on once Redis is back, with no restart.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Connection, SSLConnection
from redis.exceptions import ResponseError


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def group_of(command: tuple[Any, ...]) -> tuple[str, str] | None:
    """(stream, group) of a consumer-group command, else None."""
    if not command:
        return None
    name = _text(command[0]).upper()
    words = [_text(part) for part in command]
    if name == "XREADGROUP" and "STREAMS" in (upper := [w.upper() for w in words]):
        return words[upper.index("STREAMS") + 1], words[2]
    if name in {"XAUTOCLAIM", "XACK", "XCLAIM", "XPENDING"} and len(words) > 2:
        return words[1], words[2]
    return None


class _RecreatesGroups:
    """Mixed into a redis-py connection class (plain or TLS)."""

    _last_command: tuple[Any, ...] = ()

    async def send_command(self, *args: Any, **kwargs: Any) -> None:
        await super().send_command(*args, **kwargs)  # type: ignore[misc]
        # Recorded once sent: connecting first sends handshake commands of its own.
        self._last_command = args

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except ResponseError as error:
            target = group_of(self._last_command)
            if target is None or "NOGROUP" not in str(error):
                raise
            command, (stream, group) = self._last_command, target
            await super().send_command("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")  # type: ignore[misc]
            try:
                await super().read_response()  # type: ignore[misc]
            except ResponseError as exists:
                if "BUSYGROUP" not in str(exists):  # another replica made it first: fine
                    raise
            await super().send_command(*command)  # type: ignore[misc]
            return await super().read_response(*args, **kwargs)  # type: ignore[misc]


class GroupRecreatingConnection(_RecreatesGroups, Connection):
    pass


class GroupRecreatingSSLConnection(_RecreatesGroups, SSLConnection):
    pass


def connection_class_for(url: str) -> type[Connection]:
    return (
        GroupRecreatingSSLConnection if url.startswith("rediss://") else GroupRecreatingConnection
    )


# A Redis Cluster is named by its scheme, as the limits library names it: any one master
# (or several, comma-separated hosts are not needed: the client discovers the others).
_CLUSTER_SCHEMES = {"redis+cluster://": "redis://", "rediss+cluster://": "rediss://"}


def is_cluster(url: str) -> bool:
    return url.startswith(tuple(_CLUSTER_SCHEMES))


def node_url(url: str) -> str:
    """The URL of the node a cluster client starts from (``redis://``), or ``url``."""
    for cluster, plain in _CLUSTER_SCHEMES.items():
        if url.startswith(cluster):
            return plain + url.removeprefix(cluster)
    return url
