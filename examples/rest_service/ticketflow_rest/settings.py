"""Configuration of the service, read from the environment.

| variable | default |
|---|---|
| ``TICKETFLOW_REST_DATABASE_URL`` | ``sqlite:///ticketflow-rest.db`` (in the working directory) |
| ``TICKETFLOW_REST_PROCESSES`` | the repository's ``processes/`` folder |
| ``TICKETFLOW_REST_USERS`` | the demo directory shipped with the package (``users.toml``) |
| ``TICKETFLOW_REST_TOKEN_HOURS`` | ``8`` (how long a login lasts) |
| ``TICKETFLOW_REST_JOB_INTERVAL`` | ``5`` seconds between timer/outbox passes (``0``: none) |
| ``TICKETFLOW_REST_AUTO_MIGRATE`` | ``1`` on SQLite, else ``0`` (``ticketflow db upgrade``) |
| ``TICKETFLOW_REST_SLA`` | ``1``: the default SLA policy gives tasks due times and reminders |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ticketflow import InvalidDataError

PACKAGE = Path(__file__).resolve().parent
#: The demo user directory shipped with the example.
DEMO_USERS = PACKAGE / "users.toml"
#: The repository's process library, when the package runs from a source checkout.
REPO_PROCESSES = PACKAGE.parents[2] / "processes"
PREFIX = "TICKETFLOW_REST_"


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to start."""

    database_url: str = "sqlite:///ticketflow-rest.db"
    processes: Path = REPO_PROCESSES
    users_file: Path = DEMO_USERS
    token_hours: float = 8.0
    job_interval: float = 5.0
    auto_migrate: bool | None = None
    sla: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``TICKETFLOW_REST_*`` variables; a bad value names its variable."""
        env = os.environ if env is None else env
        defaults = cls()

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value if value not in (None, "") else None

        migrate = get("AUTO_MIGRATE")
        sla = get("SLA")
        return cls(
            database_url=get("DATABASE_URL") or defaults.database_url,
            processes=Path(get("PROCESSES") or defaults.processes),
            users_file=Path(get("USERS") or defaults.users_file),
            token_hours=_number("TOKEN_HOURS", get("TOKEN_HOURS"), defaults.token_hours),
            job_interval=_number("JOB_INTERVAL", get("JOB_INTERVAL"), defaults.job_interval),
            auto_migrate=_flag("AUTO_MIGRATE", migrate) if migrate is not None else None,
            sla=_flag("SLA", sla) if sla is not None else defaults.sla,
        )

    def check(self) -> None:
        """Fail early, naming the setting, when a path does not exist."""
        if not self.processes.exists():
            raise InvalidDataError(
                f"processes folder {self.processes} does not exist "
                f"(set {PREFIX}PROCESSES to the folder of your BPMN files)"
            )
        if not self.users_file.is_file():
            raise InvalidDataError(
                f"user directory {self.users_file} does not exist (set {PREFIX}USERS)"
            )


def _number(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise InvalidDataError(f"{PREFIX}{name} must be a number, got {value!r}") from None
    if number < 0:
        raise InvalidDataError(f"{PREFIX}{name} must not be negative, got {value!r}")
    return number


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InvalidDataError(f"{PREFIX}{name} must be 1 or 0, got {value!r}")
