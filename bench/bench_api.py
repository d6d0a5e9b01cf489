"""Latency of the HTTP API on loopback: `.venv/bin/python bench/bench_api.py --db NAME`.

Starts `python -m python_jobs.api` (uvicorn, one process) in a subprocess on a free 127.0.0.1 port, then
sends a bounded load with httpx: for each endpoint, --requests requests over --threads client threads
(each a keep-alive client), after a short warm-up. Keys are drawn at random (seeded) from what the
database holds: cohorts × strategies × pages and slices, users with recommendations, films with similar
films, words of titles. Run once with the answer cache off (every answer from the marts) and once with it
on (the default). Prints a markdown section: p50 / p95 / p99 ms, requests per second, cache hits, errors.
Targets at ML-100K: p95 < 30 ms for recommendations, < 50 ms for a ranking page.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from python_jobs import warehouse  # noqa: E402

TARGETS_MS = {"rankings": 50.0, "recommendations": 30.0}


@dataclass
class Result:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    errors: int = 0
    hits: int = 0
    wall_s: float = 0.0

    def quantile(self, q: float, server: bool = False) -> float:
        xs = sorted(self.server_ms if server else self.latencies_ms)
        if not xs:
            return float("nan")
        return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: str, port: int, cache: bool) -> subprocess.Popen:
    env = dict(os.environ, FILM_COHORTS_API_CACHE="on" if cache else "off", PGDATABASE=db)
    cmd = [sys.executable, "-m", "python_jobs.api", "--db", db, "--port", str(port), "--no-access-log"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the API exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the API did not answer /health within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def sample_keys(db: str, base: str) -> dict[str, list[str]]:
    """URLs per endpoint, from what the API and the marts hold."""
    cohorts = httpx.get(f"{base}/cohorts", timeout=30).json()["cohorts"]
    catalogue = httpx.get(f"{base}/catalogue", timeout=30).json()
    with warehouse.connect(db) as conn:
        users = [u for (u,) in conn.execute("select distinct user_id from marts.recommendations_explained")]
        films = [f for (f,) in conn.execute("select distinct film_id from marts.similar_films_explained")]
        titles = [t for (t,) in conn.execute("select title from marts.film_catalog")]
        decades = [d for (d,) in conn.execute("select distinct release_decade from marts.film_catalog") if d]
    words = sorted({w.strip("(),:.!?'\"").lower() for t in titles for w in t.split() if len(w) >= 4})
    rankings, divergences = [], []
    for c in cohorts:
        cid = quote(c["cohort_id"], safe="")
        divergences += [f"/cohorts/{cid}/divergences?limit=50", f"/cohorts/{cid}/divergences?direction=loves&limit=50"]
        for s in c["strategies"]:
            page = f"/cohorts/{cid}/rankings?strategy={s['strategy']}&limit=50"
            rankings += [page, page + "&after_rank=50", page + "&after_rank=100"]
            rankings += [page + f"&decade={d}" for d in decades[-2:]]
            if catalogue["genres"]:
                rankings.append(page + f"&genre={quote(catalogue['genres'][0])}")
    return {
        "rankings": rankings,
        "divergence": divergences,
        "recommendations": [f"/users/{u}/recommendations?limit=10" for u in users],
        "similar films": [f"/films/{f}/similar?limit=10" for f in films],
        "search": [f"/films/search?q={quote(w)}" for w in words],
    }


def load(base: str, name: str, urls: list[str], n: int, threads: int, seed: int) -> Result:
    rng = random.Random(seed)
    plan = [rng.choice(urls) for _ in range(n)]
    result = Result(name)
    lock = threading.Lock()
    chunks = [plan[i::threads] for i in range(threads)]

    def worker(chunk: list[str]) -> None:
        local, inside, errors, hits = [], [], 0, 0
        with httpx.Client(base_url=base, timeout=30) as client:
            for url in chunk:
                t0 = time.perf_counter()
                r = client.get(url)
                local.append((time.perf_counter() - t0) * 1000)
                errors += r.status_code != 200
                timing = r.headers.get("server-timing", "")
                if "dur=" in timing:
                    inside.append(float(timing.split("dur=")[1].split(";")[0]))
                hits += r.headers.get("x-cache") == "hit"
        with lock:
            result.latencies_ms += local
            result.server_ms += inside
            result.errors += errors
            result.hits += hits

    t0 = time.perf_counter()
    run_threads(worker, chunks)
    result.wall_s = time.perf_counter() - t0
    return result


def run_threads(worker: Callable[[list[str]], None], chunks: list[list[str]]) -> None:
    ts = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def warm(base: str, keys: dict[str, list[str]], per_endpoint: int, seed: int) -> None:
    rng = random.Random(seed + 1)
    with httpx.Client(base_url=base, timeout=30) as client:
        for urls in keys.values():
            for _ in range(per_endpoint if urls else 0):
                client.get(rng.choice(urls))


def section(db: str, runs: list[tuple[str, list[Result]]], args: argparse.Namespace, scale: str) -> str:
    lines = [
        "## API latency (bench/bench_api.py)",
        "",
        f"`python bench/bench_api.py --db {db} --requests {args.requests} --threads {args.threads}`: {scale}; uvicorn "
        f"(one process) and the {args.threads} httpx client threads share this machine's {os.cpu_count()} cores. "
        "Each endpoint: "
        f"{args.requests} requests over {args.threads} keep-alive clients on 127.0.0.1, keys drawn at random (seed "
        f"{args.seed}) after {args.warmup} warm-up requests per endpoint.",
        "",
    ]
    for title, results in runs:
        lines += [
            f"### {title}",
            "",
            "| endpoint | requests | errors | cache hits | p50 ms | p95 ms | p99 ms | requests/s | p95 target "
            "| in the app p50 / p95 ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
        ]
        for r in results:
            target = TARGETS_MS.get(r.name)
            verdict = "" if target is None else f"< {target:g} ms {'✓' if r.quantile(0.95) < target else '✗'}"
            lines.append(
                f"| {r.name} | {len(r.latencies_ms)} | {r.errors} | {r.hits / max(len(r.latencies_ms), 1):.0%} "
                f"| {r.quantile(0.5):.1f} | {r.quantile(0.95):.1f} | {r.quantile(0.99):.1f} "
                f"| {len(r.latencies_ms) / r.wall_s:.0f} | {verdict} "
                f"| {r.quantile(0.5, True):.1f} / {r.quantile(0.95, True):.1f} |"
            )
        lines.append("")
    return "\n".join(lines)


def describe(db: str) -> str:
    with warehouse.connect(db) as conn:
        ratings = conn.execute(
            "select coalesce(sum(ratings_count), 0) from marts.cohort_film_stats where cohort_id = 'everyone'"
        ).fetchone()[0]
        films = conn.execute("select count(*) from marts.film_catalog").fetchone()[0]
        cohorts, rows = conn.execute(
            "select count(distinct cohort_id), coalesce(sum(ranked_films), 0) from marts.film_ranking_parameters"
        ).fetchone()
    return (
        f"database `{db}`: {ratings:,} ratings in cohort everyone, {films:,} films, {cohorts} cohorts, "
        f"{rows:,} film_rankings rows (ranked on read)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=os.environ.get("PGDATABASE"), help="database with built marts")
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint (default 2000)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests per endpoint first")
    parser.add_argument("--cache", choices=("off", "on", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.db:
        parser.error("--db NAME is required (or set PGDATABASE)")
    warehouse.ensure_server()
    scale = describe(args.db)
    runs: list[tuple[str, list[Result]]] = []
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.cache]
    for cache in modes:
        port = free_port()
        proc = start_server(args.db, port, cache)
        try:
            base = f"http://127.0.0.1:{port}"
            keys = sample_keys(args.db, base)
            warm(base, keys, args.warmup, args.seed)
            results = []
            for i, (name, urls) in enumerate(keys.items()):
                if not urls:
                    print(f"(no {name} to ask for in {args.db}: skipped)", file=sys.stderr)
                    continue
                results.append(load(base, name, urls, args.requests, args.threads, args.seed + i))
                print(f"{'cache' if cache else 'no cache'} {name}: done", file=sys.stderr)
            title = "answer cache on (the default)" if cache else "answer cache off: every answer read from the marts"
            runs.append((title, results))
        finally:
            stop_server(proc)
    print(section(args.db, runs, args, scale))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
