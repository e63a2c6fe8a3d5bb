"""Prometheus metrics: message rates and latencies per stream (FastStream's middleware),
and the backlog of each consumer group, which is what tells ops to add replicas."""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from faststream.redis.prometheus import RedisPrometheusMiddleware
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.settings import ServiceSettings


class StreamBacklog(Collector):
    """Read at scrape time: per consumed stream, entries the group has not yet been handed
    (lag), entries handed out but not acknowledged (pending), and how long the oldest of
    those has waited (a handler failing again and again shows here)."""

    def __init__(self, settings: ServiceSettings, group: str, streams: list[str]) -> None:
        self._redis = redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=2)
        self._group = group
        self._streams = [settings.stream(s) for s in streams]

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "mfa_stream_lag", "Entries not yet delivered to the group", labels=["stream", "group"]
        )
        pending = GaugeMetricFamily(
            "mfa_stream_pending",
            "Entries delivered to the group but not acknowledged",
            labels=["stream", "group"],
        )
        oldest = GaugeMetricFamily(
            "mfa_stream_oldest_pending_seconds",
            "Age of the oldest entry delivered to the group and not acknowledged",
            labels=["stream", "group"],
        )
        for stream in self._streams:
            try:
                groups = self._redis.xinfo_groups(stream)
                summary = self._redis.xpending(stream, self._group)
            except redis.RedisError:
                continue
            for info in groups:
                if info["name"].decode() == self._group:
                    lag.add_metric([stream, self._group], float(info.get("lag") or 0))
                    pending.add_metric([stream, self._group], float(info["pending"]))
            oldest.add_metric([stream, self._group], _age_seconds(summary.get("min")))
        yield lag
        yield pending
        yield oldest


def _age_seconds(entry_id: bytes | str | None) -> float:
    """How old an entry is, from its id (milliseconds since the epoch, then a sequence)."""
    if not entry_id:
        return 0.0
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return max(0.0, time.time() - int(text.split("-")[0]) / 1000)


def broker_metrics(registry: CollectorRegistry, service: str) -> RedisPrometheusMiddleware:
    return RedisPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix="mfa")


def serve(registry: CollectorRegistry, host: str, port: int) -> None:
    """Expose the registry on its own port (stream services have no HTTP server)."""
    start_http_server(port, addr=host, registry=registry)
