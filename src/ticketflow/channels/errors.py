"""Errors of the intake channels: each names what was wrong, for the sender's answer."""

from __future__ import annotations

from ticketflow.errors import InvalidDataError, TicketflowError


class ChannelError(TicketflowError):
    """A message from a channel that ticketflow cannot act on."""


class ReplyTokenError(ChannelError):
    """A reply token that is missing, forged, expired, used, or not the sender's."""


class UnknownSenderError(ChannelError):
    """The sender's address belongs to no user in the directory."""


class MailFormatError(ChannelError, InvalidDataError):
    """An e-mail that cannot be read: unparseable, too large, or with bad field lines."""


class SmsFormatError(ChannelError, InvalidDataError):
    """A fixed-format SMS with a missing or unknown part."""


class ChannelNotConfiguredError(ChannelError, LookupError):
    """The engine has no plugin configuring this channel (``Engine(plugins=[...])``)."""
