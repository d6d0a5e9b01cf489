"""`eval "$(make -s env)"` makes the project's warehouse and its dbt reachable from a plain shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_exports_the_libpq_settings_and_puts_the_projects_dbt_first_on_path():
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = "/usr/bin:/bin"  # a shell that knows nothing of the project's virtualenv
    script = (
        f'eval "$({sys.executable} -m python_jobs env)" && command -v dbt && dbt --version >/dev/null '
        '&& echo "PGHOST=$PGHOST" && echo "PGDATABASE=$PGDATABASE"'
    )
    proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == str(Path(sys.executable).parent / "dbt")
    assert lines[1] not in ("PGHOST=", "") and lines[2] not in ("PGDATABASE=", "")
