"""The deterministic synthetic generator: a Letterboxd-like site at any scale, with planted, known patterns.

`python -m python_jobs generate --users N --films M --seed S` writes the raw contract (users,
follows, cohorts, films, people, lists, site histograms, ratings, diary) into PGDATABASE, and the
planted truth into the `truth` schema (which dbt models never read). From Python:

    from python_jobs.generator import Generator, GeneratorConfig
    plan = Generator(GeneratorConfig(users=400, films=300, seed=7, batches=3))
    plan.write_base(conn)
    for i in range(plan.batches):
        plan.write_batch(conn, i)
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from python_jobs import warehouse
from python_jobs.generator.config import GeneratorConfig
from python_jobs.generator.plan import Generator
from python_jobs.warehouse import WarehouseError, log

__all__ = ["Generator", "GeneratorConfig", "register"]

EXPORTS_MODULE = "python_jobs.loaders.letterboxd_export"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `generate` command to the CLI."""
    defaults = GeneratorConfig(users=2, films=10)
    p = subparsers.add_parser("generate", help="write a deterministic synthetic site (with planted truth) into raw")
    p.add_argument("--users", type=int, required=True, help="number of users (>= 2)")
    p.add_argument("--films", type=int, required=True, help="number of films (>= 10)")
    p.add_argument("--seed", type=int, required=True, help="random seed: same arguments, same rows")
    p.add_argument("--cohorts", type=int, default=defaults.cohorts, help="follow-graph cohorts (default %(default)s)")
    p.add_argument("--batches", type=int, default=defaults.batches,
                   help="time-ordered ratings loads; later ones carry changes and deletions (default %(default)s)")
    p.add_argument("--ratings-per-user", type=float, default=defaults.ratings_per_user,
                   help="mean films logged per user besides the planted ones (default %(default)s)")
    p.add_argument("--clusters", type=int, default=defaults.clusters,
                   help="planted taste clusters (default %(default)s)")
    p.add_argument("--drift", type=float, default=defaults.drift,
                   help="stars per batch by which a rising and a falling film drift (default %(default)s: none)")
    p.add_argument("--chunk-users", type=int, default=defaults.chunk_users,
                   help="users generated per COPY: bounds memory, never changes rows (default %(default)s)")
    p.add_argument("--likes-discoveries", type=int, default=defaults.likes_discoveries,
                   help="likes-only discoveries planted per follow-graph cohort, 0-2 (default %(default)s)")
    p.add_argument("--member-lists", type=float, default=defaults.member_lists,
                   help="mean lists owned per member of a friend group, 0-5 (default %(default)s)")
    p.add_argument("--letterboxd-exports", type=Path, metavar="DIR",
                   help="afterwards, write each user's Letterboxd export zip into DIR")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    config = GeneratorConfig(
        users=args.users,
        films=args.films,
        seed=args.seed,
        cohorts=args.cohorts,
        batches=args.batches,
        ratings_per_user=args.ratings_per_user,
        clusters=args.clusters,
        chunk_users=args.chunk_users,
        likes_discoveries=args.likes_discoveries,
        member_lists=args.member_lists,
        drift=args.drift,
    )
    plan = Generator(config)
    write_exports = exports_writer() if args.letterboxd_exports else None
    name = warehouse.ensure_database()
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
        plan.write_all(conn)
        log(f"generated seed {config.seed} into database {name}")
        if write_exports is not None:
            write_exports(conn, args.letterboxd_exports, user_ids=None)
            log(f"Letterboxd exports written to {args.letterboxd_exports}")
    return 0


def exports_writer():
    """python_jobs.loaders.letterboxd_export.write_exports, imported only when exports are asked for."""
    try:
        module = importlib.import_module(EXPORTS_MODULE)
    except ModuleNotFoundError as exc:
        raise WarehouseError(f"--letterboxd-exports needs {EXPORTS_MODULE}, which is not installed ({exc})") from exc
    return module.write_exports
