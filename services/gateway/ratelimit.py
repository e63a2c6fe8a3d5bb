"""Password sign-in throttling, shared by all gateway replicas through Redis."""

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

    async def allow(self, email: str, address: str) -> bool:
        account_ok = await self._limiter.hit(
            self._per_account, self._namespace, "account", email.strip().casefold()
        )
        address_ok = await self._limiter.hit(self._per_address, self._namespace, "address", address)
        return account_ok and address_ok
