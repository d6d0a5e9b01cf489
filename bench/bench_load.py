"""The MovieLens loader at ML-25M's layout against a bare COPY of the same ratings.

`.venv/bin/python bench/bench_load.py [ratings] [repeats]` (default 1,000,000 and 1) writes a synthetic ml-25m folder
(ratings.csv sorted by user then film like GroupLens's, movies.csv, links.csv, tags.csv) into a temp
dir, then, each in a fresh database: runs `python -m python_jobs load movielens DIR` (wall clock,
the ratings batch's own seconds from ops.load_batches, peak RSS of the process), COPYs ratings.csv
as it is into a table with raw.ratings' keys and indexes (primary key (user_id, film_id), indexes on
batch_id and film_id), and into the same table without them. Prints a markdown section.

`.venv/bin/python bench/bench_load.py --copy-frame [rows]` times warehouse.copy_frame alone against a
bare COPY of the same rows and against the pandas to_csv version it replaced.

`measure(ratings, seed)` returns the figures as a dict and `markdown(result)` renders them, for
other benches (make bench-scale) to import. The databases are dropped at the end.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from python_jobs import warehouse  # noqa: E402

DEFAULT_RATINGS = 1_000_000
# ML-25M: 25,000,095 ratings by 162,541 users of 59,047 films (of 62,423 listed), 1,093,360 tags.
RATINGS_PER_USER = 154
RATINGS_PER_FILM = 420
MAX_FILMS = 62_423
TAGS_PER_RATING = 0.044
HALF_STARS = np.arange(1, 11) / 2
# ML-25M's rating distribution over 0.5 .. 5.0
STAR_WEIGHTS = np.array([1.6, 3.3, 1.6, 6.8, 3.1, 19.6, 12.6, 26.6, 8.8, 14.4])
BARE_TABLE = (
    "create table {name} (user_id bigint not null, film_id bigint not null, rating numeric(2, 1), "
    "ts bigint, batch_id bigint not null default 1{keys})"
)


def write_ml25m(folder: Path, ratings: int, seed: int = 1) -> dict[str, int]:
    """A synthetic ml-25m copy with this many ratings (distinct (user, film), sorted like GroupLens's)."""
    rng = np.random.default_rng(seed)
    users = max(1, ratings // RATINGS_PER_USER)
    films = int(min(MAX_FILMS, max(100, ratings // RATINGS_PER_FILM)))
    if users * films < ratings * 1.5:
        users = int(np.ceil(ratings * 1.5 / films))
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < ratings:
        # popular films: a Zipf-ish draw, so the film index sees skew like the real one
        film = np.minimum((rng.pareto(1.2, ratings) * films / 20).astype(np.int64), films - 1)
        user = rng.integers(0, users, ratings)
        keys = np.unique(np.concatenate([keys, user * films + film]))
    keys = np.sort(rng.choice(keys, ratings, replace=False))
    user_id, film_id = keys // films + 1, keys % films + 1
    stars = rng.choice(HALF_STARS, size=ratings, p=STAR_WEIGHTS / STAR_WEIGHTS.sum())
    ts = rng.integers(789_652_009, 1_574_327_703, ratings)
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"userId": user_id, "movieId": film_id, "rating": stars, "timestamp": ts})
    frame.to_csv(folder / "ratings.csv", index=False, float_format="%.1f")
    ids = np.arange(1, films + 1)
    genres = np.array(["Drama", "Comedy", "Thriller|Crime", "Action|Adventure", "Romance", "(no genres listed)"])
    years = rng.integers(1920, 2020, films)
    pd.DataFrame(
        {
            "movieId": ids,
            "title": [f"Film {i}, The ({y})" if i % 7 else f"Film {i} ({y})" for i, y in zip(ids, years, strict=True)],
            "genres": genres[ids % len(genres)],
        }
    ).to_csv(folder / "movies.csv", index=False)
    pd.DataFrame({"movieId": ids, "imdbId": [f"{i:07d}" for i in ids], "tmdbId": ids + 100}).to_csv(
        folder / "links.csv", index=False
    )
    n_tags = max(1, int(ratings * TAGS_PER_RATING))
    pick = np.unique(rng.choice(ratings, n_tags, replace=False))
    words = np.array(["noir", "twist ending", "atmospheric", "based on a book", "funny", "visually appealing"])
    pd.DataFrame(
        {"userId": user_id[pick], "movieId": film_id[pick], "tag": words[pick % len(words)], "timestamp": ts[pick]}
    ).to_csv(folder / "tags.csv", index=False)
    return {"ratings": ratings, "users": len(np.unique(user_id)), "films": films, "tags": len(pick)}


def _fresh_database(kind: str) -> str:
    name = f"{os.environ.get('BENCH_DB_PREFIX', 'bench_load')}_{kind}_{uuid.uuid4().hex[:8]}"
    warehouse.drop_database(name)
    warehouse.ensure_database(name)
    return name


def bare_copy(ratings_csv: Path, indexed: bool) -> float:
    """Seconds to COPY ratings.csv as it is (server-side CSV parse) into a bare table, commit included."""
    db = _fresh_database("indexed" if indexed else "plain")
    try:
        keys = ", primary key (user_id, film_id)" if indexed else ""
        with warehouse.connect(db) as conn:
            conn.execute(BARE_TABLE.format(name="bare_ratings", keys=keys))
            if indexed:
                conn.execute("create index on bare_ratings (batch_id)")
                conn.execute("create index on bare_ratings (film_id)")
            conn.commit()
            start = time.perf_counter()
            with (
                conn.cursor() as cur,
                cur.copy(
                    "copy bare_ratings (user_id, film_id, rating, ts) from stdin with (format csv, header true)"
                ) as copy,
                open(ratings_csv, "rb") as fh,
            ):
                for block in iter(lambda: fh.read(1 << 20), b""):
                    copy.write(block)
            conn.commit()
            return time.perf_counter() - start
    finally:
        warehouse.drop_database(db)


def run_loader(folder: Path) -> dict[str, float]:
    """`python -m python_jobs load movielens folder` in a fresh database: wall seconds, ratings seconds, peak RSS."""
    db = _fresh_database("loader")
    try:
        env = dict(os.environ, PGDATABASE=db)
        with tempfile.TemporaryFile("w+") as log_file:
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "python_jobs", "load", "movielens", str(folder)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            log_file.seek(0)
            err = log_file.read()
        if proc.returncode != 0:
            raise RuntimeError(f"loader failed: {(err.strip().splitlines() or ['no output'])[-1]}")
        with warehouse.connect(db) as conn:
            ratings_s, loaded, rejected = conn.execute(
                "select duration_s, rows_loaded, rows_rejected from ops.load_batches "
                "where entity = 'ratings' and status = 'loaded'"
            ).fetchone()
            total_s = conn.execute("select sum(duration_s) from ops.load_batches").fetchone()[0]
        phases = dict(re.findall(r"ratings: ([a-z ]+?) in ([0-9.]+) s", err))
        return {
            "wall_s": wall,
            "batches_s": float(total_s),
            "ratings_s": float(ratings_s),
            "ratings_loaded": int(loaded),
            "ratings_rejected": int(rejected),
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "client_cpu_s": usage.ru_utime + usage.ru_stime,
            "phases": {k: float(v) for k, v in phases.items()},
        }
    finally:
        warehouse.drop_database(db)


def measure(ratings: int, seed: int = 1, repeats: int = 1) -> dict:
    """Time the loader and the two bare COPYs on a synthetic ml-25m copy with this many ratings.

    With repeats > 1 the three runs alternate and each figure is its fastest run (the machine is shared).
    """
    warehouse.ensure_server()
    runs: dict[str, list] = {"plain": [], "indexed": [], "loader": []}
    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        folder = Path(tmp) / "ml-25m"
        sizes = write_ml25m(folder, ratings, seed)
        mb = (folder / "ratings.csv").stat().st_size / 2**20
        warehouse.log(f"bench_load: {ratings:,} ratings ({mb:.0f} MB) in {folder}")
        for _ in range(max(1, repeats)):
            runs["plain"].append(bare_copy(folder / "ratings.csv", indexed=False))
            runs["indexed"].append(bare_copy(folder / "ratings.csv", indexed=True))
            runs["loader"].append(run_loader(folder))
    plain, indexed = min(runs["plain"]), min(runs["indexed"])
    loader = min(runs["loader"], key=lambda r: r["ratings_s"])
    return {
        "ratings": ratings,
        "seed": seed,
        "repeats": max(1, repeats),
        "sizes": sizes,
        "ratings_csv_mb": mb,
        "plain_copy_s": plain,
        "indexed_copy_s": indexed,
        "loader": loader,
        "ratio_indexed": loader["ratings_s"] / indexed,
        "ratio_plain": loader["ratings_s"] / plain,
        "ratio_wall_indexed": loader["wall_s"] / indexed,
        "server": _server_settings(),
    }


def _server_settings() -> str:
    names = ("shared_buffers", "work_mem", "maintenance_work_mem", "max_wal_size", "temp_buffers")
    with warehouse.connect("postgres") as conn:
        return ", ".join(f"{n}={conn.execute(f'show {n}').fetchone()[0]}" for n in names)


def markdown(result: dict) -> str:
    """A markdown section of measure()'s result."""
    n = result["ratings"]
    lo = result["loader"]
    rows = [
        ("bare COPY of ratings.csv, plain table (no keys, no indexes)", result["plain_copy_s"]),
        ("bare COPY of ratings.csv, raw.ratings' primary key and indexes", result["indexed_copy_s"]),
        ("loader, ratings batch (parse, stage, checks, quarantine, merge)", lo["ratings_s"]),
        ("loader, whole command (start-up, films, links, ratings, tags)", lo["wall_s"]),
    ]
    lines = [
        f"## MovieLens loader vs bare COPY ({n:,} synthetic ml-25m ratings)",
        "",
        f"{result['sizes']['users']:,} users, {result['sizes']['films']:,} films, {result['sizes']['tags']:,} tags; "
        f"ratings.csv is {result['ratings_csv_mb']:.0f} MB. Each step in a fresh database"
        + (f", fastest of {result['repeats']} alternating runs" if result.get("repeats", 1) > 1 else "")
        + f". Server: {result.get('server', '?')}. Command: `.venv/bin/python bench/bench_load.py {n}"
        + (f" {result['repeats']}" if result.get("repeats", 1) > 1 else "")
        + "`.",
        "",
        "| step | seconds | rows/s |",
        "| --- | ---: | ---: |",
        *[f"| {label} | {s:.2f} | {n / s:,.0f} |" for label, s in rows],
        "",
        f"Loader's ratings batch / indexed COPY: **{result['ratio_indexed']:.2f}x**; / plain COPY: "
        f"{result['ratio_plain']:.2f}x; whole command / indexed COPY: {result['ratio_wall_indexed']:.2f}x. "
        f"Loader peak RSS: {lo['peak_rss_mb']:,.0f} MB, its own CPU {lo.get('client_cpu_s', 0):.1f} s.",
    ]
    if lo.get("phases"):
        lines += [
            "",
            "Ratings phases (from the loader's log): "
            + ", ".join(f"{k} {v:.2f} s" for k, v in lo["phases"].items())
            + ".",
        ]
    return "\n".join(lines) + "\n"


def _to_csv_copy(conn, table: str, frame: pd.DataFrame, chunk_rows: int = 500_000) -> None:
    """copy_frame as it was before issue 9 (pandas to_csv into a buffer, COPY ... csv), as the baseline."""
    stmt = sql.SQL("copy {} ({}) from stdin with (format csv, null '\\N')").format(
        warehouse.table_name(table), sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    )
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for start in range(0, len(frame), chunk_rows):
            buf = io.StringIO()
            frame.iloc[start : start + chunk_rows].to_csv(buf, header=False, index=False, na_rep="\\N")
            copy.write(buf.getvalue().encode())


def measure_copy_frame(rows: int, seed: int = 1, repeats: int = 3) -> dict[str, float]:
    """Seconds to COPY a ratings-stage frame (four int64, a float, a text column) three ways, fastest of repeats:
    a bare COPY of the same rows already formatted, copy_frame, and the to_csv copy_frame it replaced."""
    rng = np.random.default_rng(seed)
    user = np.repeat(np.arange(1, rows // RATINGS_PER_USER + 2), RATINGS_PER_USER)[:rows]
    film, ts = rng.integers(1, 60_000, rows), rng.integers(789_652_009, 1_574_327_703, rows)
    rating = rng.choice(HALF_STARS, rows)
    raw = [
        f"{u},{f},{r},{t}"
        for u, f, r, t in zip(user.tolist(), film.tolist(), rating.tolist(), ts.tolist(), strict=True)
    ]
    frame = pd.DataFrame(
        {"user_id": user, "film_id": film, "rating": rating, "ts": ts, "line_no": np.arange(rows), "raw_line": raw}
    )
    text = frame.to_csv(sep="\t", header=False, index=False).encode()

    def bare(conn, table, _frame) -> None:
        with conn.cursor() as cur, cur.copy(sql.SQL("copy {} from stdin").format(sql.Identifier(table))) as copy:
            for i in range(0, len(text), 1 << 20):
                copy.write(text[i : i + (1 << 20)])

    ways = {
        "bare COPY of the rows formatted": bare,
        "copy_frame": warehouse.copy_frame,
        "to_csv (before)": _to_csv_copy,
    }
    seconds: dict[str, list[float]] = {k: [] for k in ways}
    db = _fresh_database("copy_frame")
    try:
        with warehouse.connect(db) as conn:
            for _ in range(max(1, repeats)):
                for name, way in ways.items():
                    conn.execute("drop table if exists t")
                    conn.execute(
                        "create table t (user_id bigint, film_id bigint, rating numeric(2,1), ts bigint, "
                        "line_no bigint, raw_line text)"
                    )
                    conn.commit()
                    started = time.perf_counter()
                    way(conn, "t", frame)
                    conn.commit()
                    seconds[name].append(time.perf_counter() - started)
    finally:
        warehouse.drop_database(db)
    return {k: min(v) for k, v in seconds.items()}


if __name__ == "__main__":
    args = [a.replace("_", "").replace(",", "") for a in sys.argv[1:]]
    if args and args[0] == "--copy-frame":  # bench/bench_load.py --copy-frame [rows]
        rows = int(args[1]) if len(args) > 1 else 2_000_000
        got = measure_copy_frame(rows)
        base = got["bare COPY of the rows formatted"]
        print("| COPY of a ratings-stage frame | seconds | rows/s | / bare |\n| --- | ---: | ---: | ---: |")
        print("\n".join(f"| {k} | {v:.2f} | {rows / v:,.0f} | {v / base:.1f}x |" for k, v in got.items()))
    else:
        count = int(args[0]) if args else DEFAULT_RATINGS
        print(markdown(measure(count, repeats=int(args[1]) if len(args) > 1 else 1)))
