"""`python -m python_jobs <command>`: the warehouse's command line.

Commands come from the modules listed below; each exposes `register(subparsers)` (or
`register_load(load_subparsers)` for `load <source>`), so adding a job never edits this file's logic.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import warnings
import zipfile
from pathlib import Path

from python_jobs import children, warehouse
from python_jobs.warehouse import WarehouseError

PASSTHROUGH = ("dbt", "build")
COMMAND_MODULES = (
    "python_jobs.loaders.movielens",
    "python_jobs.loaders.letterboxd",
    "python_jobs.generator",
    "python_jobs.recsys.cli",
    "python_jobs.pipeline",
    "python_jobs.cohorts",
)


def _optional_import(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def cmd_env(args: argparse.Namespace) -> int:
    settings = warehouse.ensure_server()
    for key, value in settings.items():
        print(f"export {key}={shlex.quote(value)}")
    # the project's own dbt first on PATH, so a plain `dbt build` in the project's folder works
    print(f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"')
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    if args.action == "stop":
        print("stopped" if warehouse.stop_embedded() else "no embedded server was running")
        return 0
    settings = warehouse.ensure_server()
    print(" ".join(f"{k}={v}" for k, v in settings.items() if k != "PGPASSWORD"))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    name = warehouse.ensure_database()
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
    warehouse.log(f"warehouse ready in database {name}")
    return 0


def cmd_dbt(args: argparse.Namespace) -> int:
    """Run dbt with the warehouse's connection settings exported (starting the embedded server if needed)."""
    warehouse.ensure_server()
    warehouse.ensure_database()
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
    root = warehouse.project_root()
    env = dict(os.environ)
    env.setdefault("DBT_PROFILES_DIR", str(root))
    ensure_profile(root)
    dbt = os.path.join(os.path.dirname(sys.executable), "dbt")
    return children.run([dbt, *args.dbt_args], cwd=root, env=env).returncode


def cmd_status(args: argparse.Namespace) -> int:
    """The newest job runs and loads; runs whose process died are marked 'abandoned' first."""
    warehouse.ensure_database()
    with warehouse.connect(autocommit=True) as conn:
        warehouse.init_warehouse(conn)
        rows = warehouse.run_status(conn, args.limit)
    for kind, key, what, status, started, finished in rows:
        ended = finished.strftime("%Y-%m-%d %H:%M:%S") if finished else "-"
        print(f"{kind:4} {key:>8}  {status:9}  {started:%Y-%m-%d %H:%M:%S}  {ended:19}  {what}")
    return 0


def ensure_profile(root) -> None:
    """profiles.yml is the committed example (it reads only env vars); copy it on first use."""
    target = root / "profiles.yml"
    if not target.exists():
        target.write_text((root / "profiles.yml.example").read_text())


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line naming the command and what is wrong (usage is in --help)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m python_jobs", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("env", help="print the libpq settings (starting the embedded server if PGHOST is unset)")
    p.set_defaults(func=cmd_env)
    p = sub.add_parser("server", help="start, show or stop the embedded PostgreSQL")
    p.add_argument("action", choices=["start", "status", "stop"])
    p.set_defaults(func=cmd_server)
    p = sub.add_parser("init", help="create the database and the raw/ops/ml tables")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("status", help="the newest job runs and loads (runs whose process died become 'abandoned')")
    p.add_argument("--limit", type=int, default=20, help="rows of each kind (default 20)")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("dbt", help="run dbt against the warehouse (arguments go to dbt)")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_dbt)

    load = sub.add_parser("load", help="load a source into raw")
    load_sub = load.add_subparsers(dest="source", required=True, metavar="source")

    for name in COMMAND_MODULES:
        module = _optional_import(name)
        if module is None:
            continue
        if hasattr(module, "register_load"):
            module.register_load(load_sub)
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="platformdirs")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        # everything after `dbt` / `build` belongs to dbt, options included
        args = parser.parse_args(argv[:1])
        args.dbt_args = argv[1:]
    else:
        args = parser.parse_args(argv)
    children.raise_on_sigterm()
    try:
        return int(args.func(args) or 0)
    except WarehouseError as exc:
        return _one_line(str(exc), 2)
    except zipfile.BadZipFile as exc:  # a member that fails its CRC or a damaged archive, found while reading
        return _one_line(f"a zip file is damaged ({exc}); nothing was loaded from it", 2)
    except UnicodeError as exc:
        return _one_line(f"unreadable text ({exc}); save the file as UTF-8", 2)
    except OSError as exc:
        return _one_line(f"{exc.filename or 'input'}: {exc.strerror or exc}", 2)
    except children.Terminated:
        return _one_line("terminated; nothing half-written was committed", 143)
    except KeyboardInterrupt:
        return _one_line("interrupted; nothing half-written was committed", 130)


def _one_line(message: str, code: int) -> int:
    """A CLI error: one line on stderr (newlines in a message are folded)."""
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
