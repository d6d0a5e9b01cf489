"""The chain `load → dbt build → python jobs → dbt build (ml marts)` and the demo report.

`python -m python_jobs build [dbt args]`: dbt build, creating missing incremental relations with
`--empty` first (dbt unit tests of an incremental model's incremental branch need the relation).
`python -m python_jobs demo [--dataset movielens|synthetic] [--path DIR]`: the whole chain, then a
report a person wants to read.
`python -m python_jobs reset`: drop and recreate the database (PGDATABASE).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from python_jobs import children, warehouse
from python_jobs.warehouse import WarehouseError, log


class DbtProgress:
    """Where a quiet dbt command is, from its "N of M START / OK / PASS ..." lines: every
    FILM_COHORTS_PROGRESS_SECONDS (15) a line "dbt build: 57 of 120 done; running longest: <node> (41 s)"."""

    LINE = re.compile(r"\s(\d+) of (\d+) (START|OK|PASS|ERROR|FAIL|SKIP|WARN|NO-OP)\b\s*(.*)")

    def __init__(self, command: str) -> None:
        self.command = command
        self.every = float(os.environ.get("FILM_COHORTS_PROGRESS_SECONDS", "15"))
        self.total = self.done = 0
        self.running: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        found = self.LINE.search(text)
        if not found or found.group(4).startswith("hook:"):  # hooks count apart (1 of 5 on-run-start ...)
            return
        number, total, status, rest = found.groups()
        name = rest.split(" ..")[0].split()[-1] if rest.strip() else number
        with self.lock:
            self.total = int(total)
            if status == "START":
                self.running[number] = (name, time.monotonic())
            elif self.running.pop(number, None) is not None or status == "SKIP":
                self.done += 1

    def report(self) -> None:
        with self.lock:
            if not self.total:
                return
            message = f"dbt {self.command}: {self.done} of {self.total} done"
            if self.running:
                name, since = min(self.running.values(), key=lambda v: v[1])
                message += f"; running longest: {name} ({time.monotonic() - since:.0f} s)"
        log(message)

    @contextlib.contextmanager
    def reporting(self) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(self.every):
                self.report()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def dbt(*args: str, quiet: bool = False) -> None:
    """Run dbt in the project folder with the warehouse's settings; raise a one-line error on failure."""
    root = warehouse.project_root()
    env = dict(os.environ)
    env.setdefault("DBT_PROFILES_DIR", str(root))
    if not (root / "profiles.yml").exists():
        (root / "profiles.yml").write_text((root / "profiles.yml.example").read_text())
    exe = str(Path(sys.executable).parent / "dbt")
    cmd = [exe, *args]
    if quiet:
        log(f"dbt {' '.join(args)}")
        progress = DbtProgress(args[0])
        with progress.reporting():
            proc = children.run(cmd, on_line=progress.line, cwd=root, env=env)
        if proc.returncode != 0:
            print(proc.stdout[-6000:], file=sys.stderr)
        else:
            done = [line for line in proc.stdout.splitlines() if "Done." in line or "Completed" in line]
            if done:
                log(f"dbt {args[0]}: {done[-1].split('Done.')[-1].strip()}")
    else:
        proc = children.run(cmd, cwd=root, env=env)  # dies with us: no orphan dbt finishes a killed build
    if proc.returncode != 0:
        raise WarehouseError(f"`dbt {' '.join(args)}` failed (see its output above and logs/dbt.log)")


def models_to_bootstrap(conn) -> list[str]:
    """Incremental models whose relation does not exist yet, plus their missing ancestors (from the manifest).

    Only relations that do not exist are built with --empty: existing tables are never emptied.
    """
    manifest = json.loads((warehouse.project_root() / "target" / "manifest.json").read_text())
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] in ("model", "seed")}

    def exists(node: dict) -> bool:
        found = conn.execute(
            "select 1 from pg_class c join pg_namespace s on s.oid = c.relnamespace "
            "where s.nspname = %s and c.relname = %s",
            (node["schema"], node.get("alias") or node["name"]),
        ).fetchone()
        return found is not None

    wanted: dict[str, str] = {}
    stack = [uid for uid, n in nodes.items() if n["config"].get("materialized") == "incremental" and not exists(n)]
    while stack:
        uid = stack.pop()
        if uid in wanted or uid not in nodes or nodes[uid]["resource_type"] != "model":
            continue
        wanted[uid] = nodes[uid]["name"]
        stack += [p for p in nodes[uid]["depends_on"]["nodes"] if p in nodes and not exists(nodes[p])]
    return sorted(wanted.values())


def manifest_is_fresh() -> bool:
    """target/manifest.json is newer than every file dbt parses (so `dbt parse` would change nothing)."""
    root = warehouse.project_root()
    manifest = root / "target" / "manifest.json"
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    sources = [root / "dbt_project.yml", root / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests", "analyses", "snapshots"):
        if (root / folder).exists():
            sources += [p for p in (root / folder).rglob("*") if p.is_file()]
    return all(not p.exists() or p.stat().st_mtime < built for p in sources)


def build(extra: list[str] | None = None, quiet: bool = False) -> None:
    """dbt build on the configured database, bootstrapping missing incremental relations with --empty.

    An incremental build pays dbt's start-up once: `dbt parse` runs only when the manifest is older
    than the project's files, and `dbt seed` only when relations must be bootstrapped (`dbt build`
    loads the seeds itself).
    """
    warehouse.ensure_server()
    warehouse.ensure_database()
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
        if not manifest_is_fresh():
            dbt("parse", quiet=True)
        missing = models_to_bootstrap(conn)
    if missing:
        dbt("seed", quiet=True)
        log(f"creating empty incremental relations first: {', '.join(missing)}")
        dbt("run", "--empty", "--select", *missing, quiet=True)
    args = list(extra or [])
    if not (missing or {"--full-refresh", "--exclude"} & set(args) or os.environ.get("FILM_COHORTS_ALL_TESTS") == "1"):
        # an incremental build skips the tests that scan whole marts (dbt_project.yml: tag full_scan)
        args += ["--exclude", "tag:full_scan"]
    dbt("build", *args, quiet=quiet)


def reset() -> None:
    name = os.environ.get("PGDATABASE") or warehouse.DEFAULT_DATABASE
    warehouse.ensure_server()
    warehouse.drop_database(name)
    warehouse.ensure_database(name)
    with warehouse.connect(name) as conn:
        warehouse.init_warehouse(conn)
    log(f"database {name} is empty and ready")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run_jobs(dataset: str) -> None:
    """The Python jobs that exist in this checkout, each through its own CLI command."""
    from python_jobs.__main__ import main as cli

    steps: list[list[str]] = []
    if _has("python_jobs.recsys.cli"):
        steps += [
            ["evaluate"],
            ["recommend", "--model", "hybrid", "--show", "3"],
            ["similar"],
            ["cluster"],
            ["predict", "--evaluate"],
        ]
    for step in steps:
        log(f"job: {' '.join(step)}")
        code = cli(step)
        if code:
            raise WarehouseError(f"`python -m python_jobs {' '.join(step)}` failed with exit code {code}")


def print_report(conn) -> None:
    """What the warehouse found: sizes, quarantine, and the top films of three cohorts."""
    q = conn.execute
    n_ratings, n_users, n_films = q(
        "select (select count(*) from raw.ratings where not deleted), (select count(*) from raw.users), "
        "(select count(*) from raw.films)"
    ).fetchone()
    rejected = q("select count(*) from ops.quarantine").fetchone()[0]
    n_cohorts = q("select count(distinct cohort_id) from marts.cohort_film_stats").fetchone()[0]
    print()
    print("=" * 100)
    print(
        f"film_cohorts: {n_ratings:,} ratings by {n_users:,} people of {n_films:,} films; "
        f"{rejected:,} rows in quarantine; {n_cohorts} cohorts built"
    )
    print("=" * 100)
    has_rankings = q("select to_regclass('marts.film_rankings') is not null").fetchone()[0]
    cohorts = [
        r[0]
        for r in q(
            # everyone, then the largest cohort of each of the two largest families (occupation:, region:, …)
            "with sized as (select cohort_id, split_part(cohort_id, ':', 1) as family, sum(ratings_count) as n "
            "from marts.cohort_film_stats group by cohort_id), "
            "best as (select distinct on (family) cohort_id, n from sized order by family, n desc) "
            "select cohort_id from best order by (cohort_id = 'everyone') desc, n desc limit 3"
        )
    ]
    for cohort in cohorts:
        members = q(
            "select count(*) from raw.cohort_members where cohort_id = %s and not deleted", (cohort,)
        ).fetchone()[0]
        print(f"\nTop 10 for cohort {cohort!r} ({members} members), ranked by the Bayesian mean")
        if has_rankings:
            rows = q(
                "select r.rank, f.title, f.release_year, s.watchers, s.avg_rating, r.score "
                "from marts.film_rankings r join marts.cohort_film_stats s using (cohort_id, film_id) "
                "join raw.films f using (film_id) where r.cohort_id = %s and r.strategy = 'bayesian' "
                "order by r.rank limit 10",
                (cohort,),
            ).fetchall()
        else:  # before the rankings marts exist: the plain average of films with 20 ratings or more
            rows = q(
                "select row_number() over (order by s.avg_rating desc, s.film_id), f.title, f.release_year, "
                "s.watchers, s.avg_rating, s.avg_rating from marts.cohort_film_stats s join raw.films f "
                "using (film_id) where s.cohort_id = %s and s.ratings_count >= 20 "
                "order by s.avg_rating desc, s.film_id limit 10",
                (cohort,),
            ).fetchall()
        labels = [f"{title} ({year})" if year else title for _, title, year, *_ in rows]
        width = max([52, *map(len, labels)])  # titles whole: the column widens for a long one
        print(f"{'rank':>4}  {'film':<{width}} {'watchers':>8} {'avg':>6} {'bayes':>6}")
        for (rank, _, _, watchers, avg, score), label in zip(rows, labels, strict=True):
            print(f"{rank:>4}  {label:<{width}} {watchers:>8} {float(avg):>6.2f} {float(score):>6.2f}")
    if has_rankings:
        labels = q(
            "select consensus_label, count(*) from marts.ranking_insights where cohort_id = %s "
            "group by 1 order by 2 desc",
            (cohorts[0],),
        ).fetchall()
        print(f"\nConsensus labels in {cohorts[0]!r}: " + ", ".join(f"{label} {n}" for label, n in labels))
        divergent = q(
            "select d.cohort_id, f.title, d.cohort_avg_rating, d.global_avg_rating, d.ratings_count "
            "from marts.cohort_divergence d join raw.films f using (film_id) "
            # a size-aware order: the delta shrunk by 10 phantom ratings at no difference, so a 3-rating love of a
            # small cohort (flagged on its size-capped minimum) does not top 40 ratings that say nearly as much
            "where d.loves and d.cohort_id <> %s "
            "order by d.delta * d.ratings_count / (d.ratings_count + 10.0) desc, d.ratings_count desc limit 5",
            (cohorts[0],),
        ).fetchall()
        if divergent:
            print("\nWhat cohorts love that everyone else does not (cohort_divergence):")
            width = max(len(row[1]) for row in divergent)
            for cohort, title, mine, everyone, n in divergent:
                print(f"  {cohort:<28} {title:<{width}} {float(mine):.2f} vs {float(everyone):.2f} ({n} ratings)")
    print("\nEverything above is in the marts (schema marts): query them with psql after `eval \"$(make -s env)\"`.")
    print()


def demo(dataset: str, path: str | None, users: int, films: int) -> None:
    started = time.monotonic()
    if dataset == "synthetic" and "PGDATABASE" not in os.environ:
        os.environ["PGDATABASE"] = warehouse.DEFAULT_DATABASE + "_synthetic"
    warehouse.ensure_server()
    db = warehouse.ensure_database()
    log(f"warehouse: database {db} on {os.environ['PGHOST']}")
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
        if dataset == "movielens":
            from python_jobs.loaders import movielens

            movielens.load_movielens(conn, path)
        else:
            from python_jobs.__main__ import main as cli

            if conn.execute("select count(*) from raw.ratings").fetchone()[0] == 0:
                code = cli(["generate", "--users", str(users), "--films", str(films), "--seed", "42"])
                if code:
                    raise WarehouseError("the generator failed")
            else:
                log("synthetic data already generated; reusing it")
    build(quiet=True)
    run_jobs(dataset)
    log("rebuilding what the jobs feed: ml marts and the taste-cluster cohorts (incremental)")
    build(quiet=True)
    with warehouse.connect() as conn:
        print_report(conn)
    log(f"demo finished in {time.monotonic() - started:.0f} s")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="dbt build (seeds, models, data and unit tests), bootstrapping incremental models")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, help="extra dbt build arguments, e.g. --select marts")
    p.set_defaults(func=lambda a: build(a.dbt_args) or 0)
    p = sub.add_parser("reset", help="drop and recreate the database named by PGDATABASE")
    p.set_defaults(func=lambda a: reset() or 0)
    p = sub.add_parser("demo", help="load, build, run the jobs and print what the warehouse found")
    p.add_argument("--dataset", choices=["movielens", "synthetic"], default="movielens")
    p.add_argument("--path", help="your own GroupLens copy (folder or zip); default ML-100K from PyPI")
    p.add_argument("--users", type=int, default=3000, help="synthetic: users (default 3000)")
    p.add_argument("--films", type=int, default=2000, help="synthetic: films (default 2000)")
    p.set_defaults(func=lambda a: demo(a.dataset, a.path, a.users, a.films) or 0)
