"""Sign-in throttling, shared by all gateway replicas through Redis."""

from __future__ import annotations

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter


class SignInLimiter:
    """At most ``per_account`` attempts per e-mail and ``per_address`` per client address."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        per_account: str = "10/15 minutes",
        per_address: str = "60/15 minutes",
    ) -> None:
        storage = RedisStorage(f"async+{redis_url}", implementation="redispy")
        self._limiter = MovingWindowRateLimiter(storage)
        self._namespace = namespace
        self._per_account: RateLimitItem = parse(per_account)
        self._per_address: RateLimitItem = parse(per_address)

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

    async def allow(self, email: str, address: str) -> bool:
        account_ok = await self._limiter.hit(
            self._per_account, self._namespace, "account", email.strip().casefold()
        )
        address_ok = await self._limiter.hit(self._per_address, self._namespace, "address", address)
        return account_ok and address_ok
