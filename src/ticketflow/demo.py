"""``ticketflow demo``: several complaint tickets driven along different paths.

Everything runs through the real engine and store (embedded SQLite) under a simulated
clock, then a second Engine on the same database reads the journeys back, as a
restarted host process would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar

from rich.console import Console
from rich.table import Table

from ticketflow.engine import Engine
from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import CustomerInfo
from ticketflow.journey import print_journey
from ticketflow.plugins.callbacks import CallbackPlanner
from ticketflow.plugins.scoring import PieceRateScoring
from ticketflow.time.clock import FixedClock
from ticketflow.users import User
from ticketflow.views import TicketView

AGENT = User.of("li.na", groups=["intake_agent"])
HALL = User.of("zhang.hui", groups=["intake_agent"])
BACK = User.of("wang.wei", groups=["back_office"])
SUPERVISOR = User.of("zhou.min", groups=["back_office"], roles=["supervisor"])
BILLING = User.of("zhao.lei", groups=["dept_billing"])
NETWORK = User.of("sun.li", groups=["dept_network"])
VAS = User.of("qian.hao", groups=["dept_vas"])
CALLBACK = User.of("chen.jing", groups=["callback_agent", "vip_callback"])
MANAGER = User.of("sun.mei", groups=["dept_manager"])


class DemoCrm:
    """Stands in for the operator's CRM: the customer lookup hook."""

    customers: ClassVar[dict[str, CustomerInfo]] = {
        "C-0001": CustomerInfo("C-0001", "王总 Mr Wang", "vip", "jinan", "am.liu", "13800000001"),
        "C-9001": CustomerInfo(
            "C-9001", "集团客户 Acme", "key_account", None, "am.liu", "13800000002"
        ),
        "C-7788": CustomerInfo("C-7788", "李女士 Ms Li", "ordinary", phone="13800000003"),
        "C-6100": CustomerInfo("C-6100", "赵先生 Mr Zhao", "gold", phone="13800000004"),
    }

    @hookimpl
    def ticketflow_customer_lookup(self, customer_id: str) -> CustomerInfo | None:
        return self.customers.get(customer_id)


def find_processes() -> Path:
    """processes/ from $TICKETFLOW_PROCESSES, the source checkout, or the working directory."""
    candidates = [
        os.environ.get("TICKETFLOW_PROCESSES"),
        Path(__file__).resolve().parents[2] / "processes",
        Path.cwd() / "processes",
    ]
    for c in candidates:
        if c and Path(c, "complaint.bpmn").exists():
            return Path(c)
    raise FileNotFoundError(
        "cannot find processes/complaint.bpmn; run from the ticketflow checkout or set "
        "TICKETFLOW_PROCESSES"
    )


class Demo:
    def __init__(self, engine: Engine, clock: FixedClock) -> None:
        self.engine = engine
        self.clock = clock

    def step(
        self,
        ticket: TicketView,
        element: str,
        user: User,
        data: dict[str, object],
        after: timedelta,
    ) -> TicketView:
        self.clock.advance(after)
        task = ticket.task(element)
        self.engine.claim(task.id, user)
        return self.engine.complete(task.id, user, data)

    def dispatch(
        self, t: TicketView, department: str, category: tuple[str, str, str]
    ) -> TicketView:
        t = self.step(t, "front_desk", AGENT, {"resolved": False}, timedelta(minutes=5))
        t = self.step(
            t,
            "record",
            AGENT,
            {"description": t.subject or "", "urgency": "normal"},
            timedelta(minutes=3),
        )
        l1, l2, l3 = category
        t = self.step(
            t,
            "classify",
            BACK,
            {"category_l1": l1, "category_l2": l2, "category_l3": l3},
            timedelta(minutes=14),
        )
        return self.step(t, "dispatch", BACK, {"department": department}, timedelta(minutes=20))

    def close_out(
        self,
        t: TicketView,
        handler: User,
        result: str,
        satisfied: bool,
        score: int,
        hours: float = 6,
    ) -> TicketView:
        t = self.step(
            t, "handle", handler, {"outcome": "resolved", "result": result}, timedelta(hours=hours)
        )
        t = self.step(t, "reply", handler, {"reply": result}, timedelta(minutes=3))
        return self.step(
            t, "callback", CALLBACK, {"satisfied": satisfied, "score": score}, timedelta(hours=20)
        )


def run_demo(db_path: Path, console: Console) -> list[str]:
    """Drive the demo tickets; return their numbers."""
    if db_path.exists():
        db_path.unlink()
    url = f"sqlite:///{db_path}"
    clock = FixedClock(datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc))
    plugins = [DemoCrm(), PieceRateScoring(), CallbackPlanner()]
    engine = Engine(url, clock=clock, plugins=plugins, load_entry_points=False)
    (definition,) = engine.deploy(find_processes() / "complaint.bpmn")
    console.print(
        f"[bold]ticketflow demo[/] · deployed {definition.process_id} v{definition.version} "
        f"from {definition.filename} · database {db_path}\n"
    )
    demo = Demo(engine, clock)
    stories: list[tuple[str, Callable[[], TicketView]]] = []

    def solved_at_front_desk() -> TicketView:
        t = engine.open_ticket(
            "complaint",
            customer="C-3701",
            channel="business_hall",
            subject="套餐资费不清楚 unclear tariff",
            user=HALL,
        )
        return demo.step(
            t,
            "front_desk",
            HALL,
            {"resolved": True, "reply": "当面解释套餐 explained the plan"},
            timedelta(minutes=4),
        )

    def vip_dispatched_and_satisfied() -> TicketView:
        t = engine.open_ticket(
            "complaint",
            customer="C-0001",
            channel="hotline",
            customer_tier="vip",
            region="jinan",
            subject="国际漫游扣费异常 roaming overcharge",
            user=AGENT,
        )
        t = demo.dispatch(t, "dept_billing", ("计费 billing", "漫游 roaming", "多扣费 overcharge"))
        return demo.close_out(t, BILLING, "退还 120 元 refunded 120 yuan", True, 95)

    def transferred() -> TicketView:
        t = engine.open_ticket(
            "complaint",
            customer="C-5512",
            channel="web",
            region="qingdao",
            subject="家中信号弱 weak signal at home",
            user=AGENT,
        )
        t = demo.dispatch(t, "dept_billing", ("网络 network", "覆盖 coverage", "弱覆盖 weak"))
        t = demo.step(
            t,
            "handle",
            BILLING,
            {
                "outcome": "transfer",
                "transfer_to": "dept_network",
                "result": "非计费问题 not a billing issue",
            },
            timedelta(hours=2),
        )
        return demo.close_out(t, NETWORK, "调整天线 antenna adjusted", True, 88, hours=30)

    def reopened() -> TicketView:
        t = engine.open_ticket(
            "complaint",
            customer="C-7788",
            channel="sms",
            subject="彩铃开通失败 ringtone activation failed",
            user=AGENT,
        )
        t = demo.dispatch(t, "dept_vas", ("增值业务 VAS", "彩铃 ringtone", "开通失败 activation"))
        t = demo.close_out(t, VAS, "重新开通 re-activated", False, 40)
        return demo.close_out(t, VAS, "SP 平台修复 fixed at the SP platform", True, 80)

    def suspended_and_returned() -> TicketView:
        t = engine.open_ticket(
            "complaint",
            customer="C-2046",
            channel="email",
            subject="宽带频繁掉线 broadband drops",
            user=AGENT,
        )
        t = demo.dispatch(t, "dept_billing", ("宽带 broadband", "故障 fault", "掉线 drops"))
        t = demo.step(
            t,
            "handle",
            BILLING,
            {"outcome": "return", "result": "应由网络部处理 belongs to network"},
            timedelta(hours=1),
        )
        clock.advance(minutes=30)
        engine.suspend(t.number, SUPERVISOR, reason="客户出差一周 customer away for a week")
        clock.advance(days=7)
        engine.resume(t.number, SUPERVISOR, reason="客户已回 customer is back")
        t = demo.step(
            t,
            "dispatch",
            BACK,
            {"department": "dept_network", "handler": "sun.li"},
            timedelta(minutes=10),
        )
        return demo.close_out(t, NETWORK, "更换光猫 replaced the modem", True, 90, hours=4)

    def refund_approved() -> TicketView:
        t = engine.open_ticket(
            "complaint",
            customer="C-6100",
            channel="web",
            subject="套餐变更后重复扣费 charged twice after a plan change",
            data={"refunds_before": 1},
            user=AGENT,
        )
        t = demo.dispatch(
            t, "dept_billing", ("计费 billing", "套餐 plan", "重复扣费 double charge")
        )
        t = demo.step(
            t,
            "handle",
            BILLING,
            {"outcome": "resolved", "result": "核实多扣 verified", "refund_amount": 500},
            timedelta(hours=3),
        )
        t = demo.step(
            t,
            "approve_refund_l2",
            MANAGER,
            {"approved": True, "approval_note": "同意 approved"},
            timedelta(hours=2),
        )
        t = demo.step(
            t, "reply", BILLING, {"reply": "已退 500 元 refunded 500 yuan"}, timedelta(minutes=5)
        )
        return demo.step(
            t, "callback", CALLBACK, {"satisfied": True, "score": 85}, timedelta(hours=20)
        )

    def still_open() -> TicketView:
        t = engine.open_ticket(
            "complaint",
            customer="C-9001",
            channel="account_manager",
            customer_tier="key_account",
            subject="专线时延高 leased line latency",
            user=AGENT,
        )
        return demo.dispatch(
            t, "dept_network", ("集团 enterprise", "专线 leased line", "时延 latency")
        )

    stories = [
        ("solved at the front desk", solved_at_front_desk),
        ("VIP, dispatched to billing, satisfied", vip_dispatched_and_satisfied),
        ("transferred from billing to network", transferred),
        ("unsatisfied callback reopens handling", reopened),
        ("returned to dispatch, suspended a week, resumed", suspended_and_returned),
        ("refund of 500 yuan, approved at level 2", refund_approved),
        ("key account, still in handling", still_open),
    ]
    numbers = []
    for _, story in stories:
        clock.advance(minutes=7)
        numbers.append(story().number)
    engine.close()

    # A new Engine on the same database: what a restarted host process sees.
    reader = Engine(url, clock=clock, plugins=plugins, load_entry_points=False)
    for (title, _), number in zip(stories, numbers, strict=True):
        print_journey(reader, number, console, title=f"{number} · {title}")
        console.print()
    summary = Table(title="open work after the demo", title_justify="left")
    for column in ("task", "ticket", "queue", "assignee", "priority"):
        summary.add_column(column)
    for task in reader.tasks(order_by="priority", descending=True):
        summary.add_row(
            task.name,
            task.ticket_number,
            ", ".join(task.candidate_groups),
            task.assignee or "",
            str(task.priority),
        )
    console.print(summary)
    points = Table(title="piece-rate points (PieceRateScoring plugin)", title_justify="left")
    points.add_column("staff")
    points.add_column("points", justify="right")
    for staff, total in sorted(reader.points().items(), key=lambda kv: -kv[1]):
        points.add_row(staff, f"{total:.1f}")
    console.print(points)
    report = reader.deliver_outbox()
    console.print(
        f"outbox: {report.delivered} SMS delivered after commit (callback surveys and thanks "
        f"from CallbackPlanner; the default SMS gateway logs them), {report.dead} failed"
    )
    closed = reader.tickets(status="closed").total
    console.print(f"\n{len(numbers)} tickets, {closed} closed; database kept at {db_path}")
    reader.close()
    return numbers
