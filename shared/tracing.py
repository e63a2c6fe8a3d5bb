"""OpenTelemetry traces across the stream hops, exported over OTLP when configured.

FastStream's telemetry middleware puts the trace context in each entry's headers and
continues it in the consumer, so the events of one login (attempt, decision,
enrollment, code, answer) are one trace across the four processes. The gateway starts
that trace when the login starts and keeps its context with the login, so the code
typed minutes later joins the same trace (``login_span``).

Off unless ``MFA_OTLP_TRACES_ENDPOINT`` is set: no middleware, no spans, no cost.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from faststream.redis.opentelemetry import RedisTelemetryMiddleware
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from shared.settings import ServiceSettings

NO_TRACING = trace.NoOpTracerProvider()


def tracer_provider(settings: ServiceSettings) -> trace.TracerProvider:
    """This service's provider: batching spans to the OTLP endpoint, or a no-op one."""
    if settings.otlp_traces_endpoint is None:
        return NO_TRACING
    provider = TracerProvider(
        resource=Resource.create(
            {
                "service.name": f"mfa-{settings.service_name}",
                "service.instance.id": settings.consumer_name,
            }
        )
    )
    exporter = OTLPSpanExporter(endpoint=str(settings.otlp_traces_endpoint), timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    return provider


def broker_tracing(provider: trace.TracerProvider) -> list[RedisTelemetryMiddleware]:
    """The broker middleware that carries traces over the streams (none when off)."""
    if isinstance(provider, trace.NoOpTracerProvider):
        return []
    return [RedisTelemetryMiddleware(tracer_provider=provider, include_messages_counters=False)]


def shutdown(provider: trace.TracerProvider) -> None:
    """Send what is still batched (at a service's stop)."""
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def carried() -> dict[str, str]:
    """The current trace context as headers (``traceparent``), to keep with a login."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def login_span(
    tracer: trace.Tracer, name: str, login_id: str, parent: Mapping[str, str] | None = None
) -> Iterator[trace.Span]:
    """A span of the login's own trace: a new trace at its start (``parent`` None), the
    kept one for anything later."""
    context = propagate.extract(dict(parent)) if parent else None
    with tracer.start_as_current_span(
        name, context=context, attributes={"mfa.login_id": login_id}
    ) as span:
        yield span
