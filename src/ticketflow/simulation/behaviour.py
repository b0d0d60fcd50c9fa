"""What simulated people do: draw handling times, fill in forms, judge a callback.

Everything random comes from a numpy ``Generator`` handed in by the caller; each ticket
has a stream of its own, so two scenarios run with the same seed see the same
complaints (channel, category, decisions) and differ only where their settings differ.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ticketflow.definitions.model import UserTaskInfo
from ticketflow.simulation.scenario import (
    Callback,
    Category,
    Distribution,
    FieldSpec,
    Scenario,
    ScenarioError,
    weighted,
)

if TYPE_CHECKING:
    from numpy.random import Generator

_FORMATTER = string.Formatter()


def sample(dist: Distribution, rng: Generator) -> float:
    """One draw of ``dist`` in its own unit, clipped to ``min`` / ``max``."""
    mean, sd = float(dist.mean or 0.0), float(dist.sd or 0.0)
    low, high = float(dist.low or 0.0), float(dist.high or 0.0)
    if dist.dist == "constant":
        value = float(dist.value or 0.0)
    elif dist.dist == "exponential":
        value = float(rng.exponential(mean))
    elif dist.dist == "lognormal":
        sigma2 = math.log1p((sd / mean) ** 2)
        value = float(rng.lognormal(math.log(mean) - sigma2 / 2, math.sqrt(sigma2)))
    elif dist.dist == "normal":
        value = float(rng.normal(mean, sd))
    elif dist.dist == "triangular":
        value = float(rng.triangular(low, float(dist.mode or 0.0), high))
    else:
        value = float(rng.uniform(low, high))
    if dist.min is not None:
        value = max(value, dist.min)
    if dist.max is not None:
        value = min(value, dist.max)
    return value


def minutes(dist: Distribution, rng: Generator) -> float:
    """A duration drawn from ``dist``, in minutes (never negative)."""
    return max(sample(dist, rng), 0.0) * dist.in_minutes


def pick(mix: Mapping[str, float], rng: Generator) -> str:
    """A key of a weight table, drawn by weight."""
    keys, probs = weighted(mix)
    return keys[int(rng.choice(len(keys), p=probs))]


@dataclass(frozen=True)
class Complaint:
    """What the simulator knows of a complaint before the engine does."""

    index: int
    customer: str
    channel: str
    tier: str
    category_key: str
    category: Category


def draw_complaint(index: int, scenario: Scenario, rng: Generator) -> Complaint:
    """The complaint's customer, channel, tier and (true) category."""
    arrivals = scenario.arrivals
    key = pick({k: c.share for k, c in scenario.categories.items()}, rng)
    return Complaint(
        index=index,
        customer=f"C{int(rng.integers(arrivals.customers)) + 1:07d}",
        channel=pick(arrivals.channels, rng),
        tier=pick(arrivals.tiers, rng),
        category_key=key,
        category=scenario.categories[key],
    )


class FormFiller:
    """Form data for each user task, from the scenario's ``[tasks.<id>.form]`` tables."""

    def __init__(self, scenario: Scenario, tasks: Mapping[str, UserTaskInfo]) -> None:
        self.scenario = scenario
        self.tasks = tasks
        self.departments = scenario.departments()
        self.members: dict[str, list[str]] = {}
        for role, _, staff_id in scenario.staff_members():
            self.members.setdefault(role, []).append(staff_id)
        self._check()

    def _check(self) -> None:
        """Every configured task and field exists; every template names known values."""
        problems: list[str] = []
        missing = sorted(set(self.tasks) - set(self.scenario.tasks))
        if missing:
            problems.append(
                f"tasks: no settings for user task {', '.join(missing)} of process "
                f"'{self.scenario.scenario.process}' (add a [tasks.<id>] table for each)"
            )
        for element, spec in self.scenario.tasks.items():
            info = self.tasks.get(element)
            if info is None:
                problems.append(
                    f"tasks.{element}: process '{self.scenario.scenario.process}' has no user "
                    f"task '{element}' (its user tasks: {', '.join(sorted(self.tasks))})"
                )
                continue
            fields = {f.id: f for f in info.form.fields}
            for name, value in spec.form.items():
                where = f"tasks.{element}.form.{name}"
                form_field = fields.get(name)
                if form_field is None:
                    problems.append(
                        f"{where}: task '{element}' has no form field '{name}' "
                        f"(its fields: {', '.join(fields) or 'none'})"
                    )
                    continue
                if isinstance(value, FieldSpec) and value.staff and value.staff not in self.members:
                    problems.append(
                        f"{where}: no staff role '{value.staff}' "
                        f"(roles: {', '.join(sorted(self.members))})"
                    )
                if isinstance(value, FieldSpec) and value.choice and form_field.choices:
                    allowed = {c for c, _ in form_field.choices}
                    wrong = sorted(set(value.choice) - allowed)
                    if wrong:
                        problems.append(
                            f"{where}: {', '.join(wrong)} is not an option of '{name}' "
                            f"(options: {', '.join(sorted(allowed))})"
                        )
                if isinstance(value, str):
                    problems += self._check_template(where, value)
                    options = {c for c, _ in form_field.choices}
                    if options and "{" not in value and value not in options:
                        problems.append(
                            f"{where}: {value!r} is not an option of '{name}' "
                            f"(options: {', '.join(sorted(options))})"
                        )
        if problems:
            raise ScenarioError(self.scenario.path or "<scenario>", problems)

    def _check_template(self, where: str, text: str) -> list[str]:
        known = {"category", "channel", "tier", "customer", "ticket", "data", "other_department"}
        problems = []
        try:
            names = [field for _, field, _, _ in _FORMATTER.parse(text) if field is not None]
        except ValueError as exc:
            return [f"{where}: bad template {text!r}: {exc}"]
        for field in names:
            root = field.split(".")[0].split("[")[0]
            if root not in known:
                problems.append(
                    f"{where}: unknown template name {{{field}}} (known: "
                    f"{', '.join(sorted(known))})"
                )
            elif root == "category":
                attr = field.partition(".")[2]
                for key, category in self.scenario.categories.items():
                    if attr and attr not in category.fields:
                        problems.append(
                            f"{where}: category '{key}' has no field '{attr}' for {{{field}}}"
                        )
        return problems

    def fill(
        self,
        element: str,
        complaint: Complaint,
        ticket_number: str,
        data: Mapping[str, Any],
        rng: Generator,
    ) -> dict[str, Any]:
        """The form data a simulated person submits for ``element``."""
        out: dict[str, Any] = {}
        context: dict[str, Any] | None = None
        for name, spec in self.scenario.tasks[element].form.items():
            if isinstance(spec, FieldSpec):
                out[name] = self._draw(spec, rng)
            elif isinstance(spec, str):
                if context is None:
                    context = self._context(complaint, ticket_number, data, rng)
                out[name] = spec.format_map(context)
            else:
                out[name] = spec
        return out

    def _context(
        self, complaint: Complaint, number: str, data: Mapping[str, Any], rng: Generator
    ) -> dict[str, Any]:
        current = data.get("department")
        others = [d for d in self.departments if d != current] or self.departments
        return {
            "category": SimpleNamespace(key=complaint.category_key, **complaint.category.fields),
            "channel": complaint.channel,
            "tier": complaint.tier,
            "customer": complaint.customer,
            "ticket": number,
            "data": dict(data),
            "other_department": others[int(rng.integers(len(others)))] if others else "",
        }

    def _draw(self, spec: FieldSpec, rng: Generator) -> Any:
        if spec.staff is not None:
            members = self.members[spec.staff]
            return members[int(rng.integers(len(members)))]
        if spec.choice is not None:
            return pick(spec.choice, rng)
        hit = spec.probability is None or bool(rng.random() < spec.probability)
        if spec.value is None:
            return hit
        if not hit:
            return 0 if spec.round == 0 else 0.0
        value = sample(spec.value, rng)
        if spec.round is None:
            return value
        return round(value) if spec.round == 0 else round(value, spec.round)


def callback_result(
    settings: Callback, hours_open: float, info: UserTaskInfo, rng: Generator
) -> dict[str, Any]:
    """Score and satisfied flag of a callback (回访) after ``hours_open`` hours.

    The waiting penalty is ``penalty_per_hour`` per hour, capped at ``penalty_max``.

    The flag is the field the task's ``ticketflow.callback`` expression reads: ``satisfied``
    (the default) is true when the score reaches the threshold; ``not problem`` sets
    ``problem`` true when it does not. Other expressions read the score itself.
    """
    penalty = settings.penalty_per_hour * hours_open
    if settings.penalty_max is not None:
        penalty = min(penalty, settings.penalty_max)
    score = sample(settings.score, rng) - penalty
    score = min(max(score, 0.0), 100.0)
    out: dict[str, Any] = {settings.score_field: round(score)}
    satisfied = score >= settings.satisfied_threshold
    # Read as the engine reads it (Engine._satisfaction).
    flag = info.callback or "satisfied"
    negated = flag.split(None, 1)
    if len(negated) == 2 and negated[0] == "not" and negated[1].isidentifier():
        out[negated[1]] = not satisfied
    elif flag.isidentifier():
        out[flag] = satisfied
    return out
