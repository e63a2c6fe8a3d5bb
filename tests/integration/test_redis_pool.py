"""One Redis connection pool per process: the gateway's rate limits, backlog figures,
readiness and heartbeats all go through its broker's pool."""

from typing import Any

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


async def test_the_gateway_counts_and_reads_backlogs_through_its_brokers_pool(
    service_env: dict[str, Any],
) -> None:
    app = create_app(GatewaySettings(**service_env))
    async with app.router.lifespan_context(app):
        broker_pool = (await app.state.gateway.broker.connect()).connection_pool
        throttle = app.state.web.limiter
        assert await throttle.code("client-1")
        assert await throttle.connection_pool() is broker_pool
        health = await app.state.gateway.readiness.check()
        assert health.checks["redis"] is True
