"""The CRM's HTTP API, with the standard library only (``urllib``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import quote
from urllib.request import Request, urlopen


class CrmError(RuntimeError):
    """The CRM refused a request, failed, or could not be reached."""


class CrmTimeout(CrmError, TimeoutError):
    """The CRM did not answer in time."""


class CrmRejectedError(CrmError, ValueError):
    """The CRM refused the request itself (4xx): sending it again will not help.

    Being a ``ValueError``, it sends an outbox message straight to the dead letters.
    """


class CrmClient:
    """``GET /customers/<id>``, ``POST /events`` and ``GET /events`` on the CRM at ``base_url``."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"CRM URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def customer(self, customer_id: str, *, timeout: float | None = None) -> dict[str, Any] | None:
        """The customer's record, or None when the CRM does not know the id."""
        path = f"/customers/{quote(customer_id, safe='')}"
        status, body = self._request("GET", path, timeout=timeout, missing_ok=True)
        return None if status == 404 else body

    def record_event(
        self, event: Mapping[str, Any], *, idempotency_key: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """Store a ticket event; the CRM stores a repeated ``idempotency_key`` once."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        _, body = self._request("POST", "/events", dict(event), headers, timeout=timeout)
        return body

    def events(self) -> dict[str, Any]:
        """What the CRM stored: ``{"events": [...], "attempts": {key: requests}}``."""
        return self._request("GET", "/events", timeout=None)[1]

    def _request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float | None,
        missing_ok: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        what = f"CRM {method} {path}"
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        request = Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        limit = self.timeout if timeout is None else timeout
        try:
            with urlopen(request, timeout=limit) as response:
                return response.status, _json(response.read(), what)
        except HTTPError as exc:
            if exc.code == 404 and missing_ok:
                return 404, {}
            detail = exc.read()[:200].decode("utf-8", "replace")
            rejected = 400 <= exc.code < 500 and exc.code not in (408, 429)
            error = CrmRejectedError if rejected else CrmError
            raise error(f"{what} answered {exc.code}: {detail}") from None
        except TimeoutError:
            raise CrmTimeout(f"{what} did not answer within {limit:g} s") from None
        except URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise CrmTimeout(f"{what} did not answer within {limit:g} s") from None
            raise CrmError(f"{what}: cannot reach the CRM: {exc.reason}") from None
        except OSError as exc:  # connection reset mid-answer and the like
            raise CrmError(f"{what}: {type(exc).__name__}: {exc}") from None


def _json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise CrmError(f"{what} answered something that is not JSON") from None
    if not isinstance(body, dict):
        raise CrmError(f"{what} answered {type(body).__name__}, not a JSON object")
    return body
