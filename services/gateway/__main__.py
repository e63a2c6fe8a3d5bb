from __future__ import annotations

import sys

import uvicorn

from services.gateway.app import create_app
from services.gateway.settings import (
    DEV_ADMIN_KEY,
    DEV_CLIENT_KEY,
    DEV_KEYS,
    DEV_OPERATOR_KEY,
    GatewaySettings,
)
from shared.logging import LOG_PSEUDONYM_PURPOSE, configure_logging
from shared.metrics import without_created_series
from shared.service import load_settings


def main() -> None:
    settings = load_settings(GatewaySettings)
    without_created_series()
    configure_logging(
        settings.service_name,
        settings.log_format,
        settings.log_level,
        production=settings.env == "production",
        pseudonym_key=settings.keyring.derive(LOG_PSEUDONYM_PURPOSE),
    )
    print(f"MFA gateway on http://{settings.host}:{settings.port}", file=sys.stderr)
    configured = (
        *settings.client_api_keys,
        *settings.admin_api_keys,
        *settings.operator_api_keys,
    )
    if DEV_KEYS & {k.get_secret_value() for k in configured}:
        print(
            f"  development API keys (organization 'default'): client={DEV_CLIENT_KEY} "
            f"admin={DEV_ADMIN_KEY}; operator={DEV_OPERATOR_KEY}",
            file=sys.stderr,
        )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        server_header=False,
        # access.py logs each request as a structured line, by route template: a raw
        # path holds login ids, which open a login's hosted page.
        access_log=False,
        # Forwarded headers only from the proxies configured, none by default (uvicorn
        # would trust 127.0.0.1, so any local process could pose as any client).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
