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


# ------------------------------------------------------------------ a generated site, for the front door

# Three films whose titles hold %, _ and a space: the search box and GET /films/search must treat them literally.
ODD_TITLES = {9001: "Qzv 100% Pure", 9002: "Qzv_Score", 9003: "Qzv Score"}


def jobs(*argv: str) -> int:
    """python -m python_jobs's recommender commands, in process (they read PGDATABASE)."""
    import argparse

    from python_jobs.recsys import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def query(dbname: str, text: str, params=None) -> list[tuple]:
    with warehouse.connect(dbname) as conn:
        return conn.execute(text, params).fetchall()


def grant_front_door(dbname: str, role: str) -> None:
    """The front door's role (app and API): bi_reader (select on marts) plus insert into raw.feedback."""
    from psycopg import sql

    with warehouse.connect(dbname, autocommit=True) as conn:
        ident = sql.Identifier(role)
        conn.execute(sql.SQL("grant bi_reader to {}").format(ident))
        conn.execute(sql.SQL("grant usage on schema raw, ops to {}").format(ident))
        conn.execute(sql.SQL("grant usage on sequence ops.batch_id_seq to {}").format(ident))
        conn.execute(sql.SQL("grant insert on raw.feedback to {}").format(ident))
        conn.execute(sql.SQL("grant select (feedback_id, batch_id, created_at) on raw.feedback to {}").format(ident))


@pytest.fixture(scope="module")
def site(server) -> Iterator[dict]:
    """One generated site (likes, lists, follows, diary) plus ODD_TITLES, the recommend and similar jobs (itemknn),
    every mart built by dbt, and a NOLOGIN role of its own that the front door sets: {"db": name, "role": role}.

    Module scope: a module may change its data (test_api's last test rebuilds after an update).
    """
    from psycopg import sql

    from python_jobs.generator import Generator, GeneratorConfig

    name = make_database("site_test")
    role = f"fc_front_{uuid.uuid4().hex[:8]}"
    saved = os.environ.get("PGDATABASE")
    try:
        plan = Generator(GeneratorConfig(users=300, films=160, seed=7, batches=1, follow_groups=2, saved_groups=2))
        with warehouse.connect(name) as conn:
            plan.write_base(conn)
            plan.write_batch(conn, 0)
            for film_id, title in ODD_TITLES.items():
                conn.execute(
                    "insert into raw.films (film_id, title, release_year, source) values (%s, %s, 1999, 'test')",
                    (film_id, title),
                )
        os.environ["PGDATABASE"] = name
        jobs("recommend", "--model", "itemknn")
        jobs("similar", "--model", "itemknn")
        run_dbt(name, "seed")
        run_dbt(name, "run", "--select", "+path:models/marts")
        with warehouse.connect("postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
            # a non-superuser with CREATEROLE (CI's PostgreSQL 15) is not a member of the roles it creates
            conn.execute(sql.SQL("grant {} to current_user").format(sql.Identifier(role)))
        grant_front_door(name, role)
        yield {"db": name, "role": role}
    finally:
        if saved is None:
            os.environ.pop("PGDATABASE", None)
        else:
            os.environ["PGDATABASE"] = saved
        warehouse.drop_database(name)
        with warehouse.connect("postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
