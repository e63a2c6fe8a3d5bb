"""Generate (``write``) or verify (``check``) the AsyncAPI and OpenAPI documents in docs/.

Documents come from the running code: each service's FastStream broker and the
gateway's FastAPI app, built with default settings and never connected.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

from services.enrollment.app import create_app as enrollment_app
from services.enrollment.settings import EnrollmentSettings
from services.gateway.app import create_app as gateway_app
from services.gateway.settings import GatewaySettings
from services.policy.app import create_app as policy_app
from services.policy.settings import PolicySettings
from services.verification.app import create_app as verification_app
from services.verification.settings import VerificationSettings
from shared.settings import ServiceSettings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _asyncapi(title: str, broker: Any) -> dict[str, Any]:
    spec = AsyncAPI(broker, title=title, version="1.0.0")
    return spec.to_specification().to_jsonable()  # type: ignore[no-any-return]


# The same document whatever the environment: no host names, pids or prefixes.
_STABLE = {"consumer_name": "REPLICA", "stream_prefix": "", "redis_url": "redis://redis:6379/0"}


def documents() -> dict[Path, Callable[[], dict[str, Any]]]:
    def service(
        name: str, factory: Callable[[Any], Any], settings: type[ServiceSettings]
    ) -> Callable[[], dict[str, Any]]:
        return lambda: _asyncapi(f"Imageshop MFA - {name}", factory(settings(**_STABLE)).broker)

    gateway = gateway_app(GatewaySettings(**_STABLE))
    return {
        DOCS / "asyncapi/policy.json": service("policy", policy_app, PolicySettings),
        DOCS / "asyncapi/enrollment.json": service(
            "enrollment", enrollment_app, EnrollmentSettings
        ),
        DOCS / "asyncapi/verification.json": service(
            "verification", verification_app, VerificationSettings
        ),
        DOCS / "asyncapi/gateway.json": lambda: _asyncapi(
            "Imageshop MFA - gateway", gateway.state.gateway.broker
        ),
        DOCS / "openapi.json": gateway.openapi,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main(mode: str) -> int:
    stale = []
    for path, build in documents().items():
        text = render(build())
        if mode == "write":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(path.relative_to(DOCS.parent))
    if stale:
        print("stale API documents (run `make docs`): " + ", ".join(map(str, stale)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "check"))
