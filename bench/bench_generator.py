"""Time the synthetic generator: about 1M ratings into a fresh database, as a markdown section on stdout.

    .venv/bin/python bench/bench_generator.py [--users 10000] [--films 5000] [--ratings-per-user 88]

The database ('bench_generator') is dropped at the end. Peak RSS is this Python process only
(the PostgreSQL server's memory is its own).
"""

from __future__ import annotations

import argparse
import resource
import time

from python_jobs import warehouse
from python_jobs.generator import Generator, GeneratorConfig

DATABASE = "bench_generator"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--films", type=int, default=5_000)
    parser.add_argument("--ratings-per-user", type=float, default=88.0)
    parser.add_argument("--batches", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    config = GeneratorConfig(users=args.users, films=args.films, seed=args.seed, batches=args.batches,
                             ratings_per_user=args.ratings_per_user)

    warehouse.ensure_server()
    warehouse.drop_database(DATABASE)
    warehouse.ensure_database(DATABASE)
    try:
        with warehouse.connect(DATABASE) as conn:
            warehouse.init_warehouse(conn)
            started = time.perf_counter()
            Generator(config).write_all(conn)
            seconds = time.perf_counter() - started
            ratings, diary, follows = conn.execute(
                "select (select count(*) from raw.ratings), (select count(*) from raw.diary_entries), "
                "(select count(*) from raw.follows)"
            ).fetchone()
    finally:
        warehouse.drop_database(DATABASE)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("## Generator\n")
    print(f"`bench/bench_generator.py --users {args.users} --films {args.films} "
          f"--ratings-per-user {args.ratings_per_user:g} --batches {args.batches} --seed {args.seed}`\n")
    print("| ratings | diary entries | follows | seconds | ratings/s | peak RSS (MB) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {ratings:,} | {diary:,} | {follows:,} | {seconds:.1f} | {ratings / seconds:,.0f} | {peak_mb:,.0f} |")


if __name__ == "__main__":
    main()
