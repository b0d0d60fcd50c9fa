"""Run the service: ``python -m ticketflow_rest [--host H] [--port P] [--db URL]``.

``python -m ticketflow_rest hash-password`` prints a scrypt hash for a user directory.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from dataclasses import replace

import uvicorn

from ticketflow import TicketflowError
from ticketflow_rest.app import create_app
from ticketflow_rest.directory import Directory, hash_password
from ticketflow_rest.settings import DEMO_USERS, Settings

#: The password of every user in the shipped demo directory (users.toml holds its hashes).
DEMO_PASSWORD = "ticketflow"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ticketflow-rest", description="ticketflow REST service and web worklist"
    )
    parser.add_argument("command", nargs="?", choices=["serve", "hash-password"], default="serve")
    parser.add_argument("--host", default=os.environ.get("TICKETFLOW_REST_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("TICKETFLOW_REST_PORT", "8000"))
    )
    parser.add_argument("--db", help="database URL (default: TICKETFLOW_REST_DATABASE_URL)")
    args = parser.parse_args(argv)
    if args.command == "hash-password":
        return print_hash()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for chatty in ("alembic", "spiff"):  # schema upgrades, workflow steps: quiet
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        if args.db:
            settings = replace(settings, database_url=args.db)
        app = create_app(settings)
    except TicketflowError as exc:
        print(f"ticketflow-rest: {exc}", file=sys.stderr)
        return 2
    url = f"http://{args.host}:{args.port}"
    print_banner(settings, url)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def print_banner(settings: Settings, url: str) -> None:
    print("ticketflow REST service")
    print(f"  web worklist  {url}/ui/")
    print(f"  API docs      {url}/docs   (OpenAPI schema: {url}/openapi.json)")
    print(f"  database      {settings.database_url}")
    print(f"  processes     {settings.processes}")
    directory = Directory.load(settings.users_file)
    if settings.users_file.resolve() == DEMO_USERS.resolve():
        print(f"  demo logins   (password for every one: {DEMO_PASSWORD})")
    else:
        print(f"  logins        from {settings.users_file}")
    for account in directory:
        user = account.user
        extra = f"  roles: {', '.join(sorted(user.roles))}" if user.roles else ""
        region = f"  region: {user.region}" if user.region else ""
        groups = ", ".join(sorted(user.groups)) or "-"
        print(f"    {user.id:<10} {account.name:<22} groups: {groups}{extra}{region}")
    sys.stdout.flush()


def print_hash() -> int:
    password = getpass.getpass("password: ")
    if password != getpass.getpass("again: "):
        print("the passwords differ", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
