"""MovieLens loader: GroupLens layouts (ml-100k, ml-1m, ml-25m / ml-latest) and RecBole's atomic files.

`python -m python_jobs load movielens PATH` (a folder or a zip) or `--from-pypi` (ML-100K read out of
the recbole 1.2.1 wheel, which is downloaded with `pip download --no-deps`, never installed).
MovieLens data may not be redistributed: it is read at run time and never committed.

Ratings are parsed a block of lines at a time (plain lines straight from the file's bytes with numpy,
the rest line by line with pandas), streamed by one COPY into a stage table, checked set-based in SQL
(unknown user or film, the same key twice), and merged into raw (a first load into an empty
raw.ratings builds its indexes after the insert: common.bulk_insert). Anything that fails lands in
ops.quarantine with its reason and raw line.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import itertools
import re
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from python_jobs import warehouse
from python_jobs.loaders import common
from python_jobs.warehouse import WarehouseError, log

RECBOLE_VERSION = "1.2.1"
RECBOLE_PREFIX = "recbole/dataset_example/ml-100k/"
CHUNK_LINES = 1_000_000
# Plausible rating times: MovieLens began in 1995; anything before 1990 or past 2100 is garbage.
MIN_TS, MAX_TS = 631_152_000, 4_102_444_800

ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]
ML1M_OCCUPATIONS = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
]
# ML-1M codes an age band by its lower bound.
ML1M_AGE = {1: 10, 18: 18, 25: 25, 35: 35, 45: 45, 50: 50, 56: 56}
AGE_BANDS = [
    (0, 17, "under 18"),
    (18, 24, "18-24"),
    (25, 34, "25-34"),
    (35, 44, "35-44"),
    (45, 49, "45-49"),
    (50, 55, "50-55"),
    (56, 200, "56+"),
]
# US ZIP codes' first digit names a group of states.
ZIP_REGIONS = {
    "0": "new england", "1": "new york and pennsylvania", "2": "mid-atlantic", "3": "southeast",
    "4": "great lakes", "5": "upper midwest", "6": "central plains", "7": "south central",
    "8": "mountain", "9": "pacific",
}  # fmt: skip
KG_ROLES = {
    "film.film.directed_by": "director",
    "film.film.actor": "actor",
    "film.film.written_by": "writer",
    "film.film.produced_by": "producer",
}


# ---------------------------------------------------------------------------------------------
# where the files are


@dataclass
class Source:
    """A MovieLens copy: a layout and a way to open its files by name (each read once, then kept)."""

    layout: str  # 'ml-100k', 'ml-1m', 'ml-25m', 'recbole-100k'
    label: str
    opener: Callable[[str], bytes | None]
    names: list[str]
    cache: dict[str, bytes | None] = field(default_factory=dict)
    # for a file with a header: where each expected column is in the file (set by check_files)
    order: dict[str, list[int]] = field(default_factory=dict)

    def read(self, name: str) -> bytes | None:
        if name not in self.cache:
            try:
                self.cache[name] = self.opener(name)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise WarehouseError(f"{self.describe(name)}: cannot be read, the zip is damaged ({exc})") from exc
        return self.cache[name]

    def describe(self, name: str) -> str:
        return f"{self.label}:{name}"


LAYOUT_MARKERS = [
    ("recbole-100k", "ml-100k.inter"),
    ("ml-100k", "u.data"),
    ("ml-1m", "ratings.dat"),
    ("ml-25m", "ratings.csv"),
]


def _detect(names: list[str]) -> tuple[str, str]:
    """Return (layout, prefix) from the file names of a folder or zip."""
    for layout, marker in LAYOUT_MARKERS:
        hits = sorted((n for n in names if n == marker or n.endswith("/" + marker)), key=len)
        if hits:
            return layout, hits[0][: -len(marker)]
    raise WarehouseError("no MovieLens files found (expected u.data, ratings.dat, ratings.csv or ml-100k.inter)")


def open_source(path: Path | str) -> Source:
    path = Path(path)
    if not path.exists():
        raise WarehouseError(f"{path}: no such file or folder")
    if path.is_file() and zipfile.is_zipfile(path):
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise WarehouseError(f"{path}: not a readable zip file ({exc})") from exc
        names = zf.namelist()
        layout, prefix = _detect(names)
        members = set(names)

        def opener(name: str) -> bytes | None:
            full = prefix + name
            return zf.read(full) if full in members else None

        return Source(layout, str(path), opener, [n[len(prefix) :] for n in names if n.startswith(prefix)])
    if path.is_dir():
        names = [str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()]
        layout, prefix = _detect(names)
        base = path / prefix

        def opener(name: str) -> bytes | None:
            f = base / name
            return f.read_bytes() if f.is_file() else None

        return Source(layout, str(path), opener, names)
    raise WarehouseError(f"{path}: neither a folder nor a zip file")


def recbole_wheel() -> Path:
    """The recbole wheel, downloaded once into .warehouse/downloads (never installed)."""
    folder = warehouse.warehouse_dir() / "downloads"
    found = sorted(glob.glob(str(folder / f"recbole-{RECBOLE_VERSION}-*.whl")))
    if found:
        return Path(found[0])
    folder.mkdir(parents=True, exist_ok=True)
    log(f"downloading the recbole {RECBOLE_VERSION} wheel (for its ML-100K files; not installed)")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--dest",
            str(folder),
            f"recbole=={RECBOLE_VERSION}",
        ],
        capture_output=True,
        text=True,
    )
    found = sorted(glob.glob(str(folder / f"recbole-{RECBOLE_VERSION}-*.whl")))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise WarehouseError(
            f"could not download recbole=={RECBOLE_VERSION} from PyPI ({last}); "
            "pass a GroupLens ml-100k folder or zip instead"
        )
    return Path(found[0])


def open_pypi_100k() -> Source:
    wheel = recbole_wheel()
    zf = zipfile.ZipFile(wheel)
    members = set(zf.namelist())

    def opener(name: str) -> bytes | None:
        full = RECBOLE_PREFIX + name
        return zf.read(full) if full in members else None

    names = [n[len(RECBOLE_PREFIX) :] for n in members if n.startswith(RECBOLE_PREFIX)]
    return Source("recbole-100k", f"{wheel.name}!{RECBOLE_PREFIX}", opener, names)


# ---------------------------------------------------------------------------------------------
# parsing


def iter_line_chunks(data: bytes, encoding: str, skip_header: bool) -> Iterator[pd.DataFrame]:
    """Lines as frames of (line_no, raw_line), CHUNK_LINES at a time; line numbers are 1-based in the file."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline=None)
    start = 1
    if skip_header:
        text.readline()
        start = 2
    while True:
        lines = list(itertools.islice(text, CHUNK_LINES))
        if not lines:
            return
        frame = pd.DataFrame({"line_no": np.arange(start, start + len(lines), dtype=np.int64), "raw_line": lines})
        frame["raw_line"] = frame["raw_line"].str.rstrip("\r\n")
        start += len(lines)
        yield frame[frame["raw_line"].str.strip() != ""]


def split_fields(chunk: pd.DataFrame, sep: str, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw lines into n fields; lines with another number of fields are returned as rejects."""
    parts = chunk["raw_line"].str.split(sep, regex=False)
    counts = parts.str.len()
    ok = counts == n
    bad = chunk.loc[~ok, ["line_no", "raw_line"]].assign(
        reason=counts[~ok].map(lambda c: f"expected {n} fields, found {c}")
    )
    good = chunk.loc[ok].copy()
    if len(good):
        fields = pd.DataFrame(parts[ok].tolist(), index=good.index)
        for i in range(n):
            good[f"f{i}"] = fields[i].str.strip()
    return good, bad


def parse_ratings_chunk(chunk: pd.DataFrame, sep: str, half_stars: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate (user, film, rating, timestamp) lines; returns (good rows, rejects with reasons)."""
    good, bad = split_fields(chunk, sep, 4)
    if not len(good):
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in STAGE_COLUMNS}), bad
    user = pd.to_numeric(good["f0"], errors="coerce")
    film = pd.to_numeric(good["f1"], errors="coerce")
    rating = pd.to_numeric(good["f2"], errors="coerce")
    ts = pd.to_numeric(good["f3"], errors="coerce")
    keep, rejects = _check_ratings(good["line_no"], good["raw_line"], user, film, rating, ts, half_stars)
    out = pd.DataFrame(
        {
            "user_id": user[keep].astype("int64"),
            "film_id": film[keep].astype("int64"),
            "rating": rating[keep],
            "ts": ts[keep].astype("int64"),
            "line_no": good.loc[keep, "line_no"],
            "raw_line": good.loc[keep, "raw_line"],
        }
    )
    return out, pd.concat([bad, *rejects], ignore_index=True)


def _check_ratings(
    line_no: pd.Series,
    raw_line: pd.Series | Callable[[np.ndarray], list[str]],
    user: pd.Series,
    film: pd.Series,
    rating: pd.Series,
    ts: pd.Series,
    half_stars: bool,
) -> tuple[pd.Series, list[pd.DataFrame]]:
    """The value checks every rating line passes, in order (a line is rejected for the first it fails).

    Returns the mask of rows that pass and the rejects (line_no, raw_line, reason); raw_line is a Series
    or a function giving the raw lines of rejected positions (the vectorised parser keeps bytes only).
    """
    checks = [
        (user.isna() | (user % 1 != 0) | (user <= 0), "user id is not a positive integer"),
        (film.isna() | (film % 1 != 0) | (film <= 0), "film id is not a positive integer"),
        (rating.isna(), "rating is not a number"),
        (
            rating.notna() & ~((rating * 2 % 1 == 0) & (rating >= 0.5) & (rating <= 5))
            if half_stars
            else rating.notna() & ~((rating % 1 == 0) & (rating >= 1) & (rating <= 5)),
            "rating not on the source's scale (" + ("0.5-5 in half stars" if half_stars else "1-5 whole stars") + ")",
        ),
        (ts.isna() | (ts < MIN_TS) | (ts > MAX_TS), "timestamp is not a unix time between 1990 and 2100"),
    ]
    failed = pd.Series(False, index=user.index)
    rejects = []
    for mask, reason in checks:
        mask = mask & ~failed
        if mask.any():
            where = mask.to_numpy()
            lines = raw_line[mask] if isinstance(raw_line, pd.Series) else raw_line(np.flatnonzero(where))
            rejects.append(pd.DataFrame({"line_no": line_no[mask], "raw_line": lines, "reason": reason}))
        failed |= mask
    return ~failed, rejects


# The vectorised path. A ratings file is millions of lines of digits, so the common line is parsed
# straight from the file's bytes with numpy: a "plain" line holds only digits, '.' and the separator,
# in exactly four non-empty fields (ids and timestamp digits only, at most 15 digits; the rating at
# most 7 characters with at most one inner '.'). Every other line (blank, garbage, a sign, an
# exponent, spaces, the wrong number of fields) goes through parse_ratings_chunk above, so each line
# gets the verdict and reason it always got; both paths share _check_ratings.

LINE_WINDOW = 64 << 20
REJECTS_PER_PAUSE = 200_000  # quarantine rows held before the stage's COPY pauses to write them
STAGE_COLUMNS = ["user_id", "film_id", "rating", "ts", "line_no", "raw_line"]
PLAIN_WIDTH = 64  # bytes: the longest plain line (15 + 15 + 7 + 15 digits and separators) fits
_PLAIN_BYTES = np.zeros(256, dtype=bool)
_PLAIN_BYTES[[*range(48, 58), ord("."), ord("\n")]] = True


@dataclass
class Lines:
    """A block of a file's lines: the file's bytes and where each line starts and ends (its newline excluded)."""

    buf: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    line_no: np.ndarray

    def text(self, positions: np.ndarray) -> list[str]:
        """The lines at these positions of the block, decoded as the loader reads ratings (latin-1)."""
        data = self.buf
        bounds = zip(self.starts[positions].tolist(), self.ends[positions].tolist(), strict=True)
        return [data[s:e].tobytes().decode("latin-1") for s, e in bounds]


def line_blocks(data: bytes, skip_header: bool, block_lines: int = CHUNK_LINES) -> Iterator[Lines]:
    """A file's lines, block_lines at a time, split where Python's universal newlines split ('\\n', '\\r\\n', '\\r')."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    buf = np.frombuffer(data, dtype=np.uint8)
    pos, line, size = 0, 1, len(buf)
    window = LINE_WINDOW
    while pos < size:
        newlines = np.flatnonzero(buf[pos : pos + window] == 10)[:block_lines] + pos
        at_end = pos + window >= size
        if len(newlines) == 0 and not at_end:
            window *= 2  # a line longer than the window
            continue
        ends = newlines
        if at_end and len(newlines) < block_lines and (newlines[-1] + 1 if len(newlines) else pos) < size:
            ends = np.append(newlines, size)  # the last line has no newline
        starts = np.concatenate([[pos], ends[:-1] + 1])
        numbers = np.arange(line, line + len(ends), dtype=np.int64)
        pos, line = int(ends[-1]) + 1, line + len(ends)
        if skip_header and numbers[0] == 1:
            starts, ends, numbers = starts[1:], ends[1:], numbers[1:]
        if len(starts):
            yield Lines(buf, starts, ends, numbers)


def _digits_value(lines: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The decimal number spelled by bytes [start, end) of each row of a line matrix ('.' is passed over)."""
    flat = lines.ravel()
    base = np.arange(len(lines), dtype=np.int64) * lines.shape[1]
    value = np.zeros(len(lines), dtype=np.int64)
    for j in range(int((ends - starts).max()) if len(lines) else 0):
        pos = starts + j
        ch = flat[base + np.minimum(pos, lines.shape[1] - 1)].astype(np.int64)
        value = np.where((pos < ends) & (ch != 46), value * 10 + ch - 48, value)
    return value


def parse_ratings_lines(
    lines: Lines, sep: str, half_stars: bool
) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame, int]:
    """Parse a block of rating lines: (plain good rows as stage columns, other good rows, rejects, lines read).

    The stage columns hold raw_line as a NUL-padded byte matrix, ready for warehouse.copy_columns.
    """
    length = lines.ends - lines.starts
    plain = (length > 0) & (length <= PLAIN_WIDTH) & (len(set(sep)) == 1)
    cols: dict[str, np.ndarray] = {}
    rejects_plain: list[pd.DataFrame] = []
    if plain.any():
        # each candidate line as a row of bytes as wide as the longest (one gather from a sliding window),
        # NUL after its end
        lo, hi = int(lines.starts[0]), int(lines.ends[-1])
        cand = np.flatnonzero(plain)
        cols_w = int(length[cand].max())
        padded = np.concatenate([lines.buf[lo:hi], np.zeros(cols_w, np.uint8)])
        mat = np.lib.stride_tricks.sliding_window_view(padded, cols_w)[lines.starts[cand] - lo]
        within = np.arange(cols_w) < length[cand, None]
        allowed = _PLAIN_BYTES.copy()
        allowed[ord(sep[0])] = True
        width = len(sep)
        ok = (allowed[mat] | ~within).all(axis=1)
        mat *= within
        ok &= np.count_nonzero(mat == ord(sep[0]), axis=1) == 3 * width
        cand, mat = cand[ok], mat[ok]
        at = np.nonzero(mat == ord(sep[0]))[1].reshape(len(cand), 3 * width)
        fstart = np.concatenate([np.zeros((len(cand), 1), np.int64), at + 1], axis=1)
        fend = np.concatenate([at, length[cand, None]], axis=1)
        good = np.ones(len(cand), dtype=bool)
        for k in range(3 * width + 1):
            if k % width:  # the empty fields between a multi-character separator's characters
                good &= fstart[:, k] == fend[:, k]
        starts_f, ends_f = fstart[:, ::width], fend[:, ::width]  # user, film, rating, timestamp
        flen = ends_f - starts_f
        good &= (flen > 0).all(axis=1) & (flen[:, [0, 1, 3]] <= 15).all(axis=1) & (flen[:, 2] <= 7)
        is_dot = mat == ord(".")
        dot_at, n_dots = is_dot.argmax(axis=1), np.count_nonzero(is_dot, axis=1)
        rs, re_ = starts_f[:, 2], ends_f[:, 2]
        good &= (n_dots == 0) | ((n_dots == 1) & (dot_at > rs) & (dot_at < re_ - 1))
        plain[:] = False
        cand, mat, starts_f, ends_f, dot_at, n_dots = (a[good] for a in (cand, mat, starts_f, ends_f, dot_at, n_dots))
        plain[cand] = True
        user, film, rating_digits, ts = (_digits_value(mat, starts_f[:, f], ends_f[:, f]) for f in range(4))
        rating = rating_digits / 10.0 ** np.where(n_dots > 0, ends_f[:, 2] - 1 - dot_at, 0)
        index = pd.RangeIndex(len(cand))
        keep, rejects_plain = _check_ratings(
            pd.Series(lines.line_no[cand], index=index),
            lambda failed: lines.text(cand[failed]),
            *(pd.Series(v, index=index) for v in (user, film, rating, ts)),
            half_stars,
        )
        keep = keep.to_numpy()
        cols = {
            "user_id": user[keep],
            "film_id": film[keep],
            "rating": rating[keep],
            "ts": ts[keep],
            "line_no": lines.line_no[cand[keep]],
            "raw_line": mat[keep][:, : int(length[cand[keep]].max()) if keep.any() else 1],
        }
    other = np.flatnonzero(~plain)
    chunk = pd.DataFrame({"line_no": lines.line_no[other], "raw_line": pd.Series(lines.text(other), dtype=object)})
    chunk = chunk[chunk["raw_line"].str.strip() != ""]
    slow_good, slow_rejects = parse_ratings_chunk(chunk, sep, half_stars)
    rejects = pd.concat([slow_rejects, *rejects_plain], ignore_index=True).sort_values("line_no", kind="stable")
    return cols, slow_good, rejects.reset_index(drop=True), int(plain.sum()) + len(chunk)


TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$")
ARTICLE = re.compile(r"^(?P<rest>.*), (?P<article>The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)(?P<tail>\s*\(.*\))?$")


def tidy_title(raw: str) -> tuple[str, int | None]:
    """'Usual Suspects, The (1995)' -> ('The Usual Suspects', 1995)."""
    raw = raw.strip()
    year = None
    m = TITLE_YEAR.match(raw)
    if m:
        raw, year = m.group("title"), int(m.group("year"))
    a = ARTICLE.match(raw)
    if a:
        sep = "" if a.group("article").endswith("'") else " "
        raw = f"{a.group('article')}{sep}{a.group('rest')}{a.group('tail') or ''}"
    return raw, year


def slugify(title: str, year: int | None) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "film"
    return f"{base}-{year}" if year else base


def age_band(age: float | None) -> str | None:
    if age is None or pd.isna(age):
        return None
    for lo, hi, label in AGE_BANDS:
        if lo <= age <= hi:
            return label
    return None


def zip_region(zip_code: str | None) -> str:
    z = (zip_code or "").strip()
    if len(z) == 5 and z.isdigit():
        return ZIP_REGIONS[z[0]]
    return "outside the us"


# ---------------------------------------------------------------------------------------------
# per-entity readers: each returns (good frame, rejects frame)


def read_films(src: Source) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Films of any layout as (film_id, slug, title, release_year, genres, imdb_id, tmdb_id)."""
    if src.layout == "ml-100k":
        name, sep, n, enc = "u.item", "|", 24, "latin-1"
    elif src.layout == "ml-1m":
        name, sep, n, enc = "movies.dat", "::", 3, "latin-1"
    elif src.layout == "recbole-100k":
        name, sep, n, enc = "ml-100k.item", "\t", 4, "utf-8"
    else:
        name, sep, n, enc = "movies.csv", ",", 3, "utf-8"
    data = _require(src, name)
    rows, rejects = [], []
    if src.layout == "ml-25m":  # quoted CSV: titles hold commas
        reader = csv.reader(io.StringIO(data.decode(enc, errors="replace")))
        next(reader, None)
        at = src.order.get(name, list(range(n)))
        for line_no, rec in enumerate(reader, start=2):
            raw = ",".join(rec)
            if not rec:
                continue  # a blank line is not read
            if len(rec) != n:
                rejects.append((line_no, raw, f"expected {n} fields, found {len(rec)}"))
                continue
            rows.append((line_no, raw, rec[at[0]], rec[at[1]], None, rec[at[2]]))
    else:
        for chunk in iter_line_chunks(data, enc, skip_header=src.layout == "recbole-100k"):
            good, bad = split_fields(chunk, sep, n)
            rejects.extend(bad.itertuples(index=False, name=None))
            for rec in good.itertuples(index=False):
                f = [getattr(rec, f"f{i}") for i in range(n)]
                if src.layout == "ml-100k":
                    genres = "|".join(g for g, flag in zip(ML100K_GENRES, f[5:24], strict=True) if flag == "1")
                    rows.append((rec.line_no, rec.raw_line, f[0], f[1], None, genres))
                elif src.layout == "ml-1m":
                    rows.append((rec.line_no, rec.raw_line, f[0], f[1], None, f[2]))
                else:
                    rows.append((rec.line_no, rec.raw_line, f[0], f[1], f[2], f[3].replace(" ", "|")))
    films = []
    for line_no, raw, fid, title_raw, year_field, genres in rows:
        if not str(fid).strip().isdigit():
            rejects.append((line_no, raw, "film id is not a positive integer"))
            continue
        title, year = tidy_title(title_raw)
        if year_field and str(year_field).strip().isdigit():
            year = int(year_field)
        if not title:
            rejects.append((line_no, raw, "film has no title"))
            continue
        genre_list = [g for g in (genres or "").split("|") if g and g not in ("unknown", "(no genres listed)")]
        films.append((line_no, raw, int(fid), slugify(title, year), title, year, genre_list))
    frame = pd.DataFrame(films, columns=["line_no", "raw_line", "film_id", "slug", "title", "release_year", "genres"])
    frame["release_year"] = frame["release_year"].astype("Int64")
    links = src.read("links.csv") if src.layout == "ml-25m" else None
    if links is not None:
        lk = pd.read_csv(io.BytesIO(links), dtype=str)
        lk.columns = [c.strip() for c in lk.columns]
        lk = lk.rename(columns={"movieId": "film_id", "imdbId": "imdb_id", "tmdbId": "tmdb_id"})
        lk["film_id"] = pd.to_numeric(lk["film_id"], errors="coerce").astype("Int64")
        lk["tmdb_id"] = pd.to_numeric(lk["tmdb_id"], errors="coerce").astype("Int64")
        lk["imdb_id"] = "tt" + lk["imdb_id"].str.strip()
        frame = frame.merge(lk[["film_id", "imdb_id", "tmdb_id"]], on="film_id", how="left")
    else:
        frame["imdb_id"] = None
        frame["tmdb_id"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    return frame, _rejects(rejects), name


def read_users(src: Source) -> tuple[pd.DataFrame, pd.DataFrame, str] | None:
    """Users with demographics (100K, 1M); None for layouts without a users file."""
    spec = {
        "ml-100k": ("u.user", "|", 5, False),
        "ml-1m": ("users.dat", "::", 5, False),
        "recbole-100k": ("ml-100k.user", "\t", 5, True),
    }.get(src.layout)
    if spec is None:
        return None
    name, sep, n, header = spec
    data = _require(src, name)
    rows, rejects = [], []
    for chunk in iter_line_chunks(data, "latin-1", skip_header=header):
        good, bad = split_fields(chunk, sep, n)
        rejects.extend(bad.itertuples(index=False, name=None))
        for rec in good.itertuples(index=False):
            if src.layout == "ml-1m":
                uid, gender, age, occ, zip_code = rec.f0, rec.f1, rec.f2, rec.f3, rec.f4
                age_v = ML1M_AGE.get(int(age)) if age.isdigit() else None
                occ = ML1M_OCCUPATIONS[int(occ)] if occ.isdigit() and int(occ) < len(ML1M_OCCUPATIONS) else None
            else:
                uid, age, gender, occ, zip_code = rec.f0, rec.f1, rec.f2, rec.f3, rec.f4
                age_v = int(age) if age.isdigit() else None
            if not uid.isdigit():
                rejects.append((rec.line_no, rec.raw_line, "user id is not a positive integer"))
                continue
            rows.append(
                (rec.line_no, rec.raw_line, int(uid), f"ml{uid}", age_v, gender or None, occ or None, zip_code or None)
            )
    frame = pd.DataFrame(
        rows, columns=["line_no", "raw_line", "user_id", "username", "age", "gender", "occupation", "zip_code"]
    )
    frame["age"] = frame["age"].astype("Int64")
    return frame, _rejects(rejects), name


def _rejects(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["line_no", "raw_line", "reason"])


def _require(src: Source, name: str) -> bytes:
    data = src.read(name)
    if data is None:
        raise WarehouseError(f"{src.describe(name)}: missing from this {src.layout} copy")
    return data


# ---------------------------------------------------------------------------------------------
# layouts: every file is checked before anything loads

# Files with a header: the columns the loader needs, mapped by name (any order loads).
HEADERS = {
    "ratings.csv": ["userId", "movieId", "rating", "timestamp"],
    "movies.csv": ["movieId", "title", "genres"],
    "links.csv": ["movieId", "imdbId", "tmdbId"],
    "tags.csv": ["userId", "movieId", "tag", "timestamp"],
}
# Files without a header (and RecBole's, whose header carries types): separator and number of fields.
FIELDS = {
    "u.data": ("\t", 4),
    "u.item": ("|", 24),
    "u.user": ("|", 5),
    "ratings.dat": ("::", 4),
    "movies.dat": ("::", 3),
    "users.dat": ("::", 5),
    "ml-100k.inter": ("\t", 4),
    "ml-100k.item": ("\t", 4),
    "ml-100k.user": ("\t", 5),
}
LAYOUT_FILES = {  # (required, optional)
    "ml-100k": (["u.item", "u.user", "u.data"], []),
    "ml-1m": (["movies.dat", "users.dat", "ratings.dat"], []),
    "recbole-100k": (["ml-100k.item", "ml-100k.user", "ml-100k.inter"], []),
    "ml-25m": (["movies.csv", "ratings.csv"], ["links.csv", "tags.csv"]),
}
UTF8_FILES = ("movies.csv", "tags.csv", "links.csv")  # text files of the csv layout (ratings.csv is digits)
SHOWN_CHARS = 120
PROBE_LINES = 10


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"... ({len(text):,} characters)"


def _first_lines(data: bytes, n: int) -> list[tuple[int, str]]:
    """The first n non-blank lines (1-based line number, text decoded as latin-1, which never fails)."""
    out: list[tuple[int, str]] = []
    start, line_no = 0, 1
    while len(out) < n and start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        text = data[start:end].decode("latin-1").strip("\r\ufeff\xef\xbb\xbf")
        if text.strip():
            out.append((line_no, text))
        start, line_no = end + 1, line_no + 1
    return out


def check_files(src: Source) -> None:
    """Read every file of the layout and check it against its layout before anything is loaded.

    A header must name the expected columns (in any order: src.order maps them); a file without a
    header must have the expected number of fields on one of its first lines (a garbage line alone
    goes to quarantine, a file of another shape is refused); every file needs a data line.
    The first mismatch raises one line naming the file, what was expected and what was found.
    """
    required, optional = LAYOUT_FILES[src.layout]
    for name in required + optional:
        data = src.read(name) if name in optional else _require(src, name)
        if data is None:
            continue
        where = src.describe(name)
        has_header = name in HEADERS or name.startswith("ml-100k.")
        lines = _first_lines(data, PROBE_LINES)
        if not lines:
            raise WarehouseError(f"{where}: empty file ({len(data)} bytes); expected {_expected(name)}")
        if has_header and len(lines) < 2:
            raise WarehouseError(f"{where}: a header and no data lines; expected {_expected(name)}")
        if name in UTF8_FILES:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data.count(b"\n", 0, exc.start) + 1
                raise WarehouseError(
                    f"{where}: not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); GroupLens writes UTF-8, "
                    "so save the file as UTF-8"
                ) from None
        if name in HEADERS:
            try:
                found = [c.strip() for c in next(csv.reader([lines[0][1]]))]
            except csv.Error:  # a field longer than csv's limit: not a header
                found = [lines[0][1]]
            expected = HEADERS[name]
            if sorted(found) != sorted(expected):
                raise WarehouseError(
                    f"{where}: header names columns {_shown(','.join(found))!r}, expected {','.join(expected)} "
                    "(in any order)"
                )
            src.order[name] = [found.index(c) for c in expected]
            continue
        sep, n = FIELDS[name]
        probe = lines[:1] if has_header else lines
        if all(len(text.split(sep)) != n for _, text in probe):
            line_no, text = probe[0]
            got = len(text.split(sep))
            what = "header" if has_header else f"line {line_no}"
            raise WarehouseError(
                f"{where}: {what} has {got} field(s), expected {_expected(name)} "
                f"(found {_shown(text)!r})"
            )


def _expected(name: str) -> str:
    if name in HEADERS:
        return f"a header {','.join(HEADERS[name])} then data lines"
    sep, n = FIELDS[name]
    return f"{n} fields separated by {sep!r}"


def _reorder_columns(data: bytes, order: list[int]) -> bytes:
    """A comma-separated file's lines with their fields in the expected order (lines of another width as they are).

    Lines split where line_blocks splits them, so line numbers stay the file's; a quarantined line shows
    its fields in the expected order.
    """
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    out = []
    for line in lines:
        fields = line.split(b",")
        out.append(b",".join(fields[i] for i in order) if len(fields) == len(order) else line)
    return b"\n".join(out)


# ---------------------------------------------------------------------------------------------
# loading


def _stage_and_merge(
    conn: psycopg.Connection,
    batch: common.Batch,
    frame: pd.DataFrame,
    stage_cols: list[tuple[str, str]],
    target: str,
    keys: list[str],
) -> int:
    """COPY a parsed frame into a stage, send duplicate keys to quarantine, and upsert into target.

    Each staged line is then loaded (its row changed raw) or skipped (raw already had it).
    """
    stage = common.create_stage(conn, f"_stage_{target.split('.')[-1]}", stage_cols)
    warehouse.copy_frame(conn, stage, frame[[c for c, _ in stage_cols] + ["line_no", "raw_line"]])
    common.reject_duplicate_keys(batch, stage, keys)
    staged = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(stage))).fetchone()[0]
    n = common.upsert_from_stage(batch, stage, target, keys, [c for c, _ in stage_cols])
    common.settle_lines(batch, staged, n)
    return n


def load_films(conn: psycopg.Connection, src: Source, source_name: str) -> None:
    frame, rejects, name = read_films(src)
    data = _require(src, name)
    with common.load_batch(
        conn, source=source_name, entity="films", file=src.describe(name), sha256=common.file_sha256(None, data)
    ) as batch:
        if batch is None:
            return
        batch.rows_read = len(frame) + len(rejects)
        batch.reject(rejects)
        common.require_rows(len(frame), src.describe(name))
        frame = frame.assign(
            genres=frame["genres"].map(lambda g: "{" + ",".join(_pg_array_item(x) for x in g) + "}"),
            source=source_name,
        )
        n = _stage_and_merge(
            conn,
            batch,
            frame,
            [
                ("film_id", "bigint"),
                ("slug", "text"),
                ("title", "text"),
                ("release_year", "integer"),
                ("genres", "text[]"),
                ("imdb_id", "text"),
                ("tmdb_id", "bigint"),
                ("source", "text"),
            ],
            "raw.films",
            ["film_id"],
        )
        log(f"films: {n} new or changed of {len(frame)} read, {batch.rows_rejected} quarantined")


def _pg_array_item(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_users_and_cohorts(conn: psycopg.Connection, src: Source, source_name: str) -> None:
    got = read_users(src)
    if got is None:
        return
    frame, rejects, name = got
    data = _require(src, name)
    sha = common.file_sha256(None, data)
    with common.load_batch(conn, source=source_name, entity="users", file=src.describe(name), sha256=sha) as batch:
        if batch is None:
            return
        batch.rows_read = len(frame) + len(rejects)
        batch.reject(rejects)
        common.require_rows(len(frame), src.describe(name))
        frame = frame.assign(source=source_name)
        n = _stage_and_merge(
            conn,
            batch,
            frame,
            [
                ("user_id", "bigint"),
                ("username", "text"),
                ("age", "integer"),
                ("gender", "text"),
                ("occupation", "text"),
                ("zip_code", "text"),
                ("source", "text"),
            ],
            "raw.users",
            ["user_id"],
        )
        log(f"users: {n} new or changed of {len(frame)} read, {batch.rows_rejected} quarantined")
        write_demographic_cohorts(conn, batch)


def write_demographic_cohorts(conn: psycopg.Connection, batch: common.Batch) -> None:
    """Cohorts from the users table: everyone, occupation, age band, US region (from the ZIP's first digit)."""
    users = warehouse.read_frame(
        conn, "select user_id, age, occupation, zip_code from raw.users where source like 'movielens%%'"
    )
    members = []
    for u in users.itertuples(index=False):
        members.append(("everyone", u.user_id))
        if isinstance(u.occupation, str) and u.occupation:
            members.append((f"occupation:{u.occupation}", u.user_id))
        band = age_band(u.age)
        if band:
            members.append((f"age:{band}", u.user_id))
        members.append((f"region:{zip_region(u.zip_code if isinstance(u.zip_code, str) else None)}", u.user_id))
    mem = pd.DataFrame(members, columns=["cohort_id", "user_id"])
    cohorts = mem[["cohort_id"]].drop_duplicates()
    cohorts["kind"] = cohorts["cohort_id"].map(lambda c: "all" if c == "everyone" else c.split(":")[0])
    cohorts["kind"] = cohorts["kind"].replace({"age": "demographic", "occupation": "demographic", "region": "region"})
    cohorts["name"] = cohorts["cohort_id"].map(_cohort_name)
    replace_cohorts(conn, batch, cohorts, mem, scope_kinds=["all", "demographic", "region"])


def _cohort_name(cohort_id: str) -> str:
    if cohort_id == "everyone":
        return "Everyone"
    kind, _, value = cohort_id.partition(":")
    return f"{kind.capitalize()}: {value}"


def replace_cohorts(
    conn: psycopg.Connection,
    batch: common.Batch,
    cohorts: pd.DataFrame,
    members: pd.DataFrame,
    scope_kinds: list[str],
) -> None:
    """Upsert cohorts and their members; members gone from a cohort of these kinds become tombstones."""
    stage = common.create_stage(conn, "_stage_cohorts", [("cohort_id", "text"), ("name", "text"), ("kind", "text")])
    warehouse.copy_frame(
        conn, stage, cohorts.assign(line_no=None, raw_line=None)[["cohort_id", "name", "kind", "line_no", "raw_line"]]
    )
    common.upsert_from_stage(batch, stage, "raw.cohorts", ["cohort_id"], ["name", "kind"], counted=False)
    mstage = common.create_stage(
        conn, "_stage_members", [("cohort_id", "text"), ("user_id", "bigint"), ("deleted", "boolean")]
    )
    warehouse.copy_frame(
        conn,
        mstage,
        members.assign(deleted=False, line_no=None, raw_line=None)[
            ["cohort_id", "user_id", "deleted", "line_no", "raw_line"]
        ],
    )
    common.upsert_from_stage(
        batch, mstage, "raw.cohort_members", ["cohort_id", "user_id"], ["deleted"], counted=False
    )
    gone = common.tombstone_missing(
        batch,
        mstage,
        "raw.cohort_members",
        ["cohort_id", "user_id"],
        sql.SQL("cohort_id in (select cohort_id from raw.cohorts where kind = any(%s))"),
        (scope_kinds,),
    )
    log(f"cohorts: {len(cohorts)} cohorts, {len(members)} memberships ({gone} removed)")


def load_people(conn: psycopg.Connection, src: Source, source_name: str) -> None:
    """Directors, actors, writers, producers from RecBole's knowledge graph (Freebase ids, no names)."""
    kg, link = src.read("ml-100k.kg"), src.read("ml-100k.link")
    if kg is None or link is None:
        return
    links = pd.read_csv(io.BytesIO(link), sep="\t", dtype=str)
    links.columns = ["film_id", "entity_id"]
    triples = pd.read_csv(io.BytesIO(kg), sep="\t", dtype=str)
    triples.columns = ["head", "relation", "tail"]
    triples = triples[triples["relation"].isin(KG_ROLES)]
    fp = triples.merge(links, left_on="head", right_on="entity_id")
    fp = pd.DataFrame(
        {
            "film_id": fp["film_id"].astype("int64"),
            "person_id": "fb:" + fp["tail"],
            "role": fp["relation"].map(KG_ROLES),
        }
    ).drop_duplicates()
    fp["billing"] = pd.array([pd.NA] * len(fp), dtype="Int64")
    sha = common.file_sha256(None, kg + link)
    with common.load_batch(
        conn, source=source_name, entity="people", file=src.describe("ml-100k.kg"), sha256=sha
    ) as batch:
        if batch is None:
            return
        batch.rows_read = len(fp)
        people = fp[["person_id"]].drop_duplicates().assign(name=None, line_no=None, raw_line=None)
        pstage = common.create_stage(conn, "_stage_people", [("person_id", "text"), ("name", "text")])
        warehouse.copy_frame(conn, pstage, people)
        common.upsert_from_stage(batch, pstage, "raw.people", ["person_id"], ["name"], counted=False)
        fstage = common.create_stage(
            conn,
            "_stage_film_people",
            [("film_id", "bigint"), ("person_id", "text"), ("role", "text"), ("billing", "integer")],
        )
        warehouse.copy_frame(conn, fstage, fp.assign(line_no=None, raw_line=None))
        common.reject_unknown(batch, fstage, "film_id", "raw.films", "film_id", "film")
        staged = conn.execute("select count(*) from _stage_film_people").fetchone()[0]
        n = common.upsert_from_stage(batch, fstage, "raw.film_people", ["film_id", "person_id", "role"], ["billing"])
        common.settle_lines(batch, staged, n)
        log(f"people: {len(people)} people, {n} new film credits")


def load_ratings(conn: psycopg.Connection, src: Source, source_name: str, has_users: bool) -> None:
    """Ratings: parsed a block of lines at a time, COPYed to a stage, checked set-based, merged into raw.ratings.

    Logs each phase's seconds ("ratings: parsed and staged in 3.1 s", checked, merged).
    """
    name, sep, header, half = {
        "ml-100k": ("u.data", "\t", False, False),
        "ml-1m": ("ratings.dat", "::", False, False),
        "recbole-100k": ("ml-100k.inter", "\t", True, False),
        "ml-25m": ("ratings.csv", ",", True, True),
    }[src.layout]
    data = _require(src, name)
    sha = common.file_sha256(None, data)
    order = src.order.get(name)
    if order and order != sorted(order):
        log(f"ratings: {name} names its columns in another order; mapped by name")
        data = _reorder_columns(data, order)
    with common.load_batch(conn, source=source_name, entity="ratings", file=src.describe(name), sha256=sha) as batch:
        if batch is None:
            return
        clock = _PhaseClock("ratings")
        stage = common.create_stage(
            conn,
            "_stage_ratings",
            [("user_id", "bigint"), ("film_id", "bigint"), ("rating", "numeric(2,1)"), ("ts", "bigint")],
        )
        order = _KeyOrder()
        blocks = line_blocks(data, skip_header=header)
        more = True
        while more:  # one COPY into the stage, paused only to write a large pile of rejects
            rejects: list[pd.DataFrame] = []
            with warehouse.copy_stream(conn, stage, STAGE_COLUMNS) as write:
                more = False
                for lines in blocks:
                    plain, other, bad, read = parse_ratings_lines(lines, sep, half)
                    batch.rows_read += read
                    rejects.append(bad)
                    if plain:
                        write(plain)
                        order.add(plain["user_id"], plain["film_id"])
                    if len(other):
                        write(other)
                        order.add(other["user_id"].to_numpy(), other["film_id"].to_numpy(), in_order=False)
                    log(f"ratings: {batch.rows_read:,} lines read from {name}")
                    if sum(len(r) for r in rejects) >= REJECTS_PER_PAUSE:
                        more = True
                        break
            batch.reject(pd.concat(rejects, ignore_index=True))
        clock.lap("parsed and staged")
        conn.execute(sql.SQL("analyze {}").format(sql.Identifier(stage)))
        if not order.increasing:  # keys that strictly increase line by line cannot repeat
            common.reject_duplicate_keys(batch, stage, ["user_id", "film_id"])
        common.reject_unknown(batch, stage, "film_id", "raw.films", "film_id", "film")
        if has_users:
            common.reject_unknown(batch, stage, "user_id", "raw.users", "user_id", "user")
        else:
            conn.execute(
                "create temporary table _stage_raters on commit drop as select distinct user_id from _stage_ratings"
            )
            conn.execute(
                "insert into raw.users (user_id, username, source, batch_id) "
                "select user_id, 'ml' || user_id, %s, %s from _stage_raters on conflict do nothing",
                (source_name, batch.batch_id),
            )
            _ensure_everyone(conn, batch)
        n_good = conn.execute("select count(*) from _stage_ratings").fetchone()[0]
        common.require_rows(n_good, src.describe(name))
        clock.lap("checked")
        conn.execute(
            "create temporary view _stage_ratings_typed as "
            "select user_id, film_id, rating, null::boolean as liked, null::boolean as favorite, "
            "to_timestamp(ts) as rated_at, to_timestamp(ts) as updated_at, false as deleted, line_no, raw_line "
            "from _stage_ratings"
        )  # a view: the merge reads the stage once; it drops with the stage at commit
        n = common.upsert_from_stage(
            batch,
            "_stage_ratings_typed",
            "raw.ratings",
            ["user_id", "film_id"],
            ["rating", "liked", "favorite", "rated_at", "updated_at", "deleted"],
            only_newer="updated_at",
            staged_rows=n_good,
        )
        common.settle_lines(batch, n_good, n)
        clock.lap("merged")
        log(f"ratings: {n:,} new or changed of {n_good:,} valid, {batch.rows_rejected:,} quarantined")


class _KeyOrder:
    """Whether (user_id, film_id) keys strictly increase across the blocks given (GroupLens files are sorted)."""

    def __init__(self) -> None:
        self.increasing = True
        self.last: tuple[int, int] | None = None

    def add(self, user: np.ndarray, film: np.ndarray, in_order: bool = True) -> None:
        if not len(user) or not self.increasing:
            return
        if not in_order:
            self.increasing = False
            return
        if self.last is not None:
            user, film = np.concatenate([[self.last[0]], user]), np.concatenate([[self.last[1]], film])
        du, df = np.diff(user), np.diff(film)
        self.increasing = bool(np.all((du > 0) | ((du == 0) & (df > 0))))
        self.last = (int(user[-1]), int(film[-1]))


class _PhaseClock:
    """Logs the seconds of each phase of a load: 'ratings: merged in 12.3 s'."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.started = time.monotonic()

    def lap(self, phase: str) -> None:
        now = time.monotonic()
        log(f"{self.what}: {phase} in {now - self.started:.2f} s")
        self.started = now


def _ensure_everyone(conn: psycopg.Connection, batch: common.Batch) -> None:
    """Layouts without demographics get one cohort: everyone who rated (_stage_raters)."""
    conn.execute(
        "insert into raw.cohorts (cohort_id, name, kind, batch_id) values ('everyone', 'Everyone', 'all', %s) "
        "on conflict do nothing",
        (batch.batch_id,),
    )
    conn.execute(
        "insert into raw.cohort_members (cohort_id, user_id, batch_id) "
        "select 'everyone', user_id, %s from _stage_raters on conflict do nothing",
        (batch.batch_id,),
    )


def load_tags(conn: psycopg.Connection, src: Source, source_name: str) -> None:
    data = src.read("tags.csv") if src.layout == "ml-25m" else None
    if data is None:
        return
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    frame.columns = [c.strip() for c in frame.columns]
    frame = frame[HEADERS["tags.csv"]].set_axis(["user_id", "film_id", "tag", "ts"], axis=1)
    frame["line_no"] = np.arange(2, len(frame) + 2)
    frame["raw_line"] = frame["user_id"] + "," + frame["film_id"] + "," + frame["tag"] + "," + frame["ts"]
    with common.load_batch(
        conn, source=source_name, entity="tags", file=src.describe("tags.csv"), sha256=common.file_sha256(None, data)
    ) as batch:
        if batch is None:
            return
        batch.rows_read = len(frame)
        num = {c: pd.to_numeric(frame[c], errors="coerce") for c in ("user_id", "film_id", "ts")}
        bad = num["user_id"].isna() | num["film_id"].isna() | num["ts"].isna() | (frame["tag"].str.strip() == "")
        batch.reject(frame.loc[bad, ["line_no", "raw_line"]].assign(reason="unparsable tag line"))
        good = frame.loc[~bad].assign(**{c: num[c][~bad].astype("int64") for c in num})
        good["tag"] = good["tag"].str.strip()
        stage = common.create_stage(
            conn, "_stage_tags", [("user_id", "bigint"), ("film_id", "bigint"), ("tag", "text"), ("ts", "bigint")]
        )
        warehouse.copy_frame(conn, stage, good[["user_id", "film_id", "tag", "ts", "line_no", "raw_line"]])
        common.reject_duplicate_keys(batch, stage, ["user_id", "film_id", "tag"])
        common.reject_unknown(batch, stage, "film_id", "raw.films", "film_id", "film")
        common.reject_unknown(batch, stage, "user_id", "raw.users", "user_id", "user")
        conn.execute(
            "create temporary table _stage_tags_typed on commit drop as select user_id, film_id, tag, "
            "to_timestamp(ts) as tagged_at, line_no, raw_line from _stage_tags"
        )
        staged = conn.execute("select count(*) from _stage_tags_typed").fetchone()[0]
        n = common.upsert_from_stage(
            batch, "_stage_tags_typed", "raw.tags", ["user_id", "film_id", "tag"], ["tagged_at"]
        )
        common.settle_lines(batch, staged, n)
        log(f"tags: {n:,} new or changed")


def load_movielens(conn: psycopg.Connection, path: Path | str | None = None) -> str:
    """Load a MovieLens copy (None: ML-100K from the recbole wheel) into raw; returns its layout."""
    src = open_pypi_100k() if path is None else open_source(path)
    check_files(src)
    source_name = f"movielens:{src.layout}"
    _refuse_mixed_sources(conn, source_name)
    log(f"loading MovieLens ({src.layout}) from {src.label}")
    load_films(conn, src, source_name)
    has_users = src.layout in ("ml-100k", "ml-1m", "recbole-100k")
    load_users_and_cohorts(conn, src, source_name)
    load_people(conn, src, source_name)
    load_ratings(conn, src, source_name, has_users)
    load_tags(conn, src, source_name)
    return src.layout


def _refuse_mixed_sources(conn: psycopg.Connection, source_name: str) -> None:
    """MovieLens ids are the warehouse's ids, so one MovieLens copy per database."""
    other = conn.execute(
        "select distinct source from ops.load_batches where source like 'movielens:%%' and source <> %s "
        "and status = 'loaded' limit 1",
        (source_name,),
    ).fetchone()
    if other:
        raise WarehouseError(
            f"this database already holds {other[0]}; load {source_name} into another database (PGDATABASE)"
        )


def cmd_load(args: argparse.Namespace) -> int:
    if not args.from_pypi and not args.path:
        raise WarehouseError("load movielens: give a PATH (folder or zip) or --from-pypi")
    warehouse.ensure_database()
    with warehouse.connect() as conn:
        warehouse.init_warehouse(conn)
        path = None if args.from_pypi else args.path
        with warehouse.job_run("load movielens", {"path": path or "recbole wheel"}):
            load_movielens(conn, path)
    return 0


def register_load(load_sub: argparse._SubParsersAction) -> None:
    p = load_sub.add_parser("movielens", help="load MovieLens (ml-100k, ml-1m, ml-25m layouts; folder or zip)")
    p.add_argument("path", nargs="?", help="a GroupLens folder or zip")
    p.add_argument("--from-pypi", action="store_true", help="ML-100K from the recbole 1.2.1 wheel on PyPI")
    p.set_defaults(func=cmd_load)
