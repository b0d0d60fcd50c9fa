"""SpiffWorkflow's script engine, with every evaluation routed to the safe evaluator."""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from ticketflow.runtime import expressions
from ticketflow.runtime.timers import is_iso_literal


class SafeEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """Conditions and scripts run in :mod:`ticketflow.runtime.expressions`, never ``eval``."""

    def evaluate(
        self,
        expression: str,
        context: dict[str, Any],
        external_context: dict[str, Any] | None = None,
    ) -> Any:
        if is_iso_literal(expression):  # timer text written as in Camunda Modeler: PT4H
            return expression.strip()
        names = dict(context)
        if external_context:
            names.update(external_context)
        return expressions.evaluate(expressions.strip_el(expression), names)

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None
    ) -> bool:
        expressions.execute(script, context)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise expressions.ExpressionError(
            str(kwargs.get("operation_name", "service task")),
            "service tasks are performed by connector plugins, not by the script engine",
            kind="runtime",
        )


class SafeScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    """A script engine whose only environment is :class:`SafeEnvironment`."""

    def __init__(self) -> None:
        super().__init__(environment=SafeEnvironment())

    def validate(self, expression: str) -> None:
        expressions.check_expression(expressions.strip_el(expression))


SAFE_SCRIPT_ENGINE = SafeScriptEngine()
