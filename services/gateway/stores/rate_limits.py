"""Throttles shared by all gateway replicas through Redis: password sign-ins, admin-key
sign-ins and code submissions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
        self._per_account: RateLimitItem = parse(limits.per_account)
        self._per_address: RateLimitItem = parse(limits.per_address)
        self._codes: RateLimitItem = parse(limits.codes_per_client)

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

    async def sign_in(self, email: str, address: str) -> bool:
        """Whether a password sign-in may be tried, counting it against the account.

        The account is the e-mail as the directory compares it (``fold``: NFKC and case
        folded), so no other spelling of one address (a full-width letter, say) gets
        tries of its own. Every try counts there, so a burst cannot outrun the count.
        """
        limiter = await self._limiter()
        account_ok = await limiter.hit(self._per_account, self._namespace, "account", fold(email))
        return account_ok and await limiter.test(
            self._per_address, self._namespace, "address", address
        )

    async def sign_in_failed(self, address: str) -> None:
        """Count a failed password sign-in against the client's address: only failures
        count there, so the users behind one address do not use up each other's tries."""
        limiter = await self._limiter()
        await limiter.hit(self._per_address, self._namespace, "address", address)

    async def key_attempts_left(self, key_id: str, address: str) -> bool:
        """Whether another admin-key sign-in may be tried from ``address`` with this key id."""
        limiter = await self._limiter()
        return await limiter.test(
            self._per_account, self._namespace, "key", key_id
        ) and await limiter.test(self._per_address, self._namespace, "key-address", address)

    async def key_refused(self, key_id: str, address: str) -> None:
        """Count a wrong admin key against its key id and the address that sent it.

        Only failures count, per key id: bad tries with other keys, from anywhere, do not
        lock out the admin whose key it is (one bucket for every key used to).
        """
        limiter = await self._limiter()
        await limiter.hit(self._per_account, self._namespace, "key", key_id)
        await limiter.hit(self._per_address, self._namespace, "key-address", address)

    async def code(self, client: str) -> bool:
        """Whether ``client`` (an API key id, or a browser session) may submit a code now."""
        return await (await self._limiter()).hit(self._codes, self._namespace, "codes", client)
