"""SMS notifications: number checks and splitting in front of a pluggable gateway.

The module itself is the built-in plugin (registered by default): it answers the ``sms``
channel through :data:`default_gateway`, a :class:`LoggingSmsGateway` that sends nothing,
logs each message on the ``ticketflow.sms`` logger and keeps the last ones in memory. A host
with a real SMS provider registers ``SmsNotifier(MyGateway(...))``; being registered later,
it is asked first and the default is never reached.

Numbers: a mainland mobile number ``1[3-9]`` + 9 digits, optionally written with ``+86``, or
any E.164 number (``+`` country code and subscriber number, at most 15 digits). Spaces and
hyphens are ignored; a ``+86`` number must be a mobile one (landlines take no SMS). The
gateway always receives the E.164 form (``+8613800138000``).

Long texts are split, not rejected: a text longer than ``max_length`` characters goes out
in numbered parts (``(1/3)...``), each at most ``max_length`` long including its number and
cut at a space or punctuation mark where one is near. Texts needing more than ``max_parts``
parts are rejected (``SmsTooLongError``); ``max_parts=1`` rejects every long text. The
default of 70 characters is one SMS in UCS-2, the encoding any Chinese text needs. Part
``i`` of the notification with key ``k`` is sent with key ``k#i``: a retry after a
failure in part 2 resends part 1 under the same key, for the gateway to drop.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ticketflow.errors import TicketflowError
from ticketflow.hooks.hookspecs import hookimpl
from ticketflow.hooks.types import Notification

logger = logging.getLogger("ticketflow.sms")

_MAINLAND = re.compile(r"(?:\+86)?(1[3-9]\d{9})")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_BREAKS = " \n\t，。；！？、,.;!?"


class SmsError(TicketflowError, ValueError):
    """An SMS that cannot be sent as asked: retrying will not help."""


class InvalidPhoneNumberError(SmsError):
    """The number is neither a mainland mobile number nor an E.164 number."""


class SmsTooLongError(SmsError):
    """The text needs more parts than the notifier may send."""


@runtime_checkable
class SmsGateway(Protocol):
    """Something that sends one SMS; raise on failure (the outbox retries)."""

    def send(self, to: str, text: str, key: str) -> None: ...


@dataclass(frozen=True)
class SentSms:
    """One message handed to a :class:`LoggingSmsGateway`."""

    to: str
    text: str
    key: str


class LoggingSmsGateway:
    """Sends nothing: logs each SMS and keeps the last ``keep`` of them (``messages``)."""

    def __init__(self, keep: int = 100) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._sent: deque[SentSms] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def send(self, to: str, text: str, key: str) -> None:
        logger.info("SMS to %s (key %s): %s", to, key or "-", text)
        with self._lock:
            self._sent.append(SentSms(to, text, key))

    @property
    def messages(self) -> list[SentSms]:
        """The messages kept, oldest first."""
        with self._lock:
            return list(self._sent)

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()


def normalize_number(number: str) -> str:
    """The E.164 form of ``number``; raise :class:`InvalidPhoneNumberError` if it is none."""
    compact = re.sub(r"[\s-]", "", number)
    mainland = _MAINLAND.fullmatch(compact)
    if mainland:
        return "+86" + mainland.group(1)
    if _E164.fullmatch(compact) and not compact.startswith("+86"):
        return compact
    raise InvalidPhoneNumberError(
        f"{number!r} is not a mobile number: expected 1[3-9] and 9 more digits "
        "(optionally +86) or an E.164 number such as +85291234567"
    )


def split_text(text: str, max_length: int, max_parts: int) -> list[str]:
    """``text`` as the SMS to send: itself if short enough, else numbered parts."""
    if len(text) <= max_length:
        return [text]
    if max_parts > 1:
        for count in range(2, max_parts + 1):
            room = max_length - len(f"({count}/{count})")
            chunks = _chunks(text, room) if room > 0 else []
            if chunks and len(chunks) <= count:
                return [f"({i}/{len(chunks)}){c}" for i, c in enumerate(chunks, 1)]
    raise SmsTooLongError(
        f"SMS text of {len(text)} characters does not fit in {max_parts} "
        f"part(s) of {max_length} characters"
    )


def _chunks(text: str, room: int) -> list[str]:
    chunks: list[str] = []
    rest = text
    while len(rest) > room:
        cut = room
        window = rest[:room]
        best = max(window.rfind(c) for c in _BREAKS)
        if best >= room // 2:
            cut = best + 1
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


class SmsNotifier:
    """Delivers ``sms`` notifications through ``gateway`` (see the module's rules)."""

    def __init__(self, gateway: SmsGateway, max_length: int = 70, max_parts: int = 5) -> None:
        if max_length < 10:
            raise ValueError("max_length must be at least 10 characters")
        if max_parts < 1:
            raise ValueError("max_parts must be at least 1")
        self.gateway = gateway
        self.max_length = max_length
        self.max_parts = max_parts

    @hookimpl
    def ticketflow_notify(self, message: Notification) -> bool | None:
        if message.channel != "sms":
            return None
        to = normalize_number(message.to)
        text = message.body.strip()
        if not text:
            raise SmsError(f"empty SMS to {to} (ticket {message.ticket_number or '-'})")
        parts = split_text(text, self.max_length, self.max_parts)
        key = message.idempotency_key
        for i, part in enumerate(parts, 1):
            self.gateway.send(to, part, f"{key}#{i}" if len(parts) > 1 and key else key)
        return True


#: The built-in plugin's gateway: inspect ``default_gateway.messages`` to see what was sent.
default_gateway = LoggingSmsGateway()
_default_notifier = SmsNotifier(default_gateway)


@hookimpl
def ticketflow_notify(message: Notification) -> bool | None:
    """The built-in plugin: SMS through :data:`default_gateway`, which only logs."""
    return _default_notifier.ticketflow_notify(message)
