"""Scenario files: the schema of a simulated service centre, loaded from TOML and validated.

Every section is a pydantic model that refuses unknown keys, so a typo is an error, not a
silently ignored setting. :func:`load_scenario` reports every problem at once as a
:class:`ScenarioError` naming the file, the key (``staff.seat.shifts[0].count``) and what
is wrong. The schema is documented, key by key, in ``docs/simulation.md``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ticketflow.errors import InvalidDataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UNIT_MINUTES = {"minutes": 1.0, "hours": 60.0, "days": 1440.0}
#: KPI names a ``[targets]`` table may name (see :mod:`ticketflow.simulation.kpi`).
TARGET_KEYS = (
    "annual_volume",
    "daily_arrivals",
    "fcr",
    "mean_handling_hours",
    "tickets_per_seat_day",
    "satisfaction",
    "cost_per_ticket",
    "preprocessing_minutes",
    "feedback_minutes",
)
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Weight = Annotated[float, Field(ge=0.0)]
Literal_ = str | bool | int | float


class ScenarioError(InvalidDataError):
    """A scenario file that cannot be read or does not describe a valid centre.

    ``file`` is the scenario's path, ``problems`` a list of ``key: what is wrong``.
    """

    def __init__(self, file: str | Path, problems: Sequence[str]) -> None:
        self.file = str(file)
        self.problems = list(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        plural = "s" if len(self.problems) != 1 else ""
        super().__init__(
            f"{self.file}: invalid scenario ({len(self.problems)} problem{plural}):\n{listed}"
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(_Model):
    """A random quantity: ``{ dist = "lognormal", mean = 20, sd = 10 }``.

    ``constant`` (``value``), ``exponential`` (``mean``), ``lognormal`` and ``normal``
    (``mean``, ``sd`` of the quantity itself), ``triangular`` (``low``, ``mode``,
    ``high``), ``uniform`` (``low``, ``high``). ``min`` / ``max`` clip a sample;
    ``unit`` (minutes, hours, days) applies where a duration is meant. A bare number
    is a constant.
    """

    dist: Literal["constant", "exponential", "lognormal", "normal", "triangular", "uniform"]
    value: float | None = None
    mean: float | None = None
    sd: float | None = None
    low: float | None = None
    mode: float | None = None
    high: float | None = None
    min: float | None = None
    max: float | None = None
    unit: Literal["minutes", "hours", "days"] = "minutes"

    @model_validator(mode="before")
    @classmethod
    def _number_is_constant(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {"dist": "constant", "value": data}
        return data

    @model_validator(mode="after")
    def _parameters(self) -> Distribution:
        needed = {
            "constant": ("value",),
            "exponential": ("mean",),
            "lognormal": ("mean", "sd"),
            "normal": ("mean", "sd"),
            "triangular": ("low", "mode", "high"),
            "uniform": ("low", "high"),
        }[self.dist]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.dist} distribution needs {', '.join(missing)}")
        given = {
            n
            for n in ("value", "mean", "sd", "low", "mode", "high")
            if getattr(self, n) is not None
        }
        extra = sorted(given - set(needed))
        if extra:
            raise ValueError(f"a {self.dist} distribution takes no {', '.join(extra)}")
        if self.dist in ("exponential", "lognormal") and (self.mean or 0) <= 0:
            raise ValueError(f"the mean of a {self.dist} distribution must be positive")
        if self.sd is not None and self.sd < 0:
            raise ValueError("sd must not be negative")
        if self.dist == "lognormal" and not self.sd:
            raise ValueError("a lognormal distribution needs a positive sd (use constant)")
        if self.dist == "triangular":
            assert self.low is not None and self.mode is not None and self.high is not None
            if not self.low <= self.mode <= self.high or self.low == self.high:
                raise ValueError("a triangular distribution needs low <= mode <= high, low < high")
        if self.dist == "uniform":
            assert self.low is not None and self.high is not None
            if self.low >= self.high:
                raise ValueError("a uniform distribution needs low < high")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be above max")
        return self

    @property
    def expected(self) -> float:
        """The mean of the distribution before clipping, in its own unit."""
        if self.dist == "constant":
            return float(self.value or 0.0)
        if self.dist in ("exponential", "lognormal", "normal"):
            return float(self.mean or 0.0)
        if self.dist == "triangular":
            return ((self.low or 0.0) + (self.mode or 0.0) + (self.high or 0.0)) / 3
        return ((self.low or 0.0) + (self.high or 0.0)) / 2

    @property
    def in_minutes(self) -> float:
        """Minutes per unit of this distribution."""
        return UNIT_MINUTES[self.unit]


class Shift(_Model):
    """``count`` people working ``hours`` (local time) on ``days``."""

    count: Annotated[int, Field(ge=1)]
    days: list[str] = Field(min_length=1)
    hours: list[str] = Field(min_length=1)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for item in value:
            for part in item.lower().split("-"):
                if part.strip() not in WEEKDAYS:
                    raise ValueError(
                        f"{item!r} is not a weekday or range of weekdays "
                        "(use mon, tue, ..., sun or a range such as mon-fri)"
                    )
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        for item in value:
            _parse_hours(item)
        return value

    @property
    def weekdays(self) -> list[int]:
        """The shift's weekdays, 0 (Monday) to 6 (Sunday)."""
        out: set[int] = set()
        for item in self.days:
            parts = [p.strip() for p in item.lower().split("-")]
            first, last = WEEKDAYS.index(parts[0]), WEEKDAYS.index(parts[-1])
            span = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
            out.update(span)
        return sorted(out)

    @property
    def intervals(self) -> list[tuple[str, str]]:
        """The working intervals as ("HH:MM", "HH:MM") pairs."""
        return [_parse_hours(item) for item in self.hours]


def _parse_hours(item: str) -> tuple[str, str]:
    match = _HOURS.match(item.strip())
    if match is None:
        raise ValueError(f"{item!r} is not an interval such as '08:30-12:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > 24 * 60 or start >= end:
        raise ValueError(f"{item!r} must run forwards within one day (00:00 to 24:00)")
    return f"{h1:02d}:{m1:02d}", f"{h2:02d}:{m2:02d}"


class Role(_Model):
    """A kind of staff member: the candidate groups they serve and when they work."""

    groups: list[str] = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    seat: bool = False
    cost_per_hour: Annotated[float, Field(ge=0.0)] = 0.0
    paid: Literal["shift", "busy"] = "shift"
    works_holidays: bool = False
    holiday_duty: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    shifts: list[Shift] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_holiday_rule(self) -> Role:
        if self.works_holidays and self.holiday_duty:
            raise ValueError(
                "holiday_duty: the role already works_holidays (all of it); give one or the other"
            )
        return self

    def on_duty(self, count: int) -> int:
        """How many of a shift's ``count`` people keep working on public holidays."""
        return count if self.works_holidays else round(count * self.holiday_duty)


class Category(BaseModel):
    """A complaint category: its ``share`` of arrivals and free-form text fields
    (``l1``, ``department``...) that form templates read as ``{category.<field>}``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    share: Annotated[float, Field(gt=0.0)]

    @model_validator(mode="after")
    def _text_fields(self) -> Category:
        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, str):
                raise ValueError(f"field {key!r} must be text, got {value!r}")
        return self

    @property
    def fields(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.model_extra or {}).items()}


class FieldSpec(_Model):
    """How a form field is filled in: ``probability`` alone gives a boolean, ``choice``
    one of its keys by weight, ``value`` a number drawn from a distribution (with
    ``probability``: that number with that probability, else 0); ``round`` digits;
    ``staff`` the id of one member of that staff role, drawn at random (a dispatcher
    naming the engineer who goes on site)."""

    probability: Probability | None = None
    choice: dict[str, Weight] | None = None
    value: Distribution | None = None
    round: Annotated[int, Field(ge=0, le=6)] | None = None
    staff: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _combination(self) -> FieldSpec:
        if self.staff is not None:
            if self.probability is not None or self.value is not None or self.choice:
                raise ValueError("staff cannot be combined with probability, choice or value")
        elif self.choice is not None:
            if self.probability is not None or self.value is not None:
                raise ValueError("choice cannot be combined with probability or value")
            if not self.choice or sum(self.choice.values()) <= 0:
                raise ValueError("choice needs at least one option with a positive weight")
        elif self.probability is None and self.value is None:
            raise ValueError("give probability, choice, value or staff")
        if self.round is not None and self.value is None:
            raise ValueError("round applies to a value drawn from a distribution")
        return self


class Suspension(_Model):
    """After the first work on a task, the ticket is suspended (挂起) with ``probability``
    for ``duration`` (waiting for another system, site check or the customer); the same
    person then finishes it in ``finish`` minutes."""

    probability: Probability
    duration: Distribution
    finish: Distribution = Distribution(dist="constant", value=5.0)


class TaskSpec(_Model):
    """One user task of the process: handling time, follow-on, form data, suspension."""

    handling: Distribution
    follow_on: bool = False
    form: dict[str, FieldSpec | Literal_] = Field(default_factory=dict)
    suspend: Suspension | None = None


class Arrivals(_Model):
    """Poisson arrivals: the annual volume shaped by day-of-week and hour-of-day profiles."""

    annual_volume: Annotated[float, Field(gt=0.0)]
    weekday_profile: list[Weight] = Field(default_factory=lambda: [1.0] * 7)
    hourly_profile: list[Weight] = Field(default_factory=lambda: [1.0] * 24)
    channels: dict[str, Weight] = Field(min_length=1)
    tiers: dict[str, Weight] = Field(default_factory=lambda: {"ordinary": 1.0})
    customers: Annotated[int, Field(ge=1)] = 100_000

    @field_validator("weekday_profile")
    @classmethod
    def _week(cls, value: list[float]) -> list[float]:
        if len(value) != 7 or sum(value) <= 0:
            raise ValueError("give 7 weights (Monday to Sunday), not all zero")
        return value

    @field_validator("hourly_profile")
    @classmethod
    def _day(cls, value: list[float]) -> list[float]:
        if len(value) != 24 or sum(value) <= 0:
            raise ValueError("give 24 weights (00:00 to 23:00), not all zero")
        return value

    @field_validator("channels", "tiers")
    @classmethod
    def _mix(cls, value: dict[str, float]) -> dict[str, float]:
        if sum(value.values()) <= 0:
            raise ValueError("at least one weight must be positive")
        return value


class Callback(_Model):
    """The satisfaction a callback records: a score (0-100) minus ``penalty_per_hour`` for
    every hour since the complaint was opened (or last reopened), at most ``penalty_max``
    points; below ``satisfied_threshold`` the customer is unsatisfied and the ticket
    reopens."""

    score: Distribution = Distribution(dist="normal", mean=70.0, sd=15.0, min=0.0, max=100.0)
    penalty_per_hour: Annotated[float, Field(ge=0.0)] = 0.0
    penalty_max: Annotated[float, Field(ge=0.0)] | None = None
    satisfied_threshold: float = 60.0
    score_field: str = "score"


class Sla(_Model):
    """Time limits handed to the engine's :class:`~ticketflow.time.sla.SlaPolicy`."""

    enabled: bool = True
    ticket_hours: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"normal": 48.0, "urgent": 24.0, "critical": 8.0}
    )
    step_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.25
    reminders: list[Annotated[float, Field(gt=0.0, lt=1.0)]] = Field(default_factory=list)
    days: list[str] | None = None
    hours: list[str] | None = None

    @field_validator("ticket_hours")
    @classmethod
    def _urgencies(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - {"normal", "urgent", "critical"})
        if unknown:
            raise ValueError(
                f"unknown urgency {', '.join(unknown)}; use normal, urgent and critical"
            )
        return value

    @model_validator(mode="after")
    def _calendar(self) -> Sla:
        if (self.days is None) != (self.hours is None):
            raise ValueError("give both days and hours for the SLA calendar, or neither")
        if self.days is not None and self.hours is not None:
            Shift(count=1, days=self.days, hours=self.hours)
        return self


class Cost(_Model):
    """Costs beyond staff hours: management, office and other costs per ticket."""

    overhead_per_ticket: Annotated[float, Field(ge=0.0)] = 0.0
    currency: str = "yuan"


class Driver(_Model):
    """How the simulator talks to the engine.

    ``transactions = "call"``: every engine call is its own transaction, as a host
    application's request would be. ``"batch"``: the engine joins one host session that
    commits every ``commit_every_minutes`` (each call a SAVEPOINT inside it). Due jobs
    (SLA limits, BPMN timers) run every ``commit_every_minutes`` in either mode.
    """

    transactions: Literal["call", "batch"] = "call"
    commit_every_minutes: Annotated[float, Field(gt=0.0)] = 60.0
    claim: bool = True
    scoring: bool = True


class Kpis(_Model):
    """Which elements of the process the seed-specific figures read."""

    first_contact_ends: list[str] = Field(default_factory=lambda: ["end_front_desk"])
    preprocessing_tasks: list[str] = Field(default_factory=lambda: ["classify", "dispatch"])
    feedback_tasks: list[str] = Field(default_factory=lambda: ["reply"])
    transfer_from: str = "dispatch"
    transfer_to: str = "handle"


class Run(_Model):
    """The ``[scenario]`` table: what is simulated, from when, for how long."""

    name: str
    description: str = ""
    process: str = "complaint"
    processes: str = "processes"
    start: datetime
    timezone: str = "Asia/Shanghai"
    holidays: Literal["china", "none"] = "china"
    days: Annotated[int, Field(ge=1, le=3660)]
    warmup_days: Annotated[float, Field(ge=0.0)] = 0.0
    drain_days: Annotated[float, Field(ge=0.0)] = 14.0
    seed: int = 0
    scale: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, time(0))
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _window(self) -> Run:
        if self.warmup_days >= self.days:
            raise ValueError(
                f"warmup_days ({self.warmup_days:g}) must be shorter than days ({self.days})"
            )
        if self.start.tzinfo is not None:
            raise ValueError("start is a local date-time without offset (timezone says where)")
        return self


class Scenario(_Model):
    """A whole scenario file."""

    scenario: Run
    arrivals: Arrivals
    categories: dict[str, Category] = Field(min_length=1)
    staff: dict[str, Role] = Field(min_length=1)
    tasks: dict[str, TaskSpec] = Field(min_length=1)
    callback: Callback = Callback()
    sla: Sla = Sla()
    cost: Cost = Cost()
    engine: Driver = Driver()
    kpi: Kpis = Kpis()
    targets: dict[str, float] = Field(default_factory=dict)

    _path: Path | None = PrivateAttr(default=None)

    @field_validator("targets")
    @classmethod
    def _targets(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(TARGET_KEYS))
        if unknown:
            raise ValueError(
                f"unknown target {', '.join(unknown)}; known: {', '.join(TARGET_KEYS)}"
            )
        return value

    @model_validator(mode="after")
    def _channels(self) -> Scenario:
        from ticketflow.engine import CHANNELS

        unknown = sorted(set(self.arrivals.channels) - set(CHANNELS))
        if unknown:
            raise ValueError(
                f"arrivals.channels: unknown channel {', '.join(unknown)}; "
                f"known: {', '.join(CHANNELS)}"
            )
        return self

    @property
    def path(self) -> Path | None:
        """The file the scenario was loaded from (None when built in code)."""
        return self._path

    @property
    def name(self) -> str:
        return self.scenario.name

    def processes_path(self) -> Path:
        """The BPMN folder or file, relative to the scenario file."""
        folder = Path(self.scenario.processes)
        if not folder.is_absolute() and self._path is not None:
            folder = self._path.parent / folder
        return folder

    def with_run(self, **changes: Any) -> Scenario:
        """A validated copy with ``[scenario]`` keys changed (``days=7, seed=3``); None
        values are ignored."""
        return self.updated("scenario", **changes)

    def updated(self, section: str, **changes: Any) -> Scenario:
        """A validated copy with keys of one table changed (``updated("engine", claim=False)``)."""
        data = self.model_dump()
        data[section].update({k: v for k, v in changes.items() if v is not None})
        return _validate(data, self._path or Path("<scenario>"))

    def departments(self) -> list[str]:
        """Every ``department`` named by a category, in order of first mention."""
        found = [
            c.fields["department"] for c in self.categories.values() if "department" in c.fields
        ]
        return list(dict.fromkeys(found))

    def staff_members(self) -> list[tuple[str, int, str]]:
        """(role, shift index, staff id) of every simulated person at the run's scale.

        Ids are ``<role>-NN``, or ``<role>-<shift>-NN`` for a role with several shifts;
        they are the users who claim, complete and earn points in the store.
        """
        return [(name, n, wid) for name, n, wid, _ in self.staff_rota()]

    def staff_rota(self) -> list[tuple[str, int, str, bool]]:
        """:meth:`staff_members` with whether each person works public holidays: all of a
        role that ``works_holidays``, the first ``holiday_duty`` share of each shift of
        one that keeps a holiday duty rota (节假日值班), nobody of the others."""
        members = []
        for name, role in self.staff.items():
            for n, shift in enumerate(role.shifts):
                count = self.head_count(shift)
                for k in range(count):
                    tag = f"{n + 1}-{k + 1:02d}" if len(role.shifts) > 1 else f"{k + 1:02d}"
                    members.append((name, n, f"{name}-{tag}", k < role.on_duty(count)))
        return members

    def head_count(self, shift: Shift) -> int:
        """People on ``shift`` at the run's scale (rounded, at least one)."""
        return max(1, round(shift.count * self.scenario.scale))

    def expected_daily_arrivals(self) -> float:
        """Mean arrivals per day at this scenario's scale."""
        return self.arrivals.annual_volume / 365.0 * self.scenario.scale


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; :class:`ScenarioError` lists every problem.

    A file may start from another: ``base = "province_2011.toml"`` (relative to the file)
    loads that one first and merges this file's tables over it, key by key (arrays and
    values replace, tables merge).
    """
    file = Path(path)
    return _validate(_read(file, ()), file)


def parse_scenario(text: str, file: str | Path = "<scenario>") -> Scenario:
    """Validate scenario TOML ``text``; ``file`` is named in errors and anchors
    relative paths (also of ``base``)."""
    return _validate(_merge_base(_loads(text, Path(file)), Path(file), ()), Path(file))


def _read(file: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(file, [f"cannot be read: {exc.strerror or exc}"]) from None
    return _merge_base(_loads(text, file), file, chain)


def _loads(text: str, file: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(file, [f"not valid TOML: {exc}"]) from None
    return data


def _merge_base(data: dict[str, Any], file: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ScenarioError(file, [f"base: must be the path of a scenario file, got {base!r}"])
    path = (file.parent / base).resolve()
    if path in chain or path == file.resolve():
        raise ScenarioError(file, [f"base: {base} leads back to itself"])
    inherited = _read(path, (*chain, file.resolve()))
    _anchor_paths(inherited, path.parent, file.resolve().parent)
    return _deep_merge(inherited, data)


def _anchor_paths(data: dict[str, Any], folder: Path, into: Path) -> None:
    """Keep a base file's relative ``scenario.processes`` pointing where its author meant
    (next to the base file) when a scenario in another folder extends it."""
    table = data.get("scenario")
    if not isinstance(table, dict) or folder == into:
        return
    processes = table.get("processes")
    if isinstance(processes, str) and not Path(processes).is_absolute():
        table["processes"] = str((folder / processes).resolve())


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(data: Mapping[str, Any], file: Path) -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(file, [_describe(e) for e in exc.errors()]) from None
    scenario._path = file if file.name != "<scenario>" else None
    return scenario


def _describe(error: Mapping[str, Any]) -> str:
    loc = error.get("loc", ())
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-", "literal[")) or part in (
            "str",
            "bool",
            "int",
            "float",
            "FieldSpec",
        ):
            continue  # pydantic's names of union members, not keys of the file
        else:
            key += f".{part}" if key else str(part)
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown key (check the spelling; docs/simulation.md lists the keys)"
    elif error.get("type") == "missing":
        message = "required key is missing"
    got = error.get("input")
    if error.get("type") not in ("missing", "extra_forbidden") and not isinstance(
        got, (dict, list)
    ):
        message += f" (got {got!r})"
    return f"{key or '(top level)'}: {message}"


def weighted(mix: Mapping[str, float]) -> tuple[list[str], list[float]]:
    """Keys and normalised probabilities of a weight table."""
    keys = list(mix)
    total = float(sum(mix.values()))
    return keys, [mix[k] / total for k in keys]
