"""Structured logs: one JSON line per event outside a terminal, never a secret.

A login id is a secret too: whoever holds it first can open the login's hosted page.
Log lines name a login by a short keyed hash (``login_ref``), the same in every
service for one keyring, so one login's lines still join up across the services.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

# Safety net: handlers never pass these, but if one ever does, it is masked.
SENSITIVE_KEYS = frozenset(
    {
        "secret",
        "code",
        "otpauth_uri",
        "ciphertext",
        "password",
        "api_key",
        "authorization",
        "token",
        "cookie",
        "csrf_token",
    }
)


def redact(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key in SENSITIVE_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


# Keys whose value is a login id (or, for login events, the correlation id that is one).
LOGIN_ID_KEYS = frozenset({"login_id", "correlation_id"})
LOG_PSEUDONYM_PURPOSE = "log-pseudonyms"


def login_ref(login_id: str, key: bytes) -> str:
    """What a log line says instead of a login id: 12 hex digits of an HMAC-SHA256."""
    return hmac.new(key, login_id.encode(), hashlib.sha256).hexdigest()[:12]


def pseudonymise(key: bytes) -> Any:
    """A processor that replaces any login id in a log line by its ``login_ref``."""

    def processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        for name in LOGIN_ID_KEYS.intersection(event_dict):
            value = event_dict.pop(name)
            if value is not None:
                event_dict["login_ref"] = login_ref(str(value), key)
        return event_dict

    return processor


def configure_logging(
    service: str, log_format: str, level: str, production: bool, pseudonym_key: bytes
) -> None:
    as_json = log_format == "json" or (
        log_format == "auto" and (production or not sys.stderr.isatty())
    )

    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        pseudonymise(pseudonym_key),
        redact,
    ]
    renderers: list[Any] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if as_json
        else [structlog.dev.ConsoleRenderer()]
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *renderers,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
