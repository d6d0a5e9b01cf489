"""A larger generated site (default 25,000 users x 8,000 films, about 2.5M ratings over two batches):
first build, an incremental build after a large batch, a full refresh, and an incremental build after a
small batch (2,000 retracted ratings). Prints a markdown section; the database is dropped at the end.

`.venv/bin/python bench/bench_scale.py [users] [films]`
"""

from __future__ import annotations

import json
import os
import sys
import time

from python_jobs import cohorts, pipeline, warehouse
from python_jobs.generator import Generator, GeneratorConfig

DB = "bench_scale"


def model_seconds() -> dict[str, float]:
    results = json.loads((warehouse.project_root() / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results["results"]}


def timed(fn, *args, **kwargs) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start, model_seconds()


def main(users: int = 25_000, films: int = 8_000) -> int:
    os.environ["PGDATABASE"] = DB
    warehouse.ensure_server()
    warehouse.drop_database(DB)
    warehouse.ensure_database(DB)
    plan = Generator(GeneratorConfig(users=users, films=films, seed=3, batches=2, ratings_per_user=100))
    try:
        with warehouse.connect() as conn:
            warehouse.init_warehouse(conn)
            plan.write_base(conn)
            plan.write_batch(conn, 0)
            base = conn.execute("select count(*) from raw.ratings").fetchone()[0]
        first, _ = timed(pipeline.build, quiet=True)
        with warehouse.connect() as conn:
            plan.write_batch(conn, 1)
            total = conn.execute("select count(*) from raw.ratings").fetchone()[0]
        big_inc, big_models = timed(pipeline.dbt, "run", quiet=True)
        full, full_models = timed(pipeline.dbt, "run", "--full-refresh", quiet=True)
        with warehouse.connect() as conn:
            pairs = warehouse.read_frame(
                conn,
                "select user_id, film_id from raw.ratings where not deleted "
                "order by md5(user_id::text || film_id::text) limit 2000",
            )
            cohorts.retract_ratings(conn, pairs)
        small_inc, small_models = timed(pipeline.dbt, "run", quiet=True)
    finally:
        os.environ.pop("PGDATABASE", None)
        warehouse.drop_database(DB)
    shown = [m for m in full_models if full_models[m] >= 0.5 and not m.startswith("film_cohorts-on-run")]
    lines = [
        f"## A larger generated site ({users:,} users x {films:,} films)",
        "",
        f"`.venv/bin/python bench/bench_scale.py {users} {films}`: {base:,} ratings built first, then a second "
        f"batch brings {total:,} rating rows (new, changed, deleted); then 2,000 ratings retracted.",
        "",
        f"First build (`python -m python_jobs build`, with tests): {first:.0f} s. Wall clock of `dbt run`: "
        f"incremental after the large batch {big_inc:.0f} s, full refresh {full:.0f} s, incremental after the "
        f"small batch {small_inc:.0f} s.",
        "",
        "| model | incremental, large batch s | full refresh s | incremental, 2,000 retractions s |",
        "| --- | ---: | ---: | ---: |",
        *[
            f"| {m} | {big_models.get(m, 0):.1f} | {full_models[m]:.1f} | {small_models.get(m, 0):.1f} |"
            for m in sorted(shown)
        ],
        "",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
