"""examples/rest_service: the REST API, its web worklist in Chromium, and its OpenAPI schema.

The API tests use FastAPI's TestClient on the ``db_url`` database (SQLite, or PostgreSQL
with TICKETFLOW_TEST_DATABASE_URL). They need ``pip install -e examples/rest_service``
(fastapi, uvicorn) and the test tools httpx and schemathesis: without them they skip,
unless TICKETFLOW_REQUIRE_EXAMPLES=1 (as in CI), when they fail instead. The browser test
starts the service as a newcomer would (``python -m ticketflow_rest``) and drives the
worklist with Playwright in Debian's /usr/bin/chromium (TICKETFLOW_CHROMIUM names another);
it skips without them unless TICKETFLOW_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ticketflow import Engine, FixedClock, InvalidDataError
from ticketflow.time.sla import SlaPolicy

from .conftest import PROCESSES, ROOT

REQUIRE_EXAMPLES = os.environ.get("TICKETFLOW_REQUIRE_EXAMPLES") == "1"
REQUIRE_BROWSER = os.environ.get("TICKETFLOW_REQUIRE_BROWSER") == "1"
EXAMPLE = ROOT / "examples" / "rest_service"

try:
    with warnings.catch_warnings():  # starlette's notice that it prefers httpx2 to httpx
        warnings.filterwarnings("ignore", message=".*httpx.*")
        from fastapi.testclient import TestClient

    from ticketflow_rest import Settings, create_app
    from ticketflow_rest.directory import Directory, hash_password
    from ticketflow_rest.settings import DEMO_USERS
except ImportError as exc:  # pragma: no cover - depends on the environment
    _reason = f"the rest_service example is not installed ({exc}); run: pip install -e examples/rest_service"
    if REQUIRE_EXAMPLES:
        pytest.fail(f"TICKETFLOW_REQUIRE_EXAMPLES=1 but {_reason}", pytrace=False)
    pytest.skip(_reason, allow_module_level=True)

PASSWORD = "ticketflow"  # every demo user's password (users.toml stores only hashes)
Client = TestClient
Headers = dict[str, str]


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture
def rest_engine(make_engine: Callable[..., Engine]) -> Engine:
    """An engine on the test database with the default SLA policy, on the fixed clock."""
    return make_engine(sla=SlaPolicy())


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, processes=PROCESSES, job_interval=0)


@pytest.fixture
def client(rest_engine: Engine, settings: Settings) -> Iterator[Client]:
    with TestClient(create_app(settings, engine=rest_engine)) as test_client:
        yield test_client


def login(client: Client, user: str, password: str = PASSWORD) -> Headers:
    answer = client.post("/api/login", json={"user": user, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def error(response: Any, status: int, kind: str) -> str:
    """Check an error answer's status and kind; return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == kind, body
    assert body["message"]
    return str(body["message"])


def open_complaint(client: Client, headers: Headers, **extra: Any) -> dict[str, Any]:
    body = {
        "process_id": "complaint",
        "customer": "C-10086",
        "channel": "hotline",
        "subject": "话费多扣 charged twice",
        "data": {"summary": "话费多扣 charged twice"},
        **extra,
    }
    return ok(client.post("/api/tickets", json=body, headers=headers), 201)  # type: ignore[no-any-return]


def task_at(ticket: dict[str, Any], element: str) -> dict[str, Any]:
    for task in ticket["open_tasks"]:
        if task["element_id"] == element:
            return task  # type: ignore[no-any-return]
    waiting = [t["element_id"] for t in ticket["open_tasks"]]
    raise AssertionError(f"ticket {ticket['number']} waits at {waiting}, not at {element}")


def complete(
    client: Client, headers: Headers, task: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    answer = client.post(f"/api/tasks/{task['id']}/complete", json={"data": data}, headers=headers)
    return ok(answer)  # type: ignore[no-any-return]


# --- login and the user directory ---------------------------------------------------------


def test_login_gives_a_token_for_the_users_groups(client: Client) -> None:
    answer = ok(client.post("/api/login", json={"user": "zhou.min", "password": PASSWORD}))
    assert answer["token_type"] == "bearer" and len(answer["access_token"]) >= 40
    assert answer["user"] == {
        "id": "zhou.min",
        "name": "周敏 Zhou Min",
        "groups": ["back_office", "supervisor", "team_lead"],
        "roles": ["supervisor"],
        "region": None,
    }
    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    assert ok(client.get("/api/me", headers=headers))["id"] == "zhou.min"


@pytest.mark.parametrize(
    ("user", "password"), [("li.na", "wrong"), ("nobody", PASSWORD), ("li.na", PASSWORD.upper())]
)
def test_login_refuses_wrong_credentials(client: Client, user: str, password: str) -> None:
    answer = client.post("/api/login", json={"user": user, "password": password})
    assert error(answer, 401, "NotAuthenticated") == "unknown user or wrong password"
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_requests_without_a_valid_token_are_401(client: Client) -> None:
    assert "log in first" in error(client.get("/api/tasks"), 401, "NotAuthenticated")
    bad = {"Authorization": "Bearer not-a-token"}
    assert "unknown token" in error(client.get("/api/tasks", headers=bad), 401, "NotAuthenticated")
    basic = {"Authorization": "Basic bGkubmE6dGlja2V0Zmxvdw=="}
    error(client.get("/api/me", headers=basic), 401, "NotAuthenticated")
    headers = login(client, "li.na")
    assert client.post("/api/logout", headers=headers).status_code == 204
    error(client.get("/api/me", headers=headers), 401, "NotAuthenticated")


def test_tokens_expire(rest_engine: Engine, settings: Settings) -> None:
    app = create_app(replace(settings, token_hours=0.0001), engine=rest_engine)  # 0.36 s
    with TestClient(app) as short:
        headers = login(short, "li.na")
        ok(short.get("/api/me", headers=headers))
        time.sleep(0.5)
        assert "expired" in error(short.get("/api/me", headers=headers), 401, "NotAuthenticated")


def test_demo_directory_stores_only_password_hashes() -> None:
    text = DEMO_USERS.read_text(encoding="utf-8")
    assert not re.search(r'password\s*=\s*"(?!scrypt\$)', text)
    directory = Directory.load(DEMO_USERS)
    groups = set().union(*(a.user.groups for a in directory))
    lanes = {"intake_agent", "back_office", "dept_billing", "callback_agent", "team_lead"}
    lanes |= {"dept_manager", "centre_director", "difficult_team", "call_center", "engineer"}
    assert lanes <= groups
    assert directory.authenticate("li.na", PASSWORD) is not None
    assert directory.authenticate("li.na", "ticketflow ") is None


def test_directory_refuses_plain_passwords_and_names_the_user(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    path.write_text('[users."li.na"]\ngroups = ["intake_agent"]\npassword = "secret"\n')
    with pytest.raises(
        InvalidDataError, match=r'users\.toml: \[users\."li\.na"\]: password: not a hash'
    ):
        Directory.load(path)
    path.write_text(
        f'[users."li.na"]\ngroups = "intake_agent"\npassword = "{hash_password("x")}"\n'
    )
    with pytest.raises(InvalidDataError, match="groups must be a list of names"):
        Directory.load(path)


def test_settings_from_the_environment_name_bad_values(tmp_path: Path) -> None:
    env = {
        "TICKETFLOW_REST_DATABASE_URL": "sqlite:///x.db",
        "TICKETFLOW_REST_PROCESSES": str(tmp_path),
        "TICKETFLOW_REST_JOB_INTERVAL": "2.5",
        "TICKETFLOW_REST_AUTO_MIGRATE": "1",
        "TICKETFLOW_REST_SLA": "0",
    }
    settings = Settings.from_env(env)
    assert settings.database_url == "sqlite:///x.db" and settings.processes == tmp_path
    assert settings.job_interval == 2.5 and settings.auto_migrate is True and settings.sla is False
    assert Settings.from_env({}).processes == PROCESSES
    with pytest.raises(InvalidDataError, match="TICKETFLOW_REST_JOB_INTERVAL must be a number"):
        Settings.from_env({"TICKETFLOW_REST_JOB_INTERVAL": "often"})
    with pytest.raises(InvalidDataError, match="TICKETFLOW_REST_SLA must be 1 or 0"):
        Settings.from_env({"TICKETFLOW_REST_SLA": "maybe"})
    with pytest.raises(InvalidDataError, match="TICKETFLOW_REST_PROCESSES"):
        create_app(replace(settings, processes=tmp_path / "missing"))


# --- a complaint from intake to close -----------------------------------------------------


def test_complaint_from_intake_to_close_through_the_api(client: Client) -> None:
    agent, office = login(client, "li.na"), login(client, "wang.wei")
    billing, callback = login(client, "zhao.lei"), login(client, "chen.jing")

    ticket = open_complaint(client, agent)
    number = ticket["number"]
    assert number.startswith("TS-") and ticket["status"] == "open"
    assert ticket["opened_by"] == "li.na"
    front = task_at(ticket, "front_desk")
    assert front["candidate_groups"] == ["intake_agent"] and front["sla"] == "green"
    assert {f["id"]: f["type"] for f in front["form"]} == {
        "resolved": "boolean",
        "reply": "string",
        "note": "string",
    }

    queue = ok(client.get("/api/tasks", params={"scope": "queue"}, headers=agent))
    assert [t["id"] for t in queue["items"]] == [front["id"]]
    claimed = ok(client.post(f"/api/tasks/{front['id']}/claim", headers=agent))
    assert claimed["assignee"] == "li.na"
    mine = ok(client.get("/api/tasks", params={"scope": "mine"}, headers=agent))
    assert [t["id"] for t in mine["items"]] == [front["id"]]
    assert ok(client.get("/api/tasks", params={"scope": "queue"}, headers=agent))["total"] == 0

    ticket = complete(client, agent, front, {"resolved": False})
    ticket = complete(
        client,
        agent,
        task_at(ticket, "record"),
        {"description": "本月话费多扣 30 元 charged 30 yuan twice", "urgency": "normal"},
    )
    ticket = complete(
        client,
        office,
        task_at(ticket, "classify"),
        {
            "category_l1": "计费 billing",
            "category_l2": "话费 fees",
            "category_l3": "多扣 overcharge",
        },
    )
    ticket = complete(client, office, task_at(ticket, "dispatch"), {"department": "dept_billing"})
    handle = task_at(ticket, "handle")
    assert handle["candidate_groups"] == ["dept_billing"]
    queue = ok(client.get("/api/tasks", params={"scope": "queue"}, headers=billing))
    assert [t["id"] for t in queue["items"]] == [handle["id"]]

    ticket = complete(client, billing, handle, {"outcome": "resolved", "result": "退费 refunded"})
    ticket = complete(client, billing, task_at(ticket, "reply"), {"reply": "已退还 30 元"})
    back = task_at(ticket, "callback")
    assert back["candidate_groups"] == ["callback_agent"]
    ticket = complete(client, callback, back, {"satisfied": True, "score": 90, "comment": "满意"})

    assert ticket["status"] == "closed" and ticket["end_element"] == "end_closed"
    assert ticket["open_tasks"] == [] and ticket["data"]["satisfied"] is True
    shown = ok(client.get(f"/api/tickets/{number}", headers=agent))
    assert shown["data"]["category_l1"] == "计费 billing"
    history = ok(client.get(f"/api/tickets/{number}/history", headers=agent))
    completed = [(e["element_id"], e["actor"]) for e in history if e["kind"] == "task_completed"]
    assert completed == [
        ("front_desk", "li.na"),
        ("record", "li.na"),
        ("classify", "wang.wei"),
        ("dispatch", "wang.wei"),
        ("handle", "zhao.lei"),
        ("reply", "zhao.lei"),
        ("callback", "chen.jing"),
    ]
    assert history[-1]["kind"] == "ticket_closed"
    progress = ok(client.get(f"/api/tickets/{number}/progress", headers=agent))
    assert progress["waiting"] == [] and progress["end_element"] == "end_closed"
    assert progress["passed"][0] == "start_intake" and progress["passed"][-1] == "end_closed"
    assert {"front_desk", "gw_front_desk", "record", "callback", "gw_callback"} <= set(
        progress["passed"]
    )
    assert "end_front_desk" not in progress["passed"]
    done = ok(
        client.get(
            "/api/tasks",
            params={"scope": "all", "ticket": number, "state": "completed", "order_by": "id"},
            headers=agent,
        )
    )
    assert [t["element_id"] for t in done["items"]][-1] == "callback"


def test_unsatisfied_callback_reopens_handling(client: Client) -> None:
    agent, office = login(client, "li.na"), login(client, "wang.wei")
    billing, callback = login(client, "zhao.lei"), login(client, "chen.jing")
    ticket = open_complaint(client, agent)
    ticket = complete(client, agent, task_at(ticket, "front_desk"), {"resolved": False})
    ticket = complete(
        client, agent, task_at(ticket, "record"), {"description": "信号差", "urgency": "urgent"}
    )
    ticket = complete(
        client,
        office,
        task_at(ticket, "classify"),
        {"category_l1": "网络", "category_l2": "信号", "category_l3": "弱覆盖"},
    )
    ticket = complete(client, office, task_at(ticket, "dispatch"), {"department": "dept_billing"})
    ticket = complete(client, billing, task_at(ticket, "handle"), {"outcome": "resolved"})
    ticket = complete(client, billing, task_at(ticket, "reply"), {"reply": "已处理"})
    ticket = complete(client, callback, task_at(ticket, "callback"), {"satisfied": False})
    assert ticket["status"] == "open" and ticket["data"]["reopen_count"] == 1
    assert task_at(ticket, "handle")["candidate_groups"] == ["dept_billing"]
    progress = ok(client.get(f"/api/tickets/{ticket['number']}/progress", headers=agent))
    assert progress["waiting"] == ["handle"] and "reopen" in progress["passed"]


def test_progress_of_a_called_process_shows_on_its_call_activity(client: Client) -> None:
    agent = login(client, "li.na")
    ticket = ok(
        client.post(
            "/api/tickets",
            json={"process_id": "repair", "customer": "C-7", "channel": "hotline"},
            headers=agent,
        ),
        201,
    )
    ticket = complete(
        client, agent, task_at(ticket, "phone_support"), {"fault": "无信号", "solved": False}
    )
    assert task_at(ticket, "dispatch_region")["process_id"] == "repair"  # a task of onsite_service
    progress = ok(client.get(f"/api/tickets/{ticket['number']}/progress", headers=agent))
    assert progress["waiting"] == ["onsite"]
    assert progress["passed"][:3] == ["start_repair", "phone_support", "gw_repair_solved"]
    assert "dispatch_region" not in progress["passed"] + progress["waiting"]


# --- errors as HTTP statuses --------------------------------------------------------------


def test_ticketflow_errors_map_to_http_statuses(client: Client) -> None:
    agent, office = login(client, "li.na"), login(client, "wang.wei")
    ticket = open_complaint(client, agent)
    front = task_at(ticket, "front_desk")

    # 404: ticket, task, process
    assert "does not exist" in error(
        client.get("/api/tickets/TS-00000000-999999", headers=agent), 404, "TicketNotFoundError"
    )
    error(client.get("/api/tasks/999999", headers=agent), 404, "TaskNotFoundError")
    message = error(
        client.post(
            "/api/tickets",
            json={"process_id": "nope", "customer": "C1", "channel": "hotline"},
            headers=agent,
        ),
        404,
        "UnknownProcessError",
    )
    assert "unknown process 'nope'" in message

    # 403: ticketflow's authorization (not in a candidate group)
    message = error(
        client.post(f"/api/tasks/{front['id']}/claim", headers=office), 403, "PermissionDeniedError"
    )
    assert message == (
        f"user 'wang.wei' may not claim task {front['id']} 'front_desk' of ticket "
        f"{ticket['number']}: the user is in none of its candidate groups (intake_agent)"
    )

    # 422: form data (with the offending fields), bad data, bad request
    answer = client.post(f"/api/tasks/{front['id']}/complete", json={"data": {}}, headers=agent)
    error(answer, 422, "FormValidationError")
    assert answer.json()["fields"] == {"resolved": "required (boolean)"}
    answer = client.post(
        f"/api/tasks/{front['id']}/complete",
        json={"data": {"resolved": "perhaps", "colour": "red"}},
        headers=agent,
    )
    assert set(error(answer, 422, "FormValidationError").split("field ")[1:]) and set(
        answer.json()["fields"]
    ) == {"resolved", "colour"}
    message = error(
        client.post(
            "/api/tickets",
            json={"process_id": "complaint", "customer": "C1", "channel": "pigeon"},
            headers=agent,
        ),
        422,
        "InvalidDataError",
    )
    assert "unknown channel 'pigeon'" in message
    answer = client.post("/api/tickets", json={"customer": "C1"}, headers=agent)
    assert "process_id" in error(answer, 422, "RequestValidationError")
    error(client.get("/api/tasks/0", headers=agent), 422, "RequestValidationError")
    naive = {"due_before": "2026-01-05T10:00:00"}
    error(client.get("/api/tasks", params=naive, headers=agent), 422, "RequestValidationError")
    nul = {"process_id": "complaint", "customer": "C\x001", "channel": "hotline"}
    assert "NUL" in error(
        client.post("/api/tickets", json=nul, headers=agent), 422, "RequestValidationError"
    )

    # 409: task state
    ok(client.post(f"/api/tasks/{front['id']}/claim", headers=agent))
    zhou = login(client, "zhou.min")
    other_agent = open_complaint(client, agent)  # a second ticket, to try a claimed task
    ok(client.post(f"/api/tasks/{task_at(other_agent, 'front_desk')['id']}/claim", headers=agent))
    message = error(
        client.post(f"/api/tasks/{front['id']}/unclaim", headers=office),
        403,
        "PermissionDeniedError",
    )
    assert "it is assigned to 'li.na'" in message
    complete(client, agent, front, {"resolved": True, "reply": "已解释"})
    message = error(
        client.post(f"/api/tasks/{front['id']}/complete", json={"data": {}}, headers=agent),
        409,
        "TaskStateError",
    )
    assert "it is already completed by 'li.na'" in message
    error(client.post(f"/api/tasks/{front['id']}/claim", headers=zhou), 409, "TaskStateError")


def test_region_scope_is_enforced_by_ticketflow(client: Client) -> None:
    agent, office = login(client, "li.na"), login(client, "wang.wei")
    north = login(client, "sun.li")  # dept_network, region north
    tickets = {}
    for region in ("north", "south"):
        ticket = open_complaint(client, agent, region=region)
        ticket = complete(client, agent, task_at(ticket, "front_desk"), {"resolved": False})
        ticket = complete(
            client, agent, task_at(ticket, "record"), {"description": "断网", "urgency": "normal"}
        )
        ticket = complete(
            client,
            office,
            task_at(ticket, "classify"),
            {"category_l1": "网络", "category_l2": "宽带", "category_l3": "断网"},
        )
        tickets[region] = complete(
            client, office, task_at(ticket, "dispatch"), {"department": "dept_network"}
        )
    queue = ok(
        client.get("/api/tasks", params={"scope": "queue", "region": "north"}, headers=north)
    )
    assert [t["ticket_number"] for t in queue["items"]] == [tickets["north"]["number"]]
    south = task_at(tickets["south"], "handle")
    message = error(
        client.post(f"/api/tasks/{south['id']}/claim", headers=north), 403, "PermissionDeniedError"
    )
    assert "the ticket is in region 'south', the user in 'north'" in message
    ok(client.post(f"/api/tasks/{task_at(tickets['north'], 'handle')['id']}/claim", headers=north))


def test_suspend_needs_a_supervisor_and_blocks_the_tasks(client: Client) -> None:
    agent, supervisor = login(client, "li.na"), login(client, "zhou.min")
    ticket = open_complaint(client, agent)
    number, front = ticket["number"], task_at(ticket, "front_desk")
    message = error(
        client.post(f"/api/tickets/{number}/suspend", json={}, headers=agent),
        403,
        "PermissionDeniedError",
    )
    assert "this needs the supervisor role" in message
    suspended = ok(
        client.post(
            f"/api/tickets/{number}/suspend", json={"reason": "等待客户资料"}, headers=supervisor
        )
    )
    assert suspended["status"] == "suspended"
    assert "is suspended" in error(
        client.post(f"/api/tasks/{front['id']}/claim", headers=agent), 409, "TaskStateError"
    )
    error(
        client.post(f"/api/tickets/{number}/suspend", json={}, headers=supervisor),
        409,
        "TaskStateError",
    )
    assert (
        ok(client.post(f"/api/tickets/{number}/resume", json={}, headers=supervisor))["status"]
        == "open"
    )
    ok(client.post(f"/api/tasks/{front['id']}/claim", headers=agent))


def test_database_failure_is_503(tmp_path: Path) -> None:
    # An SQLite file of its own on every backend: it can be taken away under the service.
    db = tmp_path / "gone.db"
    settings = Settings(database_url=f"sqlite:///{db}", processes=PROCESSES, job_interval=0)
    engine = Engine(settings.database_url, auto_migrate=True)
    try:
        with TestClient(create_app(settings, engine=engine)) as client:
            headers = login(client, "li.na")
            ok(client.get("/api/tasks", headers=headers))
            engine.bind.dispose()
            db.unlink()  # the next connection finds an empty database: no tables
            answer = client.get("/api/tasks", headers=headers)
            assert "nothing was saved" in error(answer, 503, "DatabaseUnavailableError")
    finally:
        engine.close()


# --- worklists, SLA colours, definitions --------------------------------------------------


def test_worklist_filters_and_paging(client: Client, clock: FixedClock) -> None:
    agent = login(client, "li.na")
    opened = []
    for region in ("north", "south", "north"):
        opened.append(open_complaint(client, agent, region=region))
        clock.advance(minutes=10)  # each task due at its own time
    opened.append(
        ok(
            client.post(
                "/api/tickets",
                json={"process_id": "consultation", "customer": "C-2", "channel": "web"},
                headers=agent,
            ),
            201,
        )
    )

    def queue(**params: Any) -> dict[str, Any]:
        answer = client.get("/api/tasks", params={"scope": "queue", **params}, headers=agent)
        return ok(answer)  # type: ignore[no-any-return]

    assert queue()["total"] == 4
    assert queue(process_id="consultation")["total"] == 1
    north = queue(region="north")
    assert north["total"] == 2 and {t["region"] for t in north["items"]} == {"north"}
    first, second = queue(limit=2), queue(limit=2, offset=2)
    assert first["total"] == second["total"] == 4
    ids = [t["id"] for t in first["items"] + second["items"]]
    assert len(set(ids)) == 4
    due = max(t["due_at"] for t in first["items"] + second["items"] if t["due_at"])
    before = queue(due_before=due)
    assert 0 < before["total"] < 4
    assert all(t["due_at"] < due for t in before["items"])
    assert queue(due_before=(clock.now() - timedelta(days=1)).isoformat())["total"] == 0
    assert queue(min_priority=51)["total"] == 0
    tickets = ok(client.get("/api/tickets", params={"process_id": "complaint"}, headers=agent))
    assert tickets["total"] == 3 and tickets["items"][0]["number"] == opened[2]["number"]


def test_sla_colour_follows_the_due_time(client: Client, clock: FixedClock) -> None:
    agent = login(client, "li.na")
    front = task_at(open_complaint(client, agent), "front_desk")
    due = datetime.fromisoformat(front["due_at"])
    assert front["sla"] == "green"

    def colour() -> str:
        return str(ok(client.get(f"/api/tasks/{front['id']}", headers=agent))["sla"])

    clock.set(due - timedelta(minutes=1))
    assert colour() == "amber"
    clock.set(due + timedelta(seconds=1))
    assert colour() == "red"


def test_background_loop_fires_sla_reminders(
    rest_engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    app = create_app(replace(settings, job_interval=0.05), engine=rest_engine)
    with TestClient(app) as client:
        agent = login(client, "li.na")
        ticket = open_complaint(client, agent)
        front = task_at(ticket, "front_desk")
        clock.set(datetime.fromisoformat(front["due_at"]) + timedelta(seconds=1))
        stats = app.state.service.stats
        kinds: list[str] = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and ("sla_breached" not in kinds or not stats.passes):
            time.sleep(0.1)
            history = ok(client.get(f"/api/tickets/{ticket['number']}/history", headers=agent))
            kinds = [e["kind"] for e in history]
        # Two reminders (50 %, 80 %) and the breach, all fired by the loop, not by a request.
        assert kinds.count("sla_reminder") == 2 and "sla_breached" in kinds, kinds
        assert stats.failures == 0


def test_definitions_and_their_bpmn(client: Client) -> None:
    agent = login(client, "li.na")
    definitions = ok(client.get("/api/definitions", headers=agent))
    assert {d["process_id"] for d in definitions} == {p.stem for p in PROCESSES.glob("*.bpmn")}
    assert all(d["latest"] and d["version"] == 1 for d in definitions)
    answer = client.get("/api/definitions/complaint/bpmn", headers=agent)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(
        "application/xml"
    )
    assert "投诉受理 Complaint received" in answer.content.decode("utf-8")
    assert answer.content == (PROCESSES / "complaint.bpmn").read_bytes()
    assert client.get("/api/definitions/complaint/bpmn?version=1", headers=agent).content == (
        answer.content
    )
    message = error(
        client.get("/api/definitions/complaint/bpmn?version=7", headers=agent),
        404,
        "NotFoundError",
    )
    assert message == "process 'complaint' has no version 7"
    error(client.get("/api/definitions/nope/bpmn", headers=agent), 404, "UnknownProcessError")
    channels = ok(client.get("/api/channels", headers=agent))["channels"]
    assert "hotline" in channels and "business_hall" in channels
    health = ok(client.get("/api/health"))
    assert health["status"] == "ok" and health["processes"] == len(definitions)


def test_older_version_diagram_for_a_running_ticket(
    client: Client, rest_engine: Engine, tmp_path: Path
) -> None:
    agent = login(client, "li.na")
    ticket = open_complaint(client, agent)
    changed = (PROCESSES / "complaint.bpmn").read_text(encoding="utf-8")
    changed = changed.replace("投诉受理 Complaint received", "投诉受理 Complaint in")
    (tmp_path / "complaint.bpmn").write_text(changed, encoding="utf-8")
    rest_engine.deploy(tmp_path / "complaint.bpmn")
    listed = ok(client.get("/api/definitions", params={"all_versions": True}, headers=agent))
    assert [(d["version"], d["latest"]) for d in listed if d["process_id"] == "complaint"] == [
        (1, False),
        (2, True),
    ]
    progress = ok(client.get(f"/api/tickets/{ticket['number']}/progress", headers=agent))
    assert progress["version"] == 1 and progress["waiting"] == ["front_desk"]
    old = client.get("/api/definitions/complaint/bpmn?version=1", headers=agent).text
    assert "Complaint received" in old
    assert "Complaint in" in client.get("/api/definitions/complaint/bpmn", headers=agent).text


def test_openapi_schema_declares_models_and_bearer_auth(client: Client) -> None:
    schema = ok(client.get("/openapi.json"))
    models = set(schema["components"]["schemas"])
    assert {"TaskOut", "TicketOut", "FormFieldOut", "ErrorOut", "LoginIn", "OpenTicketIn"} <= models
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    claim = schema["paths"]["/api/tasks/{task_id}/claim"]["post"]
    assert {"200", "401", "403", "404", "409"} <= set(claim["responses"])
    field_type = schema["components"]["schemas"]["FormFieldOut"]["properties"]["type"]
    assert set(field_type["enum"]) == {"string", "long", "double", "boolean", "date", "enum"}


# --- schemathesis: no server errors anywhere ----------------------------------------------


def test_openapi_fuzzing_finds_no_server_errors(client: Client) -> None:
    schemathesis = _require_module("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    # Some real tickets and tasks, so generated requests also meet existing data.
    agent = login(client, "li.na")
    for _ in range(2):
        open_complaint(client, agent)
    service = client.app.state.service  # type: ignore[attr-defined]
    admin = service.directory.accounts["admin"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    statuses: dict[str, list[int]] = {}
    checks = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        content_type_conformance,
    ]

    def run(operation: Any, seen: list[int]) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # A fresh token each time: a generated POST /api/logout ends the one it sent.
            token = service.tokens.issue(admin).token
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            seen.append(response.status_code)
            case.validate_response(response, checks=checks)

        check()

    for result in schema.get_all_operations():
        operation = result.ok()
        run(operation, statuses.setdefault(operation.label, []))
    assert len(statuses) >= 19
    for label in ("GET /api/tasks", "GET /api/tickets", "GET /api/definitions", "GET /api/me"):
        assert any(200 <= s < 300 for s in statuses[label]), (label, statuses[label])
    assert not [s for codes in statuses.values() for s in codes if s >= 500]


def _require_module(name: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        reason = f"{name} is not installed (a test dependency of examples/rest_service)"
        if REQUIRE_EXAMPLES:
            pytest.fail(f"TICKETFLOW_REQUIRE_EXAMPLES=1 but {reason}", pytrace=False)
        pytest.skip(reason)


# --- the service as a newcomer starts it, driven in Chromium ------------------------------

CHROMIUM = os.environ.get("TICKETFLOW_CHROMIUM", "/usr/bin/chromium")
#: Debian's Chromium, offline: no background requests to hosts this machine cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _require_browser() -> None:
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright Python package is not installed"
    if missing is None and not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if missing is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"TICKETFLOW_REQUIRE_BROWSER=1 but {missing}", pytrace=False)
    pytest.skip(f"browser test not available: {missing}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``python -m ticketflow_rest`` on a free port of 127.0.0.1: (base url, its output)."""
    _require_browser()  # only the browser test uses it
    port = _free_port()
    env = {
        **os.environ,
        "TICKETFLOW_REST_AUTO_MIGRATE": "1",
        "TICKETFLOW_REST_JOB_INTERVAL": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "service.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ticketflow_rest", "--port", str(port), "--db", db_url],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while "Application startup complete" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the service did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.2)
        yield base, log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()


def test_worklist_in_chromium_claims_and_completes_a_task(
    served: tuple[str, str], db_url: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, output = served
    assert "demo logins" in output and "li.na" in output and "zhou.min" in output
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.set_default_timeout(20_000)
        expect.set_options(timeout=20_000)
        page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        try:
            page.goto(base + "/")
            expect(page.locator("#login")).to_be_visible()
            expect(page.locator("#workspace")).to_be_hidden()
            page.fill("#login-user", "li.na")
            page.fill("#login-password", PASSWORD)
            page.click("#login-form button[type=submit]")
            expect(page.locator("#workspace")).to_be_visible()

            # Intake: open a complaint from the "New ticket" dialog.
            page.click("#new-ticket-button")
            expect(page.locator("#new-process")).to_have_value("complaint")
            page.fill("#new-summary", "本月话费多扣 30 元")
            page.click("#new-submit")
            diagram = page.locator("#diagram")
            expect(diagram).to_have_attribute("data-loaded", "complaint:1")
            number = page.locator("#detail").get_attribute("data-ticket")
            assert number and number.startswith("TS-")

            # The queue lists it with its SLA colour; opening it from there shows the diagram.
            row = page.locator(f"#worklist tbody tr[data-ticket='{number}']")
            expect(row.locator(".sla")).to_have_attribute("data-sla", "green")
            page.evaluate("document.getElementById('diagram').dataset.loaded = ''")
            row.click()
            expect(diagram).to_have_attribute("data-loaded", "complaint:1")
            shape = "#diagram .djs-element[data-element-id='{}']"
            expect(page.locator(shape.format("front_desk"))).to_have_class(re.compile("tf-waiting"))
            expect(page.locator(shape.format("start_intake"))).to_have_class(
                re.compile("tf-passed")
            )
            expect(page.locator(shape.format("end_closed"))).not_to_have_class(re.compile("tf-"))
            expect(diagram).to_contain_text("前台处理")  # Chinese labels rendered
            expect(diagram).to_contain_text("回访")
            expect(page.locator("#diagram .bjs-powered-by")).to_be_visible()  # watermark

            # Claim, then fill the generated form: a required boolean left empty is refused.
            task = page.locator("#tasks .task[data-element='front_desk']")
            task.locator("button.claim").click()
            expect(task).to_contain_text("li.na (you)")
            task.locator("button.complete").click()
            expect(task.locator(".field-error[data-field='resolved']")).to_have_text(
                "required (boolean)"
            )
            task.locator("select[name='resolved']").select_option("false")
            task.locator("input[name='note']").fill("客户要求退费")
            task.locator("button.complete").click()

            record = page.locator("#tasks .task[data-element='record']")
            expect(record).to_be_visible()
            expect(diagram).to_have_attribute("data-waiting", "record")
            options = record.locator("select[name='urgency'] option").all_inner_texts()
            assert options[1:] == ["一般 Normal", "紧急 Urgent", "特急 Critical"]
            expect(page.locator(shape.format("record"))).to_have_class(re.compile("tf-waiting"))
            expect(page.locator(shape.format("front_desk"))).to_have_class(re.compile("tf-passed"))
            assert problems == [], problems
        finally:
            browser.close()

    # Through the engine: the ticket moved on, with the form data the browser sent.
    engine = Engine(db_url)
    try:
        ticket = engine.ticket(number)
        assert [t.element_id for t in ticket.open_tasks] == ["record"]
        done = [e for e in engine.history(number) if e.kind == "task_completed"]
        assert [(e.element_id, e.actor) for e in done] == [("front_desk", "li.na")]
        assert done[0].details["form"] == {"resolved": False, "reply": None, "note": "客户要求退费"}
    finally:
        engine.close()


def test_console_script_is_installed() -> None:
    script = shutil.which("ticketflow-rest", path=str(Path(sys.executable).parent))
    if script is None:
        reason = "the ticketflow-rest console script is not installed"
        if REQUIRE_EXAMPLES:
            pytest.fail(f"TICKETFLOW_REQUIRE_EXAMPLES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    done = subprocess.run(
        [script, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and "--port" in done.stdout
