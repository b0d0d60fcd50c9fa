"""The README's quick-start sample works when pasted."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_quick_start_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", readme, re.S)
    assert code is not None
    (tmp_path / "processes").symlink_to(ROOT / "processes")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), "README.md", "exec"), namespace)
    ticket = namespace["ticket"]
    assert [t.element_id for t in ticket.open_tasks] == ["classify"]  # type: ignore[attr-defined]
    assert os.path.exists(tmp_path / "tickets.db")
    namespace["engine"].close()  # type: ignore[attr-defined]


def test_two_commands_are_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -e . && ticketflow demo" in readme
    assert 'pip install -e ".[test]" && python -m pytest -q' in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install --quiet -e ".[test]" && python -m pytest -q' in ci
