"""Printing for the command line: text from tickets, BPMN files and errors shown as is.

Rich reads ``[word]`` as a style tag, so a message naming a scenario table
(``[tasks.handle]``) or a customer's text with brackets would lose those words. Anything
that is not ticketflow's own markup goes through :func:`plain` first.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape


def plain(value: object) -> str:
    """``value`` as text that Rich prints verbatim (no markup read in it)."""
    return escape(str(value))


def fail(console: Console, message: object, code: int = 1) -> NoReturn:
    """Print ``error: message`` on one logical line (never wrapped) and exit with ``code``."""
    console.print(f"[red]error:[/] {plain(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)
