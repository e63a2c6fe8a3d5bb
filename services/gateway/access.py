"""Every HTTP request, as an operator sees it: counted and timed by route template
(never the raw path, whose ids would make a series each) and logged as one structured
line: method, route, status, duration in milliseconds, and the caller's organization
when a key named one. Pure ASGI, like the other layers."""

from __future__ import annotations

import time

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("mfa.gateway.access")
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})
# Up to the longest a request may wait (a GET with wait, a code under load).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class AccessObserved:
    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "mfa_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "mfa_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            ["route", "method"],
            buckets=BUCKETS,
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before answering

        async def answered(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, answered)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = _template(scope)
        method = scope["method"]
        self.requests.labels(route, method, str(status)).inc()
        self.seconds.labels(route, method).observe(seconds)
        caller = scope.get("state", {}).get("caller")
        # Probes and scrapes come every few seconds: counted, logged at DEBUG only.
        write = log.debug if route in QUIET and status < 400 else log.info
        write(
            "http_request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 1),
            organization=getattr(caller, "organization_id", None) or None,
        )


def _template(scope: Scope) -> str:
    """The route's template (``/mfa/{login_id}``); a mount (``/static``) by its prefix."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "unmatched"))
    if scope.get("path", "").startswith("/static/"):
        return "/static"
    return "unmatched"
