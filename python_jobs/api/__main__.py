"""`python -m python_jobs.api [--db NAME] [--host H] [--port P]`: serve the API with uvicorn."""

from __future__ import annotations

import argparse

from python_jobs.api.app import DEFAULT_HOST, DEFAULT_PORT, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m python_jobs.api", description=__doc__)
    parser.add_argument("--db", help="database (default PGDATABASE, else film_cohorts)")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--no-access-log", action="store_true", help="no line per request (benchmarks)")
    args = parser.parse_args(argv)
    run(args.db, args.host, args.port, access_log=not args.no_access_log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
