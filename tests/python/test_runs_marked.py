"""Runs that die are marked: a SIGKILLed load or job is 'abandoned' for the next run or `status`, never
'running' for ever; a live one is left alone; a killed command takes its child processes (dbt) with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from test_movielens_loader import GOOD, write_ml100k

from python_jobs import warehouse

KILL_POINTS: list[str] = []  # what each test killed, for the session summary (conftest)


def cli(db: str, *args: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    env = dict(os.environ, PGDATABASE=db)
    cmd = [sys.executable, "-m", "python_jobs", *args]
    if wait:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def runs(db: str) -> list[tuple]:
    with warehouse.connect(db) as conn:
        return conn.execute("select job, status, pid from ops.insight_runs order by run_id").fetchall()


def gone(pid: int) -> bool:
    """The process has exited (a zombie nobody reaped counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_a_sigkilled_load_is_abandoned_for_status_and_a_live_one_is_not(db, tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k", GOOD)
    # hold the loaders' lock so the load sits inside its run, deterministically, until it is killed
    with warehouse.connect(db, autocommit=True) as blocker:
        blocker.execute("select pg_advisory_lock(hashtext('film_cohorts.load'))")
        proc = cli(db, "load", "movielens", str(folder), wait=False)
        try:
            wait_for("the load's run row", lambda: runs(db) == [("load movielens", "running", proc.pid)])
            wait_for(
                "the load waiting on the load lock",
                lambda: blocker.execute(
                    "select exists (select from pg_locks where locktype = 'advisory' and not granted)"
                ).fetchone()[0],
            )
            alive = cli(db, "status")
            assert alive.returncode == 0, alive.stderr
            assert runs(db) == [("load movielens", "running", proc.pid)]  # its owner lives: left alone
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            KILL_POINTS.append("load waiting for the load lock (SIGKILL)")
        finally:
            if proc.poll() is None:
                proc.kill()
        blocker.execute("select pg_advisory_unlock(hashtext('film_cohorts.load'))")

    # the server notices the dead client's connection shortly after; status marks it once its lock is free
    def marked():
        out = cli(db, "status")
        assert out.returncode == 0, out.stderr
        return runs(db)[0][1] == "abandoned" and out

    out = wait_for("status to mark the run abandoned", marked, timeout=30)
    assert "abandoned" in out.stdout and "load movielens" in out.stdout
    with warehouse.connect(db) as conn:
        assert conn.execute("select count(*) from ops.load_batches where status = 'running'").fetchone()[0] == 0
        assert conn.execute("select count(*) from raw.films").fetchone()[0] == 0
    again = cli(db, "load", "movielens", str(folder))
    assert again.returncode == 0, again.stderr
    assert [r[:2] for r in runs(db)] == [("load movielens", "abandoned"), ("load movielens", "succeeded")]


def test_the_next_job_marks_a_killed_job_abandoned(db):
    script = (
        "import time\n"
        "from python_jobs import warehouse\n"
        "with warehouse.job_run('sleeper', {}):\n"
        "    print('started', flush=True)\n"
        "    time.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ, PGDATABASE=db), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "started"
        with warehouse.connect(db, autocommit=True) as conn:
            assert warehouse.mark_abandoned(conn) == []  # alive: not touched
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        KILL_POINTS.append("job inside job_run (SIGKILL)")
    finally:
        if proc.poll() is None:
            proc.kill()

    def next_job_marks():
        with warehouse.connect(db, autocommit=True) as conn:
            conn.execute("select pg_sleep(0.2)")
        os.environ["PGDATABASE"], saved = db, os.environ.get("PGDATABASE")
        try:
            with warehouse.job_run("next", {}):
                pass
        finally:
            os.environ["PGDATABASE"] = saved or ""
        return [r[:2] for r in runs(db) if r[0] == "sleeper"] == [("sleeper", "abandoned")]

    wait_for("the next job to mark the sleeper abandoned", next_job_marks, timeout=30)
    assert [r[1] for r in runs(db) if r[0] == "next"][-1] == "succeeded"


CHILD = """
import os, sys, time
from python_jobs import children
children.raise_on_sigterm()
print(os.getpid(), flush=True)
children.run([sys.executable, "-c", "import os, time; print(os.getpid(), flush=True); time.sleep(120)"])
"""


def default_sigint() -> None:  # runs in the child between fork and exec: as a terminal starts a command
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def ignore_sigint() -> None:  # as a script without job control starts one in the background (`nohup ... &`, cron)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("sig", "started"),
    [
        (signal.SIGKILL, default_sigint),
        (signal.SIGTERM, default_sigint),
        (signal.SIGINT, default_sigint),
        # SIGINT ignored is inherited by whatever the command starts: its child must still get the kernel's SIGINT
        (signal.SIGKILL, ignore_sigint),
    ],
    ids=["SIGKILL", "SIGTERM", "SIGINT", "SIGKILL-started-with-SIGINT-ignored"],
)
def test_a_killed_command_takes_its_child_with_it(sig, started):
    """What `python -m python_jobs build` does with dbt (pipeline.dbt runs it through children.run). The command is
    started the same way whatever the signals of the process running this test."""
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=started
    )
    try:
        assert int(parent.stdout.readline()) == parent.pid
        child = int(parent.stdout.readline())
        assert not gone(child)
        parent.send_signal(sig)
        parent.wait(timeout=30)
        wait_for(f"the child to exit after {sig.name} to its parent", lambda: gone(child), timeout=20)
        KILL_POINTS.append(f"command with a child process ({sig.name}, {started.__name__})")
    finally:
        if parent.poll() is None:
            parent.kill()
