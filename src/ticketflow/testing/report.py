"""Rendering a :class:`~ticketflow.testing.coverage.CoverageReport`: terminal table and HTML.

The HTML page is self-contained: a summary table, then per process its diagram drawn
from the file's BPMN DI as inline SVG (covered elements green, uncovered red) and
tables of flow nodes and sequence flows with their hit counts.
"""

from __future__ import annotations

import unicodedata
from html import escape
from pathlib import Path

from ticketflow.testing.bpmn import Bounds, Diagram, Node
from ticketflow.testing.coverage import CoverageReport, ProcessCoverage

_COVERED = ("#2e7d32", "#e8f5e9")
_UNCOVERED = ("#c62828", "#ffebee")


def terminal_lines(report: CoverageReport) -> list[str]:
    """The summary table: per process nodes x/y, flows x/y and the combined percentage."""
    rows = [
        (
            p.label,
            p.nodes_covered,
            len(p.model.nodes),
            p.flows_covered,
            len(p.model.flows),
            p.percent,
        )
        for p in report.processes
    ]
    rows.append(
        (
            "TOTAL",
            report.nodes_covered,
            report.nodes_total,
            report.flows_covered,
            report.flows_total,
            report.percent,
        )
    )
    width = max(len("process"), *(_width(r[0]) for r in rows))
    lines = [f"{'process':<{width}}  {'nodes':>9}  {'flows':>9}  {'cover':>6}"]
    for i, (label, nc, nt, fc, ft, pct) in enumerate(rows):
        if i == len(rows) - 1:
            lines.append("-" * (width + 32))
        pad = " " * (width - _width(label))
        lines.append(f"{label}{pad}  {f'{nc}/{nt}':>9}  {f'{fc}/{ft}':>9}  {pct:>5.1f}%")
    if report.unmatched:
        lines.append(f"note: {report.unmatched} observed elements matched no known BPMN file")
    lines.extend(f"skipped: {s}" for s in report.skipped)
    return lines


def _width(text: str) -> int:
    """Display width in a terminal (CJK characters take two columns)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def write_html(report: CoverageReport, path: Path) -> None:
    path.write_text(render_html(report), encoding="utf-8")


def render_html(report: CoverageReport) -> str:
    summary = "".join(
        f'<tr><td><a href="#p{i}">{escape(p.label)}</a></td>'
        f"<td>{p.nodes_covered}/{len(p.model.nodes)}</td>"
        f"<td>{p.flows_covered}/{len(p.model.flows)}</td>"
        f'<td class="{_grade(p.percent)}">{p.percent:.1f}%</td></tr>'
        for i, p in enumerate(report.processes)
    )
    sections = "".join(_section(i, p) for i, p in enumerate(report.processes))
    notes = ""
    if report.unmatched or report.skipped:
        items = [f"{report.unmatched} observed elements matched no known BPMN file"]
        items += [escape(s) for s in report.skipped]
        notes = "<ul>" + "".join(f"<li>{x}</li>" for x in items) + "</ul>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>ticketflow BPMN coverage</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin:.5em 0 1.5em}}
td,th{{border:1px solid #ccc;padding:.25em .6em;text-align:left}}
th{{background:#f3f3f3}}
tr.miss td{{background:{_UNCOVERED[1]}}}
tr.hit td{{background:{_COVERED[1]}}}
td.good{{color:{_COVERED[0]}}} td.poor{{color:{_UNCOVERED[0]}}}
.diagram{{overflow:auto;border:1px solid #ddd;max-width:100%}}
code{{font-size:90%}}
</style></head><body>
<h1>ticketflow BPMN coverage</h1>
<p>Coverage = (flow nodes covered + sequence flows covered) / (flow nodes + sequence
flows). <span style="color:{_COVERED[0]}">Green</span>: exercised by the tests;
<span style="color:{_UNCOVERED[0]}">red</span>: never reached.</p>
<table><tr><th>process</th><th>nodes</th><th>flows</th><th>cover</th></tr>
{summary}
<tr><th>TOTAL</th><th>{report.nodes_covered}/{report.nodes_total}</th>
<th>{report.flows_covered}/{report.flows_total}</th><th>{report.percent:.1f}%</th></tr>
</table>{notes}
{sections}
</body></html>
"""


def _grade(percent: float) -> str:
    return "good" if percent >= 80 else "poor" if percent < 50 else ""


def _section(index: int, p: ProcessCoverage) -> str:
    m = p.model
    versions = ", ".join(f"v{v}" for v in p.versions) or "not run"
    nodes = "".join(
        f'<tr class="{"hit" if p.node_hits.get(n.id) else "miss"}"><td><code>{escape(n.id)}'
        f"</code></td><td>{escape(n.kind)}</td><td>{escape(n.name)}</td>"
        f"<td>{p.node_hits.get(n.id, 0)}</td></tr>"
        for n in m.nodes.values()
    )
    flows = "".join(
        f'<tr class="{"hit" if p.flow_hits.get(f.id) else "miss"}"><td><code>{escape(f.id)}'
        f"</code></td><td><code>{escape(f.source)}</code> → <code>{escape(f.target)}</code>"
        f"</td><td>{escape(f.name)}</td><td>{p.flow_hits.get(f.id, 0)}</td></tr>"
        for f in m.flows.values()
    )
    return f"""<h2 id="p{index}">{escape(p.label)} — {escape(m.name)}</h2>
<p>File <code>{escape(m.filename)}</code>, content <code>{m.content_hash[:12]}</code>,
{versions}. Nodes {p.nodes_covered}/{len(m.nodes)}, flows {p.flows_covered}/{len(m.flows)},
{p.percent:.1f}%.</p>
{_svg(p)}
<h3>Flow nodes</h3>
<table><tr><th>id</th><th>kind</th><th>name</th><th>hits</th></tr>{nodes}</table>
<h3>Sequence flows</h3>
<table><tr><th>id</th><th>from → to</th><th>name</th><th>hits</th></tr>{flows}</table>
"""


def _svg(p: ProcessCoverage) -> str:
    """The process diagram from its BPMN DI; empty when the file has none."""
    d: Diagram = p.model.diagram
    if not d.shapes:
        return "<p><em>The file has no diagram information (BPMN DI).</em></p>"
    xs: list[float] = []
    ys: list[float] = []
    for b in [*d.shapes.values(), *(c for _, c in d.containers)]:
        xs += [b.x, b.x + b.width]
        ys += [b.y, b.y + b.height]
    for points in d.edges.values():
        xs += [x for x, _ in points]
        ys += [y for _, y in points]
    pad = 30.0
    x0, y0 = min(xs) - pad, min(ys) - pad
    w, h = max(xs) - x0 + pad, max(ys) - y0 + pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0:.0f} {y0:.0f} {w:.0f} {h:.0f}" '
        f'width="{w:.0f}" height="{h:.0f}" font-family="sans-serif" font-size="11">',
        "<defs>"
        + "".join(
            f'<marker id="arrow-{k}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{c}"/></marker>'
            for k, c in (("hit", _COVERED[0]), ("miss", _UNCOVERED[0]))
        )
        + "</defs>",
    ]
    for label, b in d.containers:
        # The name runs up the container's left band, as modelling tools draw it.
        tx, ty = b.x + 15, b.y + b.height / 2
        parts.append(
            f'<rect x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}" fill="none" '
            f'stroke="#bbb"/><text x="{tx}" y="{ty}" transform="rotate(-90 {tx} {ty})" '
            f'text-anchor="middle" dominant-baseline="middle" fill="#888">'
            f"{escape(label)}</text>"
        )
    for flow_id, points in d.edges.items():
        flow = p.model.flows.get(flow_id)
        if flow is None:
            continue
        hits = p.flow_hits.get(flow_id, 0)
        kind = "hit" if hits else "miss"
        colour = _COVERED[0] if hits else _UNCOVERED[0]
        path = " ".join(f"{x},{y}" for x, y in points)
        dash = "" if hits else ' stroke-dasharray="6 3"'
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
            f'marker-end="url(#arrow-{kind})"{dash}>'
            f"<title>{escape(flow_id)}: {hits} hits</title></polyline>"
        )
        if flow.name:
            (ax, ay), (bx, by) = points[0], points[1]
            parts.append(
                f'<text x="{(ax + bx) / 2 + 4}" y="{(ay + by) / 2 - 4}" fill="#555">'
                f"{escape(flow.name)}</text>"
            )
    # Boundary events last, so they sit on top of their activity.
    nodes = sorted(p.model.nodes.values(), key=lambda n: n.kind == "boundaryEvent")
    for node in nodes:
        shape = d.shapes.get(node.id)
        if shape is not None:
            parts.append(_shape(node, shape, p.node_hits.get(node.id, 0)))
    parts.append("</svg>")
    return '<div class="diagram">' + "".join(parts) + "</div>"


def _shape(node: Node, b: Bounds, hits: int) -> str:
    stroke, fill = _COVERED if hits else _UNCOVERED
    title = f"<title>{escape(node.id)} ({escape(node.kind)}): {hits} hits</title>"
    cx, cy = b.x + b.width / 2, b.y + b.height / 2
    if node.kind.endswith("Event"):
        r = min(b.width, b.height) / 2
        width = 3 if node.kind == "endEvent" else 1.5
        inner = ""
        if node.kind.startswith("intermediate") or node.kind == "boundaryEvent":
            inner = f'<circle cx="{cx}" cy="{cy}" r="{r - 3}" fill="none" stroke="{stroke}"/>'
        label = _label(node.name, cx, b.y + b.height + 13, 18)
        return (
            f'<g><circle cx="{cx}" cy="{cy}" r="{r}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}"/>{inner}{label}{title}</g>'
        )
    if node.kind.endswith("Gateway"):
        pts = f"{cx},{b.y} {b.x + b.width},{cy} {cx},{b.y + b.height} {b.x},{cy}"
        mark = {"parallelGateway": "+", "inclusiveGateway": "o", "eventBasedGateway": "◇"}.get(
            node.kind, "×"
        )
        label = _label(node.name, cx, b.y + b.height + 13, 18)
        return (
            f'<g><polygon points="{pts}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
            f'<text x="{cx}" y="{cy + 6}" text-anchor="middle" font-size="18" '
            f'fill="{stroke}">{mark}</text>{label}{title}</g>'
        )
    label = _label(node.name or node.id, cx, cy, max(8, int(b.width / 7)), centre=True)
    return (
        f'<g><rect x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}" rx="8" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>{label}'
        f'<text x="{b.x + b.width - 4}" y="{b.y + 12}" text-anchor="end" font-size="9" '
        f'fill="{stroke}">{hits}×</text>{title}</g>'
    )


def _label(text: str, x: float, y: float, columns: int, *, centre: bool = False) -> str:
    """``text`` wrapped into lines of about ``columns`` display columns."""
    if not text:
        return ""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and _width(candidate) > columns:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    lines = lines[:4]
    top = y - (len(lines) - 1) * 6.5 + 4 if centre else y
    spans = "".join(
        f'<tspan x="{x}" y="{top + i * 13:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text text-anchor="middle" fill="#222">{spans}</text>'
