"""Errors of the category catalog: bad files, bad classifications, unknown codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ticketflow.errors import InvalidDataError, NotFoundError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a category file: where (file, line, code) and what."""

    file: str
    line: int | None
    code: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        code = f" code '{self.code}':" if self.code else ""
        return f"{where}:{code} {self.reason}"


class CatalogFileError(InvalidDataError):
    """A category file cannot be imported; ``problems`` lists every problem found, each
    with its file, line and code. Nothing was imported."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        more = len(self.problems) - 1
        head = f"{first.file}: {len(self.problems)} problems, nothing imported" if more else ""
        lines = [str(p) for p in self.problems]
        super().__init__("\n".join([head, *lines]) if head else lines[0])


class UnknownCategoryError(NotFoundError):
    """No category has that code."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"no category has the code {code!r}")


class ClassificationError(InvalidDataError):
    """A ticket's ``category_l1`` .. ``category_l4`` do not form a path of the tree;
    ``field`` names the first offending field."""

    def __init__(self, field: str, reason: str, *, ticket: str | None = None) -> None:
        self.field = field
        self.reason = reason
        self.ticket = ticket
        where = f"ticket {ticket}: " if ticket else ""
        super().__init__(f"{where}field '{field}': {reason}")
