"""Fixtures that make throwaway databases on whichever server is configured (embedded by default).

Every test that touches SQL gets a real PostgreSQL database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from python_jobs import warehouse

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def server() -> dict[str, str]:
    return warehouse.ensure_server()


def make_database(prefix: str = "fc_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    warehouse.ensure_database(name)
    with warehouse.connect(name) as conn:
        warehouse.init_warehouse(conn)
    return name


@pytest.fixture
def db(server) -> Iterator[str]:
    """A fresh database with the raw/ops/ml tables; its name."""
    name = make_database()
    try:
        yield name
    finally:
        warehouse.drop_database(name)


@pytest.fixture
def conn(db):
    with warehouse.connect(db) as c:
        yield c


def run_dbt(dbname: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run dbt against dbname, with a target folder of its own so parallel runs do not collide."""
    env = dict(os.environ)
    env["PGDATABASE"] = dbname
    env["DBT_PROFILES_DIR"] = str(ROOT)
    target = ROOT / "target" / "tests" / dbname
    if not (ROOT / "profiles.yml").exists():
        (ROOT / "profiles.yml").write_text((ROOT / "profiles.yml.example").read_text())
    dbt = Path(sys.executable).parent / "dbt"
    cmd = [str(dbt), *args, "--target-path", str(target), "--log-path", str(target / "logs")]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-60:])
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{tail}\n{proc.stderr[-2000:]}")
    return proc


def recbole_wheel_available() -> bool:
    try:
        from python_jobs.loaders import movielens

        movielens.recbole_wheel()
        return True
    except Exception:
        return False


def pytest_terminal_summary(terminalreporter) -> None:
    """Issue 13: how many bad-input classes and kill points this session exercised (and passed)."""
    parts = []
    bad = sys.modules.get("test_bad_inputs")
    if bad is not None:
        parts.append(f"{len(set(bad.EXERCISED))} bad-input classes")
    runs = sys.modules.get("test_runs_marked")
    if runs is not None:
        parts.append(f"{len(set(runs.KILL_POINTS))} kill points")
    if parts:
        terminalreporter.write_line(f"exercised {' and '.join(parts)} through the real command line")
