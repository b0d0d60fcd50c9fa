"""Every processes/*.bpmn opens cleanly in bpmn-js, the editor designers use.

tools/bpmnjs/check.mjs imports each file into the bpmn-js Modeler (with the Camunda moddle
extension, so camunda:* attributes are understood) in headless Chromium and reports importXML's
warnings and errors. One browser run covers all files (a session-scoped fixture); each file is
its own test.

Needs node, ``npm ci --prefix tools/bpmnjs`` and Chromium (``apt-get install -y chromium``, or
TICKETFLOW_CHROMIUM naming another binary). Without them the tests skip, unless
TICKETFLOW_REQUIRE_BROWSER=1 (as in CI), when they fail instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "bpmnjs"
CHECKER = TOOL / "check.mjs"
PROCESS_FILES = sorted((ROOT / "processes").glob("*.bpmn"))
REQUIRE_BROWSER = os.environ.get("TICKETFLOW_REQUIRE_BROWSER") == "1"
CHROMIUM = os.environ.get("TICKETFLOW_CHROMIUM", "/usr/bin/chromium")

Results = dict[str, dict[str, Any]]


def _missing_prerequisite() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH"
    for package in ("bpmn-js", "camunda-bpmn-moddle", "playwright-core"):
        if not (TOOL / "node_modules" / package / "package.json").is_file():
            return f"tools/bpmnjs/node_modules/{package} is missing (run: npm ci --prefix tools/bpmnjs)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (run: apt-get install -y chromium)"
    return None


def _require_browser() -> None:
    reason = _missing_prerequisite()
    if reason is None:
        return
    if REQUIRE_BROWSER:
        pytest.fail(f"TICKETFLOW_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"bpmn-js browser check not available: {reason}")


def run_checker(files: list[Path], *options: str) -> tuple[int, Results]:
    """Run check.mjs once on all files; return its exit status and its result per file."""
    args = ["node", str(CHECKER), *(str(f) for f in files), *options]
    proc = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=120 + 30 * len(files)
    )
    results: Results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
            results[result["file"]] = result
    if proc.returncode not in (0, 1) or set(results) != {str(f) for f in files}:
        pytest.fail(
            f"check.mjs did not run (exit {proc.returncode})\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
            pytrace=False,
        )
    assert (proc.returncode == 0) == all(r["ok"] for r in results.values()), proc.stdout
    return proc.returncode, results


@pytest.fixture(scope="session")
def bpmnjs_results() -> Results:
    _require_browser()
    _, results = run_checker(PROCESS_FILES)
    return results


@pytest.mark.parametrize("path", PROCESS_FILES, ids=lambda p: p.name)
def test_process_imports_into_bpmnjs_without_warnings(path: Path, bpmnjs_results: Results) -> None:
    result = bpmnjs_results[str(path)]
    assert result["error"] is None, f"{path.name}: bpmn-js import failed: {result['error']}"
    assert result["warnings"] == [], f"{path.name}: bpmn-js import warnings: {result['warnings']}"
    assert result["ok"] is True


# The check must be able to fail: files that bpmn-js does not import cleanly.

_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"'
    ' xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"'
    ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'
    ' id="Defs" targetNamespace="http://ticketflow.dev/test">\n'
)


def _bpmn(process_body: str, shapes: str) -> str:
    return (
        f'{_HEAD}  <bpmn:process id="p" isExecutable="true">\n{process_body}  </bpmn:process>\n'
        '  <bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="P" bpmnElement="p">\n'
        f"{shapes}  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n</bpmn:definitions>\n"
    )


_START = '    <bpmn:startEvent id="start" />\n'
_START_DI = '    <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="100" width="36" height="36" /></bpmndi:BPMNShape>\n'

SAMPLES = {
    # Valid, with a camunda:* attribute: must pass, so the failures below are not noise.
    "valid": _bpmn(
        _START + '    <bpmn:userTask id="t" camunda:candidateGroups="agents" />\n',
        _START_DI
        + '    <bpmndi:BPMNShape id="t_di" bpmnElement="t"><dc:Bounds x="200" y="78" width="100" height="80" /></bpmndi:BPMNShape>\n',
    ),
    # A DI shape pointing at an element the process does not have.
    "missing_di_target": _bpmn(
        _START,
        _START_DI
        + '    <bpmndi:BPMNShape id="ghost_di" bpmnElement="no_such_task"><dc:Bounds x="200" y="78" width="100" height="80" /></bpmndi:BPMNShape>\n',
    ),
    # An element BPMN does not define.
    "unknown_element": _bpmn(_START + '    <bpmn:frobnicateTask id="weird" />\n', _START_DI),
    # Not well-formed XML at all.
    "broken_xml": _HEAD + '  <bpmn:process id="p">\n',
}


@pytest.fixture(scope="module")
def negative_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Results, Path]:
    _require_browser()
    folder = tmp_path_factory.mktemp("bpmnjs_negative")
    files = []
    for name, text in SAMPLES.items():
        path = folder / f"{name}.bpmn"
        path.write_text(text, encoding="utf-8")
        files.append(path)
    png_dir = folder / "png"
    status, results = run_checker(files, "--png-dir", str(png_dir))
    return status, {Path(k).stem: v for k, v in results.items()}, png_dir


def test_checker_passes_a_valid_file_and_draws_it(negative_run: tuple[int, Results, Path]) -> None:
    _, results, png_dir = negative_run
    assert results["valid"]["ok"] is True, results["valid"]
    png = png_dir / "valid.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checker_exits_nonzero_when_any_file_fails(negative_run: tuple[int, Results, Path]) -> None:
    status, _, _ = negative_run
    assert status == 1


def test_checker_reports_di_for_a_missing_element(negative_run: tuple[int, Results, Path]) -> None:
    result = negative_run[1]["missing_di_target"]
    assert result["ok"] is False
    assert any("no_such_task" in w for w in result["warnings"]), result


def test_checker_reports_an_unknown_element(negative_run: tuple[int, Results, Path]) -> None:
    result = negative_run[1]["unknown_element"]
    assert result["ok"] is False
    assert any("frobnicateTask" in w for w in result["warnings"]), result


def test_checker_reports_unparsable_xml(negative_run: tuple[int, Results, Path]) -> None:
    result = negative_run[1]["broken_xml"]
    assert result["ok"] is False
    assert result["error"], result
