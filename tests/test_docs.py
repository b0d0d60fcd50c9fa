"""docs/ stays true: the generated process reference matches the BPMN files."""

from __future__ import annotations

from ticketflow.definitions.describe import BEGIN, END, describe_paths, replace_generated

from .conftest import PROCESSES, ROOT


def test_process_reference_is_up_to_date() -> None:
    doc = (ROOT / "docs" / "processes.md").read_text(encoding="utf-8")
    expected = replace_generated(doc, describe_paths([PROCESSES]))
    assert doc == expected, "run: ticketflow describe processes/ --update docs/processes.md"


def test_every_process_has_a_diagram_image() -> None:
    for path in PROCESSES.glob("*.bpmn"):
        assert (ROOT / "docs" / "images" / f"{path.stem}.png").exists(), path.name


def test_replace_generated_needs_markers() -> None:
    import pytest

    with pytest.raises(ValueError, match="has no"):
        replace_generated("no markers here", "x")
    assert replace_generated(f"a{BEGIN}old{END}b", "new") == f"a{BEGIN}\n\nnew\n\n{END}b"
