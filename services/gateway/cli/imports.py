"""The administrator's command line for imports (issue 21): the admin API's dry run,
then, with --apply, the same file applied with the plan the dry run showed.

    export MFA_GATEWAY_URL=http://127.0.0.1:8000 MFA_ADMIN_KEY=...
    python -m services.gateway.cli.imports tokens.pskc --format pskc --password-stdin
    python -m services.gateway.cli.imports users.csv --mapping names.csv --apply

It prints each dry run's report (no secret is ever in one), and the applied one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

FORMATS = ("otpauth_csv", "google_migration", "oath_csv", "pskc")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.gateway.cli.imports")
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=FORMATS, default="otpauth_csv")
    p.add_argument("--mapping", type=Path, help="CSV name,user_id for account names or serials")
    p.add_argument("--key", help="PSKC pre-shared key, hex")
    p.add_argument("--password-stdin", action="store_true", help="PSKC password on stdin")
    p.add_argument("--on-existing", choices=("skip", "replace"), default="skip")
    p.add_argument("--allow-short-secrets", action="store_true")
    p.add_argument(
        "--confirm",
        choices=("now", "first_use"),
        default="now",
        help="first_use: each user's first accepted code confirms their authenticator",
    )
    p.add_argument("--apply", action="store_true", help="apply the dry run's plan")
    p.add_argument("--url", default=os.environ.get("MFA_GATEWAY_URL", "http://127.0.0.1:8000"))
    return p


def post(args: argparse.Namespace, key: str, form: dict[str, str], plan: str | None) -> Any:
    files = {"file": (args.file.name, args.file.read_bytes())}
    if args.mapping:
        files["mapping"] = (args.mapping.name, args.mapping.read_bytes())
    params = {"on_existing": args.on_existing, "confirm": args.confirm}
    if args.allow_short_secrets:
        params["allow_short_secrets"] = "true"
    if plan is not None:
        params |= {"apply": "true", "plan": plan}
    try:
        answer = requests.post(
            args.url.rstrip("/") + "/v1/admin/imports",
            params=params,
            files=files,
            data=form,
            headers={"Authorization": f"Bearer {key}"},
            timeout=120,
        )
    except requests.RequestException as exc:
        sys.exit(f"cannot reach the gateway at {args.url}: {type(exc).__name__}")
    if answer.status_code != 200:
        sys.exit(f"{answer.status_code}: {answer.text}")
    return answer.json()


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    key = os.environ.get("MFA_ADMIN_KEY")
    if not key:
        sys.exit("set MFA_ADMIN_KEY to an admin API key of the organization")
    form = {"format": args.format}
    if args.key:
        form["key"] = args.key
    if args.password_stdin:
        form["password"] = sys.stdin.readline().rstrip("\n")
    dry = post(args, key, form, None)
    print(json.dumps(dry, indent=2))
    if args.apply:
        print(json.dumps(post(args, key, form, dry["plan"]), indent=2))


if __name__ == "__main__":
    main()
