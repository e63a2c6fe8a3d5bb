"""Throttles shared by all gateway replicas through Redis: password sign-ins, admin-key
sign-ins and code submissions."""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from limits import RateLimitItem, parse
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from shared.identity import fold
from shared.redis_connection import is_cluster


@dataclass(frozen=True)
class Limits:
    per_account: str = "10/15 minutes"  # password sign-ins per e-mail; tries per admin key id
    per_address: str = "60/15 minutes"  # failed sign-ins of either kind per client address
    codes_per_client: str = "600/minute"  # code submissions per API key (or browser)


def address_bucket(host: str) -> str:
    """The address a client's tries count against: an IPv4 address as written by
    ``ipaddress`` (an IPv4-mapped IPv6 address as its IPv4), an IPv6 client by its /64
    (a site gets a /64, so rotating within it gains nothing), and anything that does
    not parse as one shared bucket, however it is spelt."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "unparsable"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Taken:
    """A try counted in one budget's window."""

    key: str


@dataclass(frozen=True)
class TryLater:
    """A try refused past its budget, and when that budget's window ends."""

    at: datetime


# One try taken from a budget: counted first in this window (KEYS[1]), refused (and not
# counted) when it and the last window's (KEYS[2]) pass the limit: 0, or -1 when this
# window alone is full (the next one is full too, counting it).
_TAKE = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local before = tonumber(redis.call('GET', KEYS[2]) or '0')
if n + before > tonumber(ARGV[2]) then
  redis.call('DECR', KEYS[1])
  if n > tonumber(ARGV[2]) then return -1 end
  return 0
end
return 1
"""
_GIVE_BACK = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
"""


class FailureBudget:
    """Failures allowed per identifier, which a burst cannot outrun: each try takes one
    from the budget before it is checked (one atomic script), and a try that succeeds
    gives it back, so only failures stay counted. (Checking first and counting after
    the password hash let a burst of concurrent tries all pass.)

    The budget is for this window and the last one together: a full budget spent just
    before a window's edge leaves nothing just after it (with fixed windows alone, twice
    the budget passed in seconds across the edge).

    A try is given back to the window it was taken from (the key names the window), so
    a success that ends after its window never cancels a failure of the next one."""

    def __init__(
        self, connect: Callable[[], Awaitable[Redis]], prefix: str, rate: RateLimitItem
    ) -> None:
        self._connect = connect
        self._prefix = prefix
        self._amount = rate.amount
        self._window = rate.get_expiry()

    def key(self, kind: str, identifier: str, window: int) -> str:
        """The count of one window; one identifier's windows share a Redis Cluster slot."""
        digest = hashlib.sha256(identifier.encode()).hexdigest()[:32]  # no address in a key
        return f"{self._prefix}/{{{kind}/{digest}}}/{window}"

    def window(self) -> int:
        return int(time.time()) // self._window

    def _ends(self, window: int) -> datetime:
        return datetime.fromtimestamp((window + 1) * self._window, UTC)

    async def take(self, kind: str, identifier: str) -> Taken | TryLater:
        """The try taken (to give back if it succeeds), or when one may be tried again."""
        redis = await self._connect()
        window = self.window()
        keys = (self.key(kind, identifier, window), self.key(kind, identifier, window - 1))
        taken = int(await redis.eval(_TAKE, 2, *keys, 2 * self._window, self._amount))
        if taken == 1:
            return Taken(keys[0])
        return TryLater(self._ends(window + 1 if taken < 0 else window))

    async def give_back(self, taken: Taken) -> None:
        redis = await self._connect()
        await redis.eval(_GIVE_BACK, 1, taken.key)


class Throttle:
    """Counts in Redis through the gateway's one connection pool (the broker's), taken
    at first use: ``connect`` is the broker's, which connects once."""

    def __init__(
        self,
        redis_url: str,
        connect: Callable[[], Awaitable[Redis]],
        namespace: str,
        limits: Limits,
    ) -> None:
        self._url = redis_url
        self._connect = connect
        self._started: MovingWindowRateLimiter | None = None
        self._namespace = namespace
        self._codes: RateLimitItem = parse(limits.codes_per_client)
        failures = f"LIMITS:LIMITER/{namespace}/failures"  # the limiter's keys (Redis ACL)
        self._failures = FailureBudget(connect, failures, parse(limits.per_address))
        self._key_failures = FailureBudget(connect, failures, parse(limits.per_account))

    async def _limiter(self) -> MovingWindowRateLimiter:
        if self._started is None:
            self._started = MovingWindowRateLimiter(await self._storage())
        return self._started

    async def _storage(self) -> RedisStorage | RedisClusterStorage:
        if is_cluster(self._url):
            # limits cannot be handed a cluster client: on a cluster it keeps its own.
            return RedisClusterStorage(f"async+{self._url}", implementation="redispy")
        return RedisStorage(
            f"async+{self._url}",
            implementation="redispy",
            connection_pool=(await self._connect()).connection_pool,  # type: ignore[arg-type]
        )

    async def connection_pool(self) -> object:
        """The pool its counts go through (the broker's: one per process)."""
        limiter = await self._limiter()
        return limiter.storage.bridge.storage.connection_pool  # type: ignore[attr-defined]

    async def sign_in(self, email: str, address: str) -> tuple[Taken, Taken] | TryLater:
        """Whether a password sign-in may be tried, counting it against the account and
        against the client's address; a success gives both back (``succeeded``), so only
        failures stay counted and a user who signs in often is never refused (issue 23).

        The account is the e-mail as the directory compares it (``fold``: NFKC and case
        folded), so no other spelling of one address (a full-width letter, say) gets
        tries of its own.
        """
        return await self._take_both(("account", fold(email)), ("address", address))

    async def key_sign_in(self, key_id: str, address: str) -> tuple[Taken, Taken] | TryLater:
        """Whether an admin-key sign-in may be tried from ``address`` with this key id,
        counting it against both (given back by ``succeeded``): only failures stay
        counted, per key id, so bad tries with other keys, from anywhere, do not lock
        out the admin whose key it is."""
        return await self._take_both(("key", key_id), ("key-address", address))

    async def _take_both(
        self, account: tuple[str, str], address: tuple[str, str]
    ) -> tuple[Taken, Taken] | TryLater:
        by_account = await self._key_failures.take(*account)
        if isinstance(by_account, TryLater):
            return by_account
        by_address = await self._failures.take(*address)
        if isinstance(by_address, TryLater):
            await self._key_failures.give_back(by_account)
            return by_address
        return by_account, by_address

    async def succeeded(self, taken: tuple[Taken, Taken]) -> None:
        for one in taken:
            await self._failures.give_back(one)  # a give-back names its own key

    async def code(self, client: str) -> bool:
        """Whether ``client`` (an API key id, or a browser session) may submit a code now."""
        return await (await self._limiter()).hit(self._codes, self._namespace, "codes", client)
