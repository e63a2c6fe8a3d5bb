"""The platform operator's command line: the operator API from a shell.

    export MFA_GATEWAY_URL=http://127.0.0.1:8000 MFA_OPERATOR_KEY=...
    python -m services.gateway.cli.operator create-organization acme --name "Acme" [--issuer Acme]
    python -m services.gateway.cli.operator organizations
    python -m services.gateway.cli.operator issue-key acme --role admin --name "Acme console"
    python -m services.gateway.cli.operator keys acme
    python -m services.gateway.cli.operator revoke-key acme 3f9c0a1b2c3d4e5f

It prints the gateway's JSON answer. An issued key is printed this once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote


def call(base: str, key: str, method: str, path: list[str], body: Any = None) -> Any:
    url = base.rstrip("/") + "/v1/operator/" + "/".join(quote(p, safe="") for p in path)
    request = urllib.request.Request(  # noqa: S310 - the operator names the gateway
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as exc:
        sys.exit(f"{exc.code}: {exc.read().decode(errors='replace')}")
    except urllib.error.URLError as exc:
        sys.exit(f"cannot reach the gateway at {base}: {exc.reason}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m services.gateway.cli.operator", description=__doc__.splitlines()[0]
    )
    root.add_argument("--url", default=os.environ.get("MFA_GATEWAY_URL", "http://127.0.0.1:8000"))
    commands = root.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-organization")
    create.add_argument("organization_id")
    create.add_argument("--name", required=True)
    create.add_argument("--issuer", help="what authenticator apps show (default: Imageshop)")
    commands.add_parser("organizations")
    issue = commands.add_parser("issue-key")
    issue.add_argument("organization_id")
    issue.add_argument("--role", choices=["client", "admin"], required=True)
    issue.add_argument("--name", required=True, help="what the key is for")
    keys = commands.add_parser("keys")
    keys.add_argument("organization_id")
    revoke = commands.add_parser("revoke-key")
    revoke.add_argument("organization_id")
    revoke.add_argument("key_id")
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    key = os.environ.get("MFA_OPERATOR_KEY")
    if not key:
        sys.exit("set MFA_OPERATOR_KEY to an operator API key")
    org = getattr(args, "organization_id", "")
    if args.command == "create-organization":
        body = {"organization_id": org, "name": args.name}
        answer = call(args.url, key, "POST", ["organizations"], body | _issuer(args.issuer))
    elif args.command == "organizations":
        answer = call(args.url, key, "GET", ["organizations"])
    elif args.command == "issue-key":
        body = {"role": args.role, "name": args.name}
        answer = call(args.url, key, "POST", ["organizations", org, "keys"], body)
    elif args.command == "keys":
        answer = call(args.url, key, "GET", ["organizations", org, "keys"])
    else:
        answer = call(args.url, key, "DELETE", ["organizations", org, "keys", args.key_id])
    print(json.dumps(answer, indent=2))


def _issuer(issuer: str | None) -> dict[str, str]:
    return {} if issuer is None else {"issuer": issuer}


if __name__ == "__main__":
    main()
