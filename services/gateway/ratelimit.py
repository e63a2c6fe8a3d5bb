"""Throttles shared by all gateway replicas through Redis: password sign-ins, admin-key
sign-ins and code submissions."""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from shared.messaging import reconnecting


@dataclass(frozen=True)
class Limits:
    per_account: str = "10/15 minutes"  # password sign-ins per e-mail; tries per admin key id
    per_address: str = "60/15 minutes"  # sign-ins of either kind per client address
    codes_per_client: str = "600/minute"  # code submissions per API key (or browser)


class Throttle:
    def __init__(self, redis_url: str, namespace: str, limits: Limits) -> None:
        storage = RedisStorage(f"async+{redis_url}", implementation="redispy", **reconnecting())
        self._limiter = MovingWindowRateLimiter(storage)
        self._namespace = namespace
        self._per_account: RateLimitItem = parse(limits.per_account)
        self._per_address: RateLimitItem = parse(limits.per_address)
        self._codes: RateLimitItem = parse(limits.codes_per_client)

    async def sign_in(self, email: str, address: str) -> bool:
        """Whether a password sign-in may be tried (and count it)."""
        account_ok = await self._limiter.hit(
            self._per_account, self._namespace, "account", email.strip().casefold()
        )
        address_ok = await self._limiter.hit(self._per_address, self._namespace, "address", address)
        return account_ok and address_ok

    async def key_attempts_left(self, key_id: str, address: str) -> bool:
        """Whether another admin-key sign-in may be tried from ``address`` with this key id."""
        return await self._limiter.test(
            self._per_account, self._namespace, "key", key_id
        ) and await self._limiter.test(self._per_address, self._namespace, "key-address", address)

    async def key_refused(self, key_id: str, address: str) -> None:
        """Count a wrong admin key against its key id and the address that sent it.

        Only failures count, per key id: bad tries with other keys, from anywhere, do not
        lock out the admin whose key it is (one bucket for every key used to).
        """
        await self._limiter.hit(self._per_account, self._namespace, "key", key_id)
        await self._limiter.hit(self._per_address, self._namespace, "key-address", address)

    async def code(self, client: str) -> bool:
        """Whether ``client`` (an API key id, or a browser session) may submit a code now."""
        return await self._limiter.hit(self._codes, self._namespace, "codes", client)
