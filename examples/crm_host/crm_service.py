"""A small CRM/billing system over HTTP, standing in for the operator's real one.

Endpoints (JSON in and out)::

    GET  /customers/<id>     the customer's record; 404 for an unknown id
    POST /events             record a ticket event (a JSON object with a string ``event``);
                             a repeated ``Idempotency-Key`` is acknowledged
                             (``"duplicate": true``) but stored once; 400 without ``event``
    GET  /events             every stored event, and how many requests each key took
    POST /_admin/faults      change the fault settings below (for demos and tests)

Faults, so a host can see its retries and timeouts at work: ``fail_rate`` (a fraction of
requests to ``/customers`` and ``POST /events`` that fail, drawn from a generator seeded
with ``seed``, so a run repeats exactly), ``fail_next`` (the next N such requests fail),
``latency`` (seconds added to each of them) and ``fail_mode``: ``before`` answers 503
without doing anything, ``after`` stores the event and then answers 500 as if the answer
were lost on the way back, ``mixed`` picks one of the two (from the same generator).

Run it on its own::

    python examples/crm_host/crm_service.py --port 8765 --fail-rate 0.3 --seed 7

or in-process (tests, the example host)::

    with CrmService() as crm:          # an ephemeral port on 127.0.0.1
        print(crm.url)
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote
from urllib.request import Request, urlopen

#: The customers the service knows unless it is given others.
CUSTOMERS: dict[str, dict[str, Any]] = {
    "C1001": {
        "name": "王芳 Wang Fang",
        "tier": "vip",
        "region": "hangzhou",
        "account_manager": "zhang.wei",
        "phone": "+8613800138001",
        "email": "wang.fang@example.com",
    },
    "C1002": {
        "name": "李强 Li Qiang",
        "tier": "ordinary",
        "region": "ningbo",
        "account_manager": None,
        "phone": "+8613800138002",
        "email": "li.qiang@example.com",
    },
    "C1003": {
        "name": "陈静 Chen Jing",
        "tier": "vip",
        "region": "hangzhou",
        "account_manager": None,
        "phone": "+8613800138003",
        "email": "chen.jing@example.com",
    },
    "C2001": {
        "name": "杭州云帆科技 Yunfan Tech",
        "tier": "key_account",
        "region": "hangzhou",
        "account_manager": "zhang.wei",
        "phone": "+8657188000001",
        "email": "it@yunfan.example.com",
    },
}
FAIL_MODES = ("before", "after", "mixed")


@dataclass
class Faults:
    """How the service misbehaves; all zero by default."""

    fail_rate: float = 0.0
    fail_next: int = 0
    latency: float = 0.0
    fail_mode: str = "before"
    seed: int | None = None

    def check(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, got {self.fail_rate}")
        if self.fail_next < 0 or self.latency < 0:
            raise ValueError("fail_next and latency cannot be negative")
        if self.fail_mode not in FAIL_MODES:
            raise ValueError(f"fail_mode must be one of {FAIL_MODES}, got {self.fail_mode!r}")


class CrmService:
    """The CRM's state and its HTTP server (a ``ThreadingHTTPServer`` on 127.0.0.1)."""

    def __init__(
        self,
        customers: dict[str, dict[str, Any]] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        self.host = host
        self.customers = dict(CUSTOMERS if customers is None else customers)
        self.events: list[dict[str, Any]] = []
        self.attempts: Counter[str] = Counter()  # POST /events per idempotency key
        self.requests: Counter[str] = Counter()  # "GET /customers", "POST /events" ...
        self.failures: Counter[str] = Counter()
        self._by_key: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.faults = Faults()
        self._rng = random.Random()
        self.set_faults(**asdict(faults or Faults()))
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.crm = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> CrmService:
        """Serve in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # so stop() returns at once
                name="crm-service",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> CrmService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_faults(self, **changes: Any) -> Faults:
        """Change some fault settings; a given ``seed`` restarts the generator."""
        with self._lock:
            faults = Faults(**{**asdict(self.faults), **changes})
            faults.check()
            self.faults = faults
            if "seed" in changes:
                self._rng = random.Random(faults.seed)
            return faults

    def event_counts(self) -> dict[str, int]:
        """Stored events per idempotency key (each should be 1)."""
        with self._lock:
            return dict(Counter(e["idempotency_key"] for e in self.events))

    # --- what the handler calls ---------------------------------------------------------

    def _fault(self) -> tuple[float, str | None]:
        """Latency and failure stage (None, "before" or "after") of one request."""
        with self._lock:
            f = self.faults
            if f.fail_next > 0:
                self.faults = Faults(**{**asdict(f), "fail_next": f.fail_next - 1})
                fail = True
            else:
                fail = f.fail_rate > 0 and self._rng.random() < f.fail_rate
            stage = None
            if fail:
                stage = f.fail_mode
                if stage == "mixed":
                    stage = self._rng.choice(("before", "after"))
            return f.latency, stage

    def _customer(self, customer_id: str) -> dict[str, Any] | None:
        with self._lock:
            record = self.customers.get(customer_id)
            return {"customer_id": customer_id, **record} if record is not None else None

    def _record(self, body: dict[str, Any], key: str | None) -> tuple[dict[str, Any], bool]:
        with self._lock:
            if key:
                self.attempts[key] += 1
                if key in self._by_key:
                    return self._by_key[key], True
            event = {
                "id": len(self.events) + 1,
                "idempotency_key": key,
                "received_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                **body,
            }
            self.events.append(event)
            if key:
                self._by_key[key] = event
            return event, False

    def _snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"events": list(self.events), "attempts": dict(self.attempts)}


class _Handler(BaseHTTPRequestHandler):
    server_version = "crm-service/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def crm(self) -> CrmService:
        return self.server.crm  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/customers/"):
            self._count("GET /customers")
            if not self._survive_fault():
                return
            customer_id = unquote(path[len("/customers/") :])
            record = self.crm._customer(customer_id)
            if record is None:
                self._send(404, {"error": f"no customer {customer_id!r}"})
            else:
                self._send(200, record)
        elif path == "/events":
            self._send(200, self.crm._snapshot())
        elif path == "/health":
            self._send(200, {"ok": True})
        else:
            self._send(404, {"error": f"no such resource {path}"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if body is None:
            return
        if path == "/events":
            self._count("POST /events")
            if not isinstance(body.get("event"), str) or not body["event"]:
                self._send(400, {"error": "field 'event' must be a non-empty string"})
                return
            latency, stage = self.crm._fault()
            if latency:
                time.sleep(latency)
            if stage == "before":
                self._fail(503, "service unavailable (injected fault)")
                return
            event, duplicate = self.crm._record(body, self.headers.get("Idempotency-Key"))
            if stage == "after":
                self._fail(500, "event stored, but the answer was lost (injected fault)")
                return
            self._send(200 if duplicate else 201, {"id": event["id"], "duplicate": duplicate})
        elif path == "/_admin/faults":
            try:
                faults = self.crm.set_faults(**body)
            except (TypeError, ValueError) as exc:
                self._send(400, {"error": str(exc)})
                return
            self._send(200, asdict(faults))
        else:
            self._send(404, {"error": f"no such resource {path}"})

    # --- helpers ------------------------------------------------------------------------

    def _count(self, what: str) -> None:
        with self.crm._lock:
            self.crm.requests[what] += 1

    def _survive_fault(self) -> bool:
        """Apply latency and faults to a read; False when the request was failed."""
        latency, stage = self.crm._fault()
        if latency:
            time.sleep(latency)
        if stage is not None:
            self._fail(503, "service unavailable (injected fault)")
            return False
        return True

    def _fail(self, status: int, message: str) -> None:
        with self.crm._lock:
            self.crm.failures[f"{self.command} {self.path.split('?', 1)[0]}"] += 1
        self._send(status, {"error": message})

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": "the body is not JSON"})
            return None
        if not isinstance(body, dict):
            self._send(400, {"error": "the body must be a JSON object"})
            return None
        return body

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass


def configure_faults(url: str, **changes: Any) -> dict[str, Any]:
    """Change the fault settings of the CRM service at ``url`` (``POST /_admin/faults``)."""
    request = Request(
        url.rstrip("/") + "/_admin/faults",
        data=json.dumps(changes).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in CRM/billing service over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--fail-mode", choices=FAIL_MODES, default="before")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    faults = Faults(args.fail_rate, 0, args.latency, args.fail_mode, args.seed)
    service = CrmService(host=args.host, port=args.port, faults=faults)
    print(f"CRM service on {service.url}  (export TICKETFLOW_CRM_URL={service.url})", flush=True)
    try:
        service._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        service._server.server_close()


if __name__ == "__main__":
    main()
