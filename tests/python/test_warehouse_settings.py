"""The embedded server's settings: derived from the machine, overridable, in force on a running server.

The end-to-end tests start a private embedded server (FILM_COHORTS_HOME in a temp folder) in child
processes, so the suite's own server is never restarted; they are skipped on an external server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from python_jobs import warehouse
from python_jobs.warehouse import Machine, WarehouseError

ROOT = Path(__file__).resolve().parents[2]
GB = 1 << 30
EXTERNAL = bool(os.environ.get("PGHOST")) and not warehouse.is_embedded_host(os.environ["PGHOST"])


def test_settings_for_the_projects_machine():
    # 2 cores, 24 GB (MemTotal a little under it), 72 GB free on an SSD
    got = warehouse.derived_settings(Machine(cpus=2, memory=25_275_973_632, disk_free=72 * GB, rotational=False))
    assert got == {
        "shared_buffers": "6GB",
        "effective_cache_size": "12GB",
        "work_mem": "384MB",  # 24GB / 4 / (2 CPUs x 8)
        "maintenance_work_mem": "1536MB",
        "autovacuum_work_mem": "384MB",
        "temp_buffers": "768MB",
        "max_worker_processes": "8",
        "max_parallel_workers": "2",
        "max_parallel_workers_per_gather": "1",
        "max_parallel_maintenance_workers": "1",
        "max_wal_size": "7GB",
        "min_wal_size": "896MB",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "random_page_cost": "1.1",
        "effective_io_concurrency": "200",
        "jit": "off",
    }


def test_settings_scale_with_the_machine_within_their_caps():
    big = warehouse.derived_settings(Machine(cpus=16, memory=128 * GB, disk_free=500 * GB, rotational=True))
    assert (big["shared_buffers"], big["work_mem"], big["maintenance_work_mem"]) == ("8GB", "256MB", "2GB")
    assert (big["autovacuum_work_mem"], big["temp_buffers"], big["max_wal_size"]) == ("1GB", "1GB", "8GB")
    assert (big["max_parallel_workers_per_gather"], big["max_worker_processes"]) == ("8", "20")
    assert (big["random_page_cost"], big["effective_io_concurrency"]) == ("4", "1")
    small = warehouse.derived_settings(Machine(cpus=1, memory=GB, disk_free=GB // 2, rotational=False))
    assert (small["shared_buffers"], small["work_mem"], small["maintenance_work_mem"]) == ("256MB", "32MB", "64MB")
    assert (small["max_wal_size"], small["min_wal_size"], small["max_parallel_workers_per_gather"]) == (
        "1GB",
        "128MB",
        "1",
    )


def test_overrides_parse_from_the_variable_and_the_file():
    env = warehouse.parse_settings("work_mem=256MB, shared_buffers = 4GB,search_path='a,b'", warehouse.SETTINGS_ENV)
    assert env == {"work_mem": "256MB", "shared_buffers": "4GB", "search_path": "a,b"}
    text = "# tuned\nwork_mem = '64MB'  # for the laptop\n\nrandom_page_cost=2\nlog_line_prefix = 'it''s %m '\n"
    assert warehouse.parse_settings(text, "settings.conf") == {
        "work_mem": "64MB",
        "random_page_cost": "2",
        "log_line_prefix": "it's %m ",
    }
    with pytest.raises(WarehouseError, match="expected name=value"):
        warehouse.parse_settings("work_mem", warehouse.SETTINGS_ENV)


SHOW = """
import json, sys
from python_jobs import warehouse
warehouse.ensure_server()
with warehouse.connect("postgres") as conn:
    names = list(warehouse.derived_settings(warehouse.machine(warehouse.warehouse_dir())))
    print(json.dumps({n: conn.execute("select current_setting(%s)", (n,)).fetchone()[0] for n in names}))
"""


def run_private(home: Path, code: str, overrides: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (*warehouse.LIBPQ_VARS, warehouse.SETTINGS_ENV)}
    env["FILM_COHORTS_HOME"] = str(home)
    if overrides is not None:
        env[warehouse.SETTINGS_ENV] = overrides
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def show(home: Path, overrides: str | None = None) -> dict[str, str]:
    proc = run_private(home, SHOW, overrides)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def private_home():
    home = Path(tempfile.mkdtemp(prefix="fc_settings_"))
    home.chmod(0o755)  # the server may run as another user (pgserver, under root)
    try:
        yield home
    finally:
        run_private(home, "from python_jobs import warehouse; warehouse.stop_embedded()")
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(EXTERNAL, reason="settings apply to the embedded server only (PGHOST is set)")
def test_embedded_server_runs_with_the_derived_settings_and_overrides_win(private_home):
    derived = warehouse.derived_settings(warehouse.machine(private_home / ".warehouse"))
    assert show(private_home) == derived

    # on the running server: the file beats the derived value, the variable beats both, and
    # shared_buffers (which needs a restart) is in force too: nobody else was connected
    (private_home / ".warehouse" / warehouse.SETTINGS_FILE).write_text(
        "maintenance_work_mem = 99MB\nwork_mem = '55MB'\n"
    )
    got = show(private_home, "work_mem=77MB,shared_buffers=160MB")
    assert (got["work_mem"], got["maintenance_work_mem"], got["shared_buffers"]) == ("77MB", "99MB", "160MB")
    assert got["temp_buffers"] == derived["temp_buffers"]

    # a bad value is refused naming it, and the running server keeps the last good settings
    bad = run_private(private_home, SHOW, "work_mem=lots")
    assert bad.returncode != 0 and 'invalid value for parameter "work_mem": "lots"' in bad.stderr
    assert show(private_home, "work_mem=77MB,shared_buffers=160MB")["work_mem"] == "77MB"


@pytest.mark.skipif(EXTERNAL, reason="settings apply to the embedded server only (PGHOST is set)")
def test_a_warehouse_made_before_the_settings_gets_them_at_its_next_start(private_home):
    show(private_home)
    pgdata = private_home / ".warehouse" / f"pg{warehouse.EMBEDDED_PG_MAJOR}"
    run_private(private_home, "from python_jobs import warehouse; warehouse.stop_embedded()")
    # what an older checkout left: no settings file, no include line
    (pgdata / warehouse.SETTINGS_CONF).unlink()
    conf = pgdata / "postgresql.conf"
    conf.write_text("\n".join(ln for ln in conf.read_text().splitlines() if "film_cohorts" not in ln) + "\n")
    got = show(private_home, "shared_buffers=192MB")
    assert got["shared_buffers"] == "192MB"
    assert got["work_mem"] == warehouse.derived_settings(warehouse.machine(private_home / ".warehouse"))["work_mem"]
