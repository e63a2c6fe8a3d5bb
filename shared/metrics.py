"""Prometheus metrics: message rates and latencies per stream (FastStream's middleware),
and the backlog of each consumer group, which is what tells ops to add replicas."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from faststream.redis.prometheus import RedisPrometheusMiddleware
from prometheus_client import (
    CollectorRegistry,
    ProcessCollector,
    disable_created_metrics,
    make_wsgi_app,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.settings import ServiceSettings


class StreamBacklog(Collector):
    """Per consumed stream: entries the group has not yet been handed (lag), entries
    handed out but not acknowledged (pending), and how long the oldest of those has
    waited (a handler failing again and again shows here).

    Read from Redis by ``refresh`` on the service's own connection pool (every few
    seconds, ``keep_refreshing``); a scrape reports the latest reading, so the metrics
    thread never opens a connection of its own.
    """

    def __init__(self, settings: ServiceSettings, group: str, streams: list[str]) -> None:
        self._group = group
        self._streams = [settings.stream(s) for s in streams]
        self._readings: dict[str, tuple[float | None, float | None, float]] = {}

    async def refresh(self, redis: Redis) -> None:
        readings = {}
        for stream in self._streams:
            try:
                groups = await redis.xinfo_groups(stream)
                summary = await redis.xpending(stream, self._group)
            except RedisError:
                continue
            mine = [g for g in groups if _text(g["name"]) == self._group]
            lag = float(mine[0].get("lag") or 0) if mine else None
            pending = float(mine[0]["pending"]) if mine else None
            readings[stream] = (lag, pending, _age_seconds(summary.get("min")))
        self._readings = readings

    async def keep_refreshing(self, redis: Redis, every: float = 5.0) -> None:
        while True:
            await self.refresh(redis)
            await asyncio.sleep(every)

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
        for stream, (lag_now, pending_now, age) in self._readings.items():
            labels = [stream, self._group]
            if lag_now is not None and pending_now is not None:
                lag.add_metric(labels, lag_now)
                pending.add_metric(labels, pending_now)
            oldest.add_metric(labels, age)
        yield lag
        yield pending
        yield oldest


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _age_seconds(entry_id: bytes | str | None) -> float:
    """How old an entry is, from its id (milliseconds since the epoch, then a sequence)."""
    if not entry_id:
        return 0.0
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return max(0.0, time.time() - int(text.split("-")[0]) / 1000)


def broker_metrics(registry: CollectorRegistry, service: str) -> RedisPrometheusMiddleware:
    return RedisPrometheusMiddleware(registry=registry, app_name=service, metrics_prefix="mfa")


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_: Any) -> None:  # probes every few seconds: not worth a line
        pass


def serve(
    registry: CollectorRegistry, host: str, port: int, ready: Callable[[], bool]
) -> ThreadingWSGIServer:
    """A stream service's own small HTTP server, in a thread: ``/metrics`` (Prometheus),
    ``/healthz`` (the process answers) and ``/readyz`` (``ready()``: it reaches Redis),
    for Kubernetes probes. Stream services have no other HTTP server."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            ok = path == "/healthz" or ready()
            start_response(
                "200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")]
            )
            return [b"ok\n" if ok else b"not ready\n"]
        return metrics(environ, start_response)  # type: ignore[no-any-return]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    return server


def operators_registry() -> CollectorRegistry:
    """A service's registry: its own families, and the process's CPU, memory, open files
    and start time (``process_*``), as every exporter an operator scrapes has."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


def without_created_series() -> None:
    """No ``*_created`` series next to each counter and histogram: they doubled the
    series count and no dashboard reads them. Once per process, at start."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
