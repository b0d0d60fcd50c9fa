"""Run the benchmarks and write docs/performance.md.

python benchmarks/run.py                      # SQLite
python benchmarks/run.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import platform
import sys
import uuid
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import step_cost

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def postgres_urls(base: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    admin = create_engine(base, isolation_level="AUTOCOMMIT")

    def url_for(name: str) -> str:
        schema = f"tf_bench_{name}_{uuid.uuid4().hex[:6]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options=-csearch_path%3D{schema}"

    return url_for


def machine() -> str:
    import os

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = ", ".join(
        f"{p} {version(p)}" for p in ("SpiffWorkflow", "SQLAlchemy", "lxml", "psycopg")
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {packages}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL")
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    sections = [
        "# Performance\n",
        "Written by `python benchmarks/run.py"
        + (" --postgres URL" if args.postgres else "")
        + "`; do not edit by hand.\n",
        f"- Date: {now:%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}\n",
        "## Step cost against history (complaint flow)\n",
        step_cost.__doc__.strip() + "\n",
        "Median of 30 steps after the given number of reopen cycles; each step is one task "
        "completed and committed (load, run, save, task rows, history events).\n",
        "### SQLite (file, WAL)\n",
        step_cost.table(step_cost.measure(step_cost.sqlite_urls())) + "\n",
    ]
    if args.postgres:
        sections += [
            "### PostgreSQL (localhost)\n",
            step_cost.table(step_cost.measure(postgres_urls(args.postgres))) + "\n",
        ]
    DOC.write_text("\n".join(sections), encoding="utf-8")
    print(DOC.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
