"""Manage the demo sign-in's user directory.

python -m services.gateway.cli.users add ada@example.com --type editor [--user-id ada]
    [--organization acme] [--password-stdin]
python -m services.gateway.cli.users seed-demo      # development only
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from services.gateway.settings import GatewaySettings
from services.gateway.web.directory import DEMO_USERS, DirectoryUser, UserDirectory
from shared.identity import DEFAULT_ORGANIZATION, InvalidId, canonical_user_id, is_organization_id
from shared.mongo import connect, service_database
from shared.service import load_settings


async def _add(settings: GatewaySettings, users: list[tuple[DirectoryUser, str]]) -> None:
    client = connect(settings)
    try:
        directory = UserDirectory(service_database(client, settings))
        await directory.ensure_indexes()
        for user, password in users:
            await directory.put(user, password)
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.gateway.cli.users", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add or replace a user (asks for the password)")
    add.add_argument("email")
    add.add_argument("--type", required=True, dest="user_type")
    add.add_argument("--user-id", help="defaults to the e-mail address")
    add.add_argument("--organization", default=DEFAULT_ORGANIZATION)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (for scripts)",
    )
    commands.add_parser("seed-demo", help="the demo users `make run` prints")
    args = parser.parse_args(argv)
    settings = load_settings(GatewaySettings)
    if args.command == "seed-demo":
        if settings.env == "production":
            sys.exit("refusing to seed demo users in production")
        demo = [
            (DirectoryUser(DEFAULT_ORGANIZATION, u.user_id, u.email, u.user_type), u.password)
            for u in DEMO_USERS
        ]
        asyncio.run(_add(settings, demo))
        return
    if not is_organization_id(args.organization):
        sys.exit(f"not an organization id: {args.organization!r}")
    try:
        user_id = canonical_user_id(args.user_id or args.email)
    except InvalidId as exc:
        sys.exit(f"not a user id: {exc}")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.email}: ")
    if len(password) < 12:
        sys.exit("passwords need at least 12 characters")
    user = DirectoryUser(args.organization, user_id, args.email, args.user_type)
    asyncio.run(_add(settings, [(user, password)]))


if __name__ == "__main__":
    main()
