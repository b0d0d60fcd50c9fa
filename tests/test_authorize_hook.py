"""The authorize hook: host plugins are asked before the built-in policy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import ticketflow
from ticketflow import Engine, PermissionDeniedError, User

from .conftest import PROCESSES, Staff
from .journeys import open_complaint


class VipNeedsTeamLead:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []

    @ticketflow.hookimpl
    def ticketflow_authorize(self, user, action, ticket, task):  # type: ignore[no-untyped-def]
        self.calls.append((user.id, action, task.element_id if task else None))
        if action == "complete" and ticket.customer_tier == "vip":
            return "team_lead" in user.roles
        return None


class FrontDeskForEveryone:
    @ticketflow.hookimpl
    def ticketflow_authorize(self, user, action, ticket, task):  # type: ignore[no-untyped-def]
        if task is not None and task.element_id == "front_desk":
            return True
        return None


def test_host_plugin_can_deny_what_the_default_allows(make_engine: Callable[..., Engine]) -> None:
    plugin = VipNeedsTeamLead()
    engine = make_engine(plugins=[plugin])
    engine.deploy(PROCESSES)
    vip = open_complaint(engine, customer_tier="vip")
    with pytest.raises(PermissionDeniedError, match="may not complete"):
        engine.complete(vip.task("front_desk").id, Staff.agent, {"resolved": True})
    lead = User.of("team.lead", groups=["intake_agent"], roles=["team_lead"])
    assert engine.complete(vip.task("front_desk").id, lead, {"resolved": True}).status == "closed"
    ordinary = open_complaint(engine, customer_tier="ordinary")
    assert (
        engine.complete(ordinary.task("front_desk").id, Staff.agent, {"resolved": True}).status
        == "closed"
    )
    assert ("li.na", "complete", "front_desk") in plugin.calls


def test_host_plugin_can_allow_what_the_default_denies(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(plugins=[FrontDeskForEveryone()])
    engine.deploy(PROCESSES)
    ticket = open_complaint(engine)
    ticket = engine.complete(ticket.task("front_desk").id, Staff.outsider, {"resolved": False})
    with pytest.raises(PermissionDeniedError):
        engine.complete(
            ticket.task("record").id, Staff.outsider, {"description": "x", "urgency": "normal"}
        )


def test_default_plugin_is_registered_and_replaceable(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    names = [name for name, _ in engine.plugins.list_name_plugin()]
    assert "ticketflow.authorize" in names
    engine.plugins.unregister(name="ticketflow.authorize")
    engine.deploy(PROCESSES)
    ticket = open_complaint(engine)
    with pytest.raises(PermissionDeniedError, match="may not claim"):
        engine.claim(ticket.task("front_desk").id, Staff.agent)
