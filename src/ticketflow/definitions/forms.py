"""Form fields declared on user tasks, and validation of submitted form data.

Convention (Camunda's, so Camunda Modeler edits it in its form panel)::

    <bpmn:userTask id="callback" name="回访 Callback">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="satisfied" label="客户满意" type="boolean">
            <camunda:validation><camunda:constraint name="required" /></camunda:validation>
          </camunda:formField>
          <camunda:formField id="urgency" type="enum">
            <camunda:value id="normal" name="一般" />
            <camunda:value id="urgent" name="紧急" />
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
    </bpmn:userTask>

Types: ``string``, ``long``, ``double``, ``boolean``, ``date``, ``enum``. Constraints:
``required``, ``minlength``/``maxlength`` (strings), ``min``/``max`` (numbers).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FIELD_TYPES = ("string", "long", "double", "boolean", "date", "enum")
CONSTRAINTS = ("required", "minlength", "maxlength", "min", "max", "readonly")
#: Longest string any field accepts unless ``maxlength`` says otherwise.
DEFAULT_MAX_STRING = 10_000


@dataclass(frozen=True)
class FormField:
    """One declared field of a user task's form."""

    id: str
    type: str
    label: str | None = None
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    constraints: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "label": self.label,
            "required": self.required,
            "choices": [{"id": c, "name": n} for c, n in self.choices],
            "default": self.default,
        }


@dataclass(frozen=True)
class Form:
    """The fields of one user task; an empty form accepts no data."""

    fields: tuple[FormField, ...] = ()

    def validate(
        self, data: Mapping[str, Any], where: str, current: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Return the cleaned values; raise FormValidationError naming every bad field.

        An optional field left out keeps the value the ticket already has (``current``);
        if the ticket has none, it gets its declared default, or None, so conditions and
        scripts can always read it.
        """
        from ticketflow.errors import FormValidationError

        if not isinstance(data, Mapping):
            raise FormValidationError(
                where, {"*": f"form data must be a mapping, got {type(data).__name__}"}
            )
        known = {f.id: f for f in self.fields}
        errors: dict[str, str] = {}
        cleaned: dict[str, Any] = {}
        for name in data:
            if name not in known:
                declared = ", ".join(known) or "none"
                errors[str(name)] = f"not a field of this task (declared: {declared})"
        for f in self.fields:
            if f.id not in data or data[f.id] is None or data[f.id] == "":
                if f.required:
                    errors[f.id] = f"required ({f.type})"
                elif f.id not in data and current is not None and f.id in current:
                    pass  # left out: the ticket keeps what it has
                else:
                    cleaned[f.id] = coerce_field(f, f.default) if f.default is not None else None
                continue
            try:
                cleaned[f.id] = coerce_field(f, data[f.id])
            except ValueError as exc:
                errors[f.id] = str(exc)
        if errors:
            raise FormValidationError(where, errors)
        return cleaned


def coerce_field(f: FormField, value: Any) -> Any:
    """``value`` converted to the field's type; ValueError saying what is wrong."""
    kind = f.type
    if kind == "string":
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {type(value).__name__} {value!r}")
        limit = int(f.constraints.get("maxlength", DEFAULT_MAX_STRING))
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; at most {limit} allowed")
        minimum = int(f.constraints.get("minlength", 0))
        if len(value) < minimum:
            raise ValueError(f"is {len(value)} characters long; at least {minimum} required")
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"must be a boolean (true/false), got {value!r}")
    if kind == "long":
        if isinstance(value, bool):
            raise ValueError(f"must be an integer (long), got boolean {value!r}")
        if isinstance(value, int):
            number: float = value
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            number = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise ValueError(f"must be an integer (long), got {value!r}")
        return _bounded(f, int(number))
    if kind == "double":
        if isinstance(value, bool):
            raise ValueError(f"must be a number (double), got boolean {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number (double), got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number, got {value!r}")
        return _bounded(f, number)
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return (
                    dt.datetime.fromisoformat(value)
                    if "T" in value
                    else dt.date.fromisoformat(value)
                ).isoformat()
            except ValueError:
                pass
        raise ValueError(f"must be an ISO 8601 date (YYYY-MM-DD), got {value!r}")
    if kind == "enum":
        ids = [c for c, _ in f.choices]
        if not isinstance(value, str) or value not in ids:
            raise ValueError(f"must be one of {', '.join(ids)}; got {value!r}")
        return value
    raise ValueError(f"has unsupported type {kind!r}")  # pragma: no cover - refused at deploy


def _bounded(f: FormField, number: float) -> Any:
    low = f.constraints.get("min")
    high = f.constraints.get("max")
    if low is not None and number < float(low):
        raise ValueError(f"must be at least {low}, got {number}")
    if high is not None and number > float(high):
        raise ValueError(f"must be at most {high}, got {number}")
    return number
