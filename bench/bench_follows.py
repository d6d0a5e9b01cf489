"""On-demand "me + the people I follow" top films (python_jobs/serve/follows.py): latency on a built site.

Picks the members whose follow count is nearest --follows (200 by default; the heaviest followers when
nobody follows that many), calls follows.top_films for each once to warm the cache, then --repeat times
each, and prints a markdown section: p50 / p95 / p99 / max milliseconds per call (client wall time: plan,
execute, fetch), what a call reads, and the EXPLAIN (ANALYZE, BUFFERS) of one call.

    .venv/bin/python bench/bench_follows.py --db NAME [--members 20] [--follows 200] [--repeat 5] [--n 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from python_jobs import warehouse
from python_jobs.serve import follows


def pick_members(conn, target: int, k: int) -> list[tuple[int, int]]:
    """(member, follows) for the k members whose follow count is nearest target."""
    return conn.execute(
        "select follower_id, count(*) as n from marts.user_follows group by follower_id "
        "order by abs(count(*) - %s), count(*) desc, follower_id limit %s",
        (target, k),
    ).fetchall()


def rated_events(conn, member: int) -> int:
    """The 'rated' events one call reads: the member's and their followees'."""
    return conn.execute(
        "select count(*) from marts.user_activity where event_type = 'rated' and user_id in "
        "(select %s::bigint union select followee_id from marts.user_follows where follower_id = %s)",
        (member, member),
    ).fetchone()[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", required=True, help="a database whose marts are built")
    p.add_argument("--members", type=int, default=20, help="members to time (default %(default)s)")
    p.add_argument("--follows", type=int, default=200, help="follow count to pick members by (default %(default)s)")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per member after a warm-up (default %(default)s)")
    p.add_argument("--n", type=int, default=follows.DEFAULT_TOP_N, help="films per call (default %(default)s)")
    args = p.parse_args(argv)
    if args.members < 1 or args.repeat < 1:
        p.error("--members and --repeat must be at least 1")

    load_before = os.getloadavg()
    with warehouse.connect(args.db) as conn:
        conn.autocommit = True
        members = pick_members(conn, args.follows, args.members)
        if not members:
            print(f"database {args.db} has no follows in marts.user_follows: build it first", file=sys.stderr)
            return 1
        reads = [rated_events(conn, m) for m, _ in members]
        for member, _ in members:
            follows.top_films(conn, member, args.n)
        timings: list[float] = []
        for _ in range(args.repeat):
            for member, _ in members:
                start = time.perf_counter()
                follows.top_films(conn, member, args.n)
                timings.append((time.perf_counter() - start) * 1000)
        probe = members[0][0]
        plan = conn.execute(
            "explain (analyze, buffers) " + follows.query(), follows.query_parameters(probe, args.n)
        ).fetchall()
        ratings = conn.execute(
            "select reltuples::bigint from pg_class where oid = 'marts.user_activity'::regclass"
        ).fetchone()[0]
        indexes = [
            r[0]
            for r in conn.execute(
                "select indexdef from pg_indexes where schemaname = 'marts' and tablename = 'user_activity' "
                "order by indexname"
            )
        ]
        settings = dict(
            conn.execute(
                "select name, setting || coalesce(unit, '') from pg_settings "
                "where name in ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost')"
            ).fetchall()
        )
        version = conn.execute("show server_version").fetchone()[0]
    load_after = os.getloadavg()

    counts = [n for _, n in members]
    print('## On-demand "me + the people I follow" (bench/bench_follows.py)\n')
    print(
        f"Database `{args.db}` (PostgreSQL {version}; marts.user_activity about {ratings:,} events), "
        f"{len(members)} members following {min(counts)}-{max(counts)} people (median {statistics.median(counts):g}; "
        f"asked for {args.follows}), each call reading {min(reads):,}-{max(reads):,} 'rated' events "
        f"(median {statistics.median(reads):,.0f}). One warm-up call per member, then {args.repeat} timed calls "
        f"each: top {args.n} by the bayesian strategy, client wall time (plan, execute, fetch).\n"
    )
    print("| calls | p50 ms | p95 ms | p99 ms | max ms |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {len(timings)} | {percentile(timings, 0.50):.1f} | {percentile(timings, 0.95):.1f} | "
        f"{percentile(timings, 0.99):.1f} | {max(timings):.1f} |\n"
    )
    print(
        f"Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (other work on the machine). "
        f"Server: {', '.join(f'{k} {v}' for k, v in sorted(settings.items()))}. "
        f"Indexes on marts.user_activity: {'; '.join(i.split(' USING ')[1] for i in indexes)}.\n"
    )
    print(f"EXPLAIN (ANALYZE, BUFFERS) of one call (member {probe}, {members[0][1]} follows):\n")
    print("```")
    print("\n".join(r[0] for r in plan))
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
