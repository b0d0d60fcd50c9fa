"""``ticketflow categories import|export|show``: the category tree and its grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from ticketflow.console import fail
from ticketflow.errors import TicketflowError

app = typer.Typer(
    help="The complaint category tree and its responsibility grid.", no_args_is_help=True
)
console = Console()

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="TICKETFLOW_DATABASE_URL", help="SQLAlchemy database URL."),
]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="csv or json (default: from the file's suffix).")
]
DEFAULT_URL = "sqlite:///ticketflow.db"


def _fail(exc: Exception) -> NoReturn:
    fail(console, exc)


@app.command("import")
def import_(
    file: Annotated[
        Path | None, typer.Argument(help="CSV or JSON file (default: the shipped tree).")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    fmt: FormatOption = None,
    allow_removal: Annotated[
        bool, typer.Option(help="Remove categories that tickets still use.")
    ] = False,
) -> None:
    """Validate a category file and make it the stored tree (all or nothing)."""
    from ticketflow.catalog.store import DEFAULT_TREE, Catalog
    from ticketflow.engine import Engine

    try:
        with Engine(url) as engine:
            report = Catalog(engine).import_file(
                file or DEFAULT_TREE, fmt=fmt, allow_removal=allow_removal
            )
    except TicketflowError as exc:
        _fail(exc)
    console.print(str(report), highlight=False, soft_wrap=True)


@app.command()
def export(
    file: Annotated[Path, typer.Argument(help="CSV or JSON file to write.")],
    url: UrlOption = DEFAULT_URL,
    fmt: FormatOption = None,
) -> None:
    """Write the stored tree to a file (importing it again changes nothing)."""
    from ticketflow.catalog.store import Catalog
    from ticketflow.engine import Engine

    try:
        with Engine(url) as engine:
            tree = Catalog(engine).export_file(file, fmt=fmt)
    except (TicketflowError, OSError) as exc:
        _fail(exc)
    console.print(f"{len(tree)} categories written to {file}", highlight=False, soft_wrap=True)


@app.command()
def show(
    code: Annotated[
        str | None, typer.Argument(help="A category: its path, children, grid.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    region: Annotated[str | None, typer.Option(help="Who is responsible in this region.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include retired categories.")] = False,
) -> None:
    """Print the tree, or one category with its path, children and responsibility."""
    from ticketflow.catalog.model import Category, CategoryTree
    from ticketflow.catalog.store import Catalog
    from ticketflow.engine import Engine

    def line(c: Category) -> str:
        who = " ".join(x for x in (c.department, c.person) if x)
        flags = f" [SP: {c.sp_name}]" if c.sp_name else (" [SP]" if c.sp else "")
        retired = " (retired)" if not c.active else ""
        grid = "".join(f" · {g.region} -> {g.department} {g.person or ''}".rstrip() for g in c.grid)
        return f"{c.code} {c.name}{flags}{retired}" + (f"  → {who}" if who else "") + grid

    def add(tree: CategoryTree, parent: Tree, c: Category) -> None:
        branch = parent.add(line(c))
        for child in tree.children(c.code, active_only=not all_):
            add(tree, branch, child)

    try:
        with Engine(url) as engine:
            tree = Catalog(engine).tree()
        if code is None:
            root = Tree(f"{len(tree)} categories")
            for c in tree.roots(active_only=not all_):
                add(tree, root, c)
            console.print(root, highlight=False)
            return
        node = tree.get(code)
        table = Table(show_header=False, box=None)
        table.add_row("path", " / ".join(f"{n.code} {n.name}" for n in tree.path(code)))
        table.add_row("level", str(node.level))
        table.add_row("active", "yes" if tree.is_active(code) else "no")
        table.add_row("SP", tree.sp_name(code) or ("yes" if tree.is_sp(code) else "no"))
        who = tree.responsible(code, region)
        table.add_row(
            "responsible" + (f" in {region}" if region else ""),
            f"{who.department} {who.person or ''} (from {who.source})" if who else "nobody",
        )
        kids = tree.children(code, active_only=not all_)
        table.add_row("children", ", ".join(f"{c.code} {c.name}" for c in kids) or "none")
        console.print(table, highlight=False)
    except TicketflowError as exc:
        _fail(exc)
