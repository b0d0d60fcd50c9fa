"""BPMN coverage: which flow nodes and sequence flows a test session exercised.

A :class:`CoverageCollector` listens to :mod:`ticketflow.runtime.observe`, so it sees the
steps of every engine in the process. Hits are kept per process *version* (the content
hash of its BPMN file); totals come from the parsed files, so what was never reached
shows as uncovered. Coverage of a process is (nodes covered + flows covered) / (nodes +
flows).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ticketflow.definitions.loader import bpmn_files, content_hash
from ticketflow.errors import DefinitionError
from ticketflow.runtime.observe import StepObservation
from ticketflow.testing.bpmn import ProcessModel, parse_models

#: Version of the JSON layout written by :meth:`CoverageReport.to_dict`.
JSON_FORMAT = 1


def _percent(covered: int, total: int) -> float:
    return round(100.0 * covered / total, 1) if total else 100.0


@dataclass(frozen=True)
class ProcessCoverage:
    """Hit counts of one process version against everything its file declares."""

    model: ProcessModel
    #: Version numbers this content had in the databases of the session.
    versions: tuple[int, ...]
    node_hits: Mapping[str, int]
    flow_hits: Mapping[str, int]
    #: A name that tells this version apart when a process ran in several versions.
    label: str

    @property
    def nodes_covered(self) -> int:
        return sum(1 for n in self.model.nodes if self.node_hits.get(n, 0))

    @property
    def flows_covered(self) -> int:
        return sum(1 for f in self.model.flows if self.flow_hits.get(f, 0))

    @property
    def percent(self) -> float:
        return _percent(
            self.nodes_covered + self.flows_covered, len(self.model.nodes) + len(self.model.flows)
        )

    def to_dict(self) -> dict[str, Any]:
        m = self.model
        return {
            "process_id": m.process_id,
            "label": self.label,
            "name": m.name,
            "file": m.filename,
            "content_hash": m.content_hash,
            "versions": list(self.versions),
            "nodes": {"covered": self.nodes_covered, "total": len(m.nodes)},
            "flows": {"covered": self.flows_covered, "total": len(m.flows)},
            "percent": self.percent,
            "elements": [
                {"id": n.id, "kind": n.kind, "name": n.name, "hits": self.node_hits.get(n.id, 0)}
                for n in m.nodes.values()
            ],
            "sequence_flows": [
                {
                    "id": f.id,
                    "source": f.source,
                    "target": f.target,
                    "name": f.name,
                    "hits": self.flow_hits.get(f.id, 0),
                }
                for f in m.flows.values()
            ],
        }


@dataclass(frozen=True)
class CoverageReport:
    """The coverage of a session, one entry per process version."""

    processes: tuple[ProcessCoverage, ...]
    #: Observed elements that no known BPMN file declares (should stay 0).
    unmatched: int = 0
    #: Files that could not be read for the report, with the reason.
    skipped: tuple[str, ...] = ()

    @property
    def nodes_covered(self) -> int:
        return sum(p.nodes_covered for p in self.processes)

    @property
    def nodes_total(self) -> int:
        return sum(len(p.model.nodes) for p in self.processes)

    @property
    def flows_covered(self) -> int:
        return sum(p.flows_covered for p in self.processes)

    @property
    def flows_total(self) -> int:
        return sum(len(p.model.flows) for p in self.processes)

    @property
    def percent(self) -> float:
        return _percent(
            self.nodes_covered + self.flows_covered, self.nodes_total + self.flows_total
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": JSON_FORMAT,
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "totals": {
                "nodes": {"covered": self.nodes_covered, "total": self.nodes_total},
                "flows": {"covered": self.flows_covered, "total": self.flows_total},
                "percent": self.percent,
            },
            "unmatched": self.unmatched,
            "skipped": list(self.skipped),
            "processes": [p.to_dict() for p in self.processes],
        }

    def write_json(self, path: Path) -> None:
        path.write_text(
            json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )


class CoverageCollector:
    """Collects :class:`StepObservation` s (it is the listener) into a :class:`CoverageReport`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, list[ProcessModel]] = {}
        self._by_file: dict[str, list[str]] = {}
        self._listed: set[tuple[str, str]] = set()
        self._node_hits: dict[tuple[str, str], Counter[str]] = {}
        self._flow_hits: dict[tuple[str, str], Counter[str]] = {}
        self._versions: dict[tuple[str, str], set[int]] = {}
        self._resolved: dict[tuple[str, str, str | None], ProcessModel | None] = {}
        self._unmatched = 0
        self._skipped: list[str] = []

    # --- the universe ---------------------------------------------------------------

    def add_paths(self, paths: Iterable[Path]) -> None:
        """List every executable process in the BPMN files at ``paths``, even if never run."""
        for path in paths:
            try:
                files = bpmn_files(path)
            except DefinitionError as exc:
                self._skipped.append(str(exc))
                continue
            for file in files:
                try:
                    models = self._register(str(file), file.read_bytes())
                except (DefinitionError, OSError) as exc:
                    self._skipped.append(f"{file}: {exc}")
                    continue
                with self._lock:
                    self._listed.update(
                        (m.content_hash, m.process_id) for m in models if m.executable
                    )

    def _register(
        self, filename: str, source: bytes, digest: str | None = None
    ) -> list[ProcessModel]:
        digest = digest or content_hash(source)
        with self._lock:
            known = self._models.get(digest)
            if known is None:
                known = self._models[digest] = parse_models(source, filename)
            hashes = self._by_file.setdefault(filename, [])
            if digest not in hashes:
                hashes.append(digest)
            return known

    # --- listening ------------------------------------------------------------------

    def observe(self, obs: StepObservation) -> None:
        """The :mod:`ticketflow.runtime.observe` listener."""
        d = obs.definition
        models = self._register(d.filename, d.source, d.content_hash)
        with self._lock:
            for scope, element in obs.nodes:
                model = self._resolve(d.content_hash, models, scope, obs.files.get(scope))
                if model is None or element not in model.nodes:
                    self._unmatched += 1
                    continue
                self._counter(self._node_hits, model)[element] += 1
            for scope, source, target in obs.flows:
                model = self._resolve(d.content_hash, models, scope, obs.files.get(scope))
                if model is None:
                    continue
                # Arrivals from no sequence flow (a boundary event firing) match nothing.
                for flow_id in model.flows_between(source, target):
                    self._counter(self._flow_hits, model)[flow_id] += 1
            if d.version is not None:
                self._versions.setdefault((d.content_hash, d.process_id), set()).add(d.version)

    @staticmethod
    def _counter(table: dict[tuple[str, str], Counter[str]], model: ProcessModel) -> Counter[str]:
        return table.setdefault((model.content_hash, model.process_id), Counter())

    def _resolve(
        self, digest: str, models: list[ProcessModel], scope: str, file: str | None
    ) -> ProcessModel | None:
        """The process (version) whose file declares the workflow named ``scope``."""
        key = (digest, scope, file)
        if key in self._resolved:
            return self._resolved[key]
        found = next((m for m in models if scope in m.scopes), None)
        if found is None and file is not None:
            # A called process: the latest content seen for its file, else the file on disk.
            found = self._find(scope, self._by_file.get(file, []))
            if found is None and Path(file).is_file():
                # Unreadable: the elements stay unmatched, and the report says how many.
                with suppress(DefinitionError, OSError):
                    self._register(file, Path(file).read_bytes())
                found = self._find(scope, self._by_file.get(file, []))
        if found is None:
            found = self._find(scope, list(self._models))
        self._resolved[key] = found
        return found

    def _find(self, scope: str, hashes: list[str]) -> ProcessModel | None:
        for digest in reversed(hashes):
            for m in self._models.get(digest, []):
                if scope in m.scopes:
                    return m
        return None

    # --- the result -----------------------------------------------------------------

    def report(self) -> CoverageReport:
        """Coverage of every listed or exercised process version, by process id."""
        with self._lock:
            keys = self._listed | set(self._node_hits) | set(self._flow_hits)
            models = {
                (m.content_hash, m.process_id): m
                for ms in self._models.values()
                for m in ms
                if (m.content_hash, m.process_id) in keys
            }
            per_process = Counter(pid for _, pid in models)
            entries = []
            for key, m in sorted(models.items(), key=lambda kv: (kv[0][1], kv[1].filename)):
                versions = tuple(sorted(self._versions.get(key, ())))
                label = m.process_id
                if per_process[m.process_id] > 1:
                    tag = f"v{'/'.join(map(str, versions))}" if versions else "not run"
                    label = f"{m.process_id} ({Path(m.filename).name} {m.content_hash[:8]}, {tag})"
                entries.append(
                    ProcessCoverage(
                        model=m,
                        versions=versions,
                        node_hits=dict(self._node_hits.get(key, {})),
                        flow_hits=dict(self._flow_hits.get(key, {})),
                        label=label,
                    )
                )
            return CoverageReport(tuple(entries), self._unmatched, tuple(self._skipped))
