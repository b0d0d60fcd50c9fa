"""Cost of the service-centre intake checks as the store grows.

Fills ``tf_service_contact`` with N contacts (spread over 5,000 customers, 20 regions,
10 categories and the last five weeks) and the knowledge base with M entries, then times
through the public API:

* ``Intake.receive`` of a new complaint (repeat candidates, fault match, suggestions,
  spike check, ticket opened) and of a repeat (linked, no ticket);
* the spike count alone (one indexed query over the current and baseline windows);
* ``knowledge.search`` over the whole knowledge base.

Run: ``python -m benchmarks.service_intake [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ticketflow import Engine, FixedClock
from ticketflow.service import Intake, SpikePolicy, add_entry, search
from ticketflow.service.similarity import token_string
from ticketflow.service.spikes import counts
from ticketflow.store.service_models import ContactRow, KnowledgeRow

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
TEXTS = [
    "家里宽带断网",
    "宽带速度很慢",
    "话费多扣了30元",
    "彩铃开通失败",
    "手机信号很差，打不出电话",
    "流量套餐没有生效",
    "营业厅办理业务排队太久",
    "短信收不到验证码",
]


def _ms(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def fill(engine: Engine, contacts: int, entries: int) -> None:
    rng = random.Random(7)
    tokens = {t: token_string(t) for t in TEXTS}
    with Session(engine.bind) as s, s.begin():
        batch = []
        for i in range(contacts):
            text = rng.choice(TEXTS)
            batch.append(
                {
                    "customer_id": f"B-{rng.randrange(5000)}",
                    "channel": "hotline",
                    "region": f"r{rng.randrange(20)}",
                    "category": f"c{rng.randrange(10)}",
                    "text": text,
                    "tokens": tokens[text],
                    "received_at": NOW - timedelta(seconds=rng.randrange(35 * 86400)),
                    "outcome": "opened",
                    "forced": False,
                }
            )
            if len(batch) == 10_000 or i == contacts - 1:
                s.execute(insert(ContactRow), batch)
                batch = []
        rows = []
        for i in range(entries):
            question = f"{rng.choice(TEXTS)} {i}"
            rows.append(
                {
                    "question": question,
                    "answer": "answer",
                    "categories": [],
                    "tokens": token_string(question),
                    "author": "bench",
                    "created_at": NOW,
                    "updated_at": NOW,
                    "lock_version": 1,
                }
            )
        if rows:
            s.execute(insert(KnowledgeRow), rows)


def run(url: str, contacts: int, entries: int, runs: int) -> None:
    clock = FixedClock(NOW)
    engine = Engine(url, clock=clock, auto_migrate=True)
    engine.deploy(ROOT / "processes")
    fill(engine, contacts, entries)
    add_entry(engine, question="家里宽带断网怎么办", answer="重启光猫", author="bench")
    intake = Intake(engine)
    n = iter(range(10**9))

    def new_complaint() -> None:
        intake.receive(
            "complaint",
            customer=f"N-{next(n)}",
            channel="hotline",
            text="家里宽带断网",
            region="r1",
            category="c1",
        )

    intake.receive("complaint", customer="R-1", channel="hotline", text="家里宽带断网")

    def repeat() -> None:
        result = intake.receive(
            "complaint", customer="R-1", channel="web", text="宽带又断了，昨天报过还没修好"
        )
        assert result.outcome == "repeat"

    def spike_count() -> None:
        with Session(engine.bind) as s:
            counts(s, "r1", "c1", NOW, SpikePolicy())

    def kb_search() -> None:
        search(engine, "宽带又断网了，怎么办")

    print(f"{url.split(':')[0]}: {contacts:,} contacts, {entries:,} FAQ entries")
    for name, fn in (
        ("receive: new ticket", new_complaint),
        ("receive: repeat, linked", repeat),
        ("spike count query", spike_count),
        ("knowledge search", kb_search),
    ):
        p50, p95 = _ms(fn, runs)
        print(f"  {name:<26} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="PostgreSQL URL (an empty database)")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    if args.postgres:
        run(args.postgres, args.contacts, args.entries, args.runs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite:///{tmp}/bench.db", args.contacts, args.entries, args.runs)


if __name__ == "__main__":
    main()
