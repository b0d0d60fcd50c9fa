"""The pytest plugin registered under the ``pytest11`` entry point ``ticketflow``.

Fixtures (all prefixed ``tf_``): ``tf_database_url``, ``tf_clock``, ``tf_processes``,
``tf_make_engine``, ``tf_engine``, ``tf_users``. Options: ``--tf-processes DIR`` (ini
``tf_processes``), ``--tf-coverage`` and ``--tf-coverage-dir DIR`` (ini
``tf_coverage_dir``). Nothing happens unless a fixture is used or coverage is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ticketflow.engine import Engine
    from ticketflow.testing.coverage import CoverageCollector, CoverageReport
    from ticketflow.testing.users import Users
    from ticketflow.time.clock import FixedClock

_PLUGIN_NAME = "ticketflow-coverage"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ticketflow", "ticketflow process tests")
    group.addoption(
        "--tf-processes",
        dest="tf_processes",
        metavar="DIR",
        default=None,
        help="BPMN files deployed by the tf_engine fixture and listed in the coverage "
        "(default: the tf_processes ini option, else processes/ under the rootdir)",
    )
    group.addoption(
        "--tf-coverage",
        dest="tf_coverage",
        action="store_true",
        help="report which BPMN flow nodes and sequence flows the tests exercised",
    )
    group.addoption(
        "--tf-coverage-dir",
        dest="tf_coverage_dir",
        metavar="DIR",
        default=None,
        help="where --tf-coverage writes coverage.json and index.html "
        "(default: the tf_coverage_dir ini option, else tf-coverage/ under the rootdir)",
    )
    parser.addini("tf_processes", "folder of BPMN files for tf_engine", default="processes")
    parser.addini("tf_coverage_dir", "folder for the BPMN coverage report", default="tf-coverage")


def _configured_path(config: pytest.Config, option: str) -> Path:
    """A command-line path is relative to the working directory, an ini one to the rootdir."""
    value = config.getoption(option)
    if value is not None:
        return (config.invocation_params.dir / str(value)).resolve()
    return (config.rootpath / str(config.getini(option))).resolve()


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("tf_coverage") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_CoveragePlugin(config), _PLUGIN_NAME)


class _CoveragePlugin:
    """Listens to every engine step of the session and reports at its end."""

    def __init__(self, config: pytest.Config) -> None:
        from ticketflow.runtime import observe
        from ticketflow.testing.coverage import CoverageCollector

        self.processes = _configured_path(config, "tf_processes")
        self.directory = _configured_path(config, "tf_coverage_dir")
        self.collector: CoverageCollector = CoverageCollector()
        self.report: CoverageReport | None = None
        self.error: str | None = None
        observe.add_listener(self.collector.observe)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from ticketflow.testing.report import write_html

        if self.processes.is_dir():
            self.collector.add_paths([self.processes])
        self.report = self.collector.report()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.report.write_json(self.directory / "coverage.json")
            write_html(self.report, self.directory / "index.html")
        except OSError as exc:
            self.error = f"could not write the report to {self.directory}: {exc}"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from ticketflow.testing.report import terminal_lines

        if self.report is None:
            return
        terminalreporter.write_sep("-", "ticketflow BPMN coverage")
        for line in terminal_lines(self.report):
            terminalreporter.write_line(line)
        if self.error:
            terminalreporter.write_line(self.error, red=True)
        else:
            terminalreporter.write_line(
                f"JSON: {self.directory / 'coverage.json'}  HTML: {self.directory / 'index.html'}"
            )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from ticketflow.runtime import observe

        observe.remove_listener(self.collector.observe)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def tf_processes(pytestconfig: pytest.Config) -> Path:
    """The folder of BPMN files ``tf_engine`` deploys (``--tf-processes`` / ini)."""
    return _configured_path(pytestconfig, "tf_processes")


@pytest.fixture
def tf_database_url(tmp_path: Path) -> Iterator[str]:
    """A database for this test only: an SQLite file, or a new PostgreSQL schema when
    ``$TICKETFLOW_TEST_DATABASE_URL`` is set (dropped afterwards)."""
    from ticketflow.testing.database import temporary_database

    with temporary_database(tmp_path) as url:
        yield url


@pytest.fixture
def tf_clock() -> FixedClock:
    """A clock standing at 2026-01-05 09:00 UTC until advanced (``tf_clock.advance(hours=2)``)."""
    from ticketflow.time.clock import FixedClock

    return FixedClock()


@pytest.fixture
def tf_make_engine(
    tf_database_url: str, tf_clock: FixedClock, tf_processes: Path
) -> Iterator[Callable[..., Engine]]:
    """Build engines on the test database and clock: ``tf_make_engine(plugins=[...])``.

    ``deploy`` is True (the processes folder), False, or the files/folders to deploy; other
    keyword arguments go to :class:`~ticketflow.Engine`. Engines are closed after the test.
    """
    from ticketflow.engine import Engine

    engines: list[Engine] = []

    def factory(
        *, deploy: bool | Iterable[str | Path] = True, plugins: Iterable[object] = (), **kwargs: Any
    ) -> Engine:
        kwargs.setdefault("clock", tf_clock)
        kwargs.setdefault("auto_migrate", True)
        paths = _deploy_paths(deploy, tf_processes)
        engine = Engine(tf_database_url, plugins=plugins, **kwargs)
        engines.append(engine)
        if paths:
            engine.deploy(*paths)
        return engine

    yield factory
    for engine in engines:
        engine.close()


def _deploy_paths(deploy: bool | Iterable[str | Path], processes: Path) -> list[str | Path]:
    if deploy is False:
        return []
    if deploy is True:
        if not processes.is_dir():
            pytest.fail(
                f"ticketflow processes folder {processes} does not exist; set --tf-processes "
                "or the tf_processes ini option, or pass deploy=False / deploy=[paths]",
                pytrace=False,
            )
        return [processes]
    return list(deploy)


@pytest.fixture
def tf_engine(tf_make_engine: Callable[..., Engine]) -> Engine:
    """An engine on the test database and ``tf_clock``, with the processes folder deployed."""
    return tf_make_engine()


@pytest.fixture
def tf_users() -> Users:
    """Users to act as: ``tf_users.member("li.na", "intake_agent")``, ``tf_users.system``."""
    from ticketflow.testing.users import Users

    return Users()
