"""Prometheus metrics: message rates and latencies per stream (FastStream's middleware),
and the backlog of each consumer group, which is what tells ops to add replicas."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import redis
from faststream.redis.prometheus import RedisPrometheusMiddleware
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
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
