"""Every known class of bad input, through the real command line (a subprocess of `python -m python_jobs`):
a non-zero exit, exactly one `error:` line naming what is wrong (no traceback), and raw tables unchanged.

One database holds a small MovieLens (ml-25m layout) and a Letterboxd member first, so "unchanged" is
checked against tables that have rows. EXERCISED lists the classes run (conftest prints the count).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, make_database

from python_jobs import warehouse

EXERCISED: list[str] = []

MOVIES = "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,Heat (1995),Action\n"
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,964982704\n2,1,5.0,964982705\n"
LB_RATINGS = "Date,Name,Year,Letterboxd URI,Rating\n2020-01-01,Parasite,2019,https://boxd.it/2bg8,4.5\n"
RAW_TABLES = (
    "raw.users", "raw.follows", "raw.cohorts", "raw.cohort_members", "raw.films", "raw.film_histograms",
    "raw.ratings", "raw.diary_entries", "raw.tags", "raw.people", "raw.film_people", "raw.lists", "raw.list_items",
)
TEN_MB = 10 * 1024 * 1024


def cli(db: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PGDATABASE=db)
    return subprocess.run(
        [sys.executable, "-m", "python_jobs", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def snapshot(db: str) -> dict[str, list]:
    with warehouse.connect(db) as conn:
        state = {t: sorted(map(repr, conn.execute(f"select * from {t}").fetchall())) for t in RAW_TABLES}
        state["loaded batches"] = conn.execute(
            "select batch_id from ops.load_batches where status = 'loaded' order by 1"
        ).fetchall()
    return state


def folder(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def bad_crc_zip(path: Path, files: dict[str, str], member: str, old: bytes, new: bytes) -> Path:
    """A zip whose member has one byte changed after it was written: its CRC no longer matches."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    data = path.read_bytes()
    at = data.index(old, data.index(member.encode()) + len(member))
    path.write_bytes(data[:at] + new + data[at + len(old) :])
    return path


def ml25m(tmp: Path, **files: str | bytes) -> list[str]:
    chosen = {"movies.csv": MOVIES, "ratings.csv": RATINGS}
    chosen.update({k.replace("_", "."): v for k, v in files.items()})
    return ["load", "movielens", str(folder(tmp / "ml-25m", chosen))]


def letterboxd(tmp: Path, files: dict[str, str | bytes], *extra: str) -> list[str]:
    return ["load", "letterboxd", str(folder(tmp / "letterboxd-erin", files)), "--cohort", "club", *extra]


@dataclass
class BadInput:
    name: str
    args: Callable[[Path], list[str]]
    line: str  # a regular expression the one error line must match
    code: int = 2


# fmt: off
CLASSES = [
    BadInput(
        "ml-25m ratings.csv header of other columns",
        lambda t: ml25m(t, ratings_csv="user,film,stars,when\n1,1,4.0,964982703\n"),
        r"ml-25m:ratings\.csv: header names columns 'user,film,stars,when', "
        r"expected userId,movieId,rating,timestamp \(in any order\)$",
    ),
    BadInput(
        "ml-25m ratings.csv header missing a column",
        lambda t: ml25m(t, ratings_csv="userId,movieId,rating\n1,1,4.0\n"),
        r"ratings\.csv: header names columns 'userId,movieId,rating', expected userId,movieId,rating,timestamp",
    ),
    BadInput(
        "ml-25m movies.csv header of other columns",
        lambda t: ml25m(t, movies_csv="id,name\n1,Toy Story (1995)\n"),
        r"movies\.csv: header names columns 'id,name', expected movieId,title,genres",
    ),
    BadInput(
        "ml-100k u.data of another shape (comma-separated)",
        lambda t: ["load", "movielens", str(folder(t / "ml-100k", {
            "u.item": "1|Toy Story (1995)|01-Jan-1995||http://x" + "|0" * 19 + "\n",
            "u.user": "1|24|M|technician|85711\n",
            "u.data": "1,1,5,881250949\n2,1,4,881250950\n",
        }))],
        r"u\.data: line 1 has 1 field\(s\), expected 4 fields separated by '\\t' \(found '1,1,5,881250949'\)$",
    ),
    BadInput(
        "ml-1m ratings.dat of another shape (tab-separated)",
        lambda t: ["load", "movielens", str(folder(t / "ml-1m", {
            "movies.dat": "1::Toy Story (1995)::Animation\n",
            "users.dat": "1::F::1::10::48067\n",
            "ratings.dat": "1\t1\t5\t978300760\n",
        }))],
        r"ratings\.dat: line 1 has 1 field\(s\), expected 4 fields separated by '::'",
    ),
    BadInput(
        "empty (0-byte) ratings file",
        lambda t: ml25m(t, ratings_csv=b""),
        r"ratings\.csv: empty file \(0 bytes\); expected a header userId,movieId,rating,timestamp then data lines$",
    ),
    BadInput(
        "header-only ratings file",
        lambda t: ml25m(t, ratings_csv="userId,movieId,rating,timestamp\n"),
        r"ratings\.csv: a header and no data lines",
    ),
    BadInput(
        "10 MB header line",
        lambda t: ml25m(t, ratings_csv="x" * TEN_MB + "\n1,1,4.0,964982703\n"),
        r"ratings\.csv: header names columns 'x{120}\.\.\. \(10,485,760 characters\)', expected userId",
    ),
    BadInput(
        "movies.csv in Latin-1",
        lambda t: ml25m(t, movies_csv=(MOVIES + "3,Amélie (2001),Romance\n").encode("latin-1")),
        r"movies\.csv: not UTF-8 \(byte 0xe9 on line 4\)",
    ),
    BadInput(
        "MovieLens zip with a bad CRC",
        lambda t: ["load", "movielens", str(bad_crc_zip(
            t / "ml-25m.zip", {"ml-25m/movies.csv": MOVIES, "ml-25m/ratings.csv": RATINGS},
            "ml-25m/ratings.csv", b"964982704", b"964982705"))],
        r"ml-25m\.zip:ratings\.csv: cannot be read, the zip is damaged \(Bad CRC-32 for file 'ml-25m/ratings\.csv'\)$",
    ),
    BadInput(
        "not a zip, nor a folder",
        lambda t: ["load", "movielens", str(folder(t, {"ml.zip": b"PK\x03\x04 not really a zip"}) / "ml.zip")],
        r"ml\.zip: neither a folder nor a zip file$",
    ),
    BadInput(
        "missing path",
        lambda t: ["load", "movielens", str(t / "nowhere")],
        r"nowhere: no such file or folder$",
    ),
    BadInput(
        "Letterboxd zip with a bad CRC",
        lambda t: ["load", "letterboxd", str(bad_crc_zip(
            t / "letterboxd-erin.zip", {"ratings.csv": LB_RATINGS}, "ratings.csv", b"Parasite", b"Parasitf")),
            "--cohort", "club"],
        r"letterboxd-erin\.zip/ratings\.csv: cannot be read, the zip is damaged \(Bad CRC-32",
    ),
    BadInput(
        "Letterboxd header without a required column",
        lambda t: letterboxd(t, {"ratings.csv": LB_RATINGS.replace("Name,", "Title,", 1)}),
        r"letterboxd-erin/ratings\.csv: line 1 names columns 'Date,Title,Year,Letterboxd URI,Rating', "
        r"expected Date,Name,Year,Letterboxd URI,Rating \(in any order\); missing Name$",
    ),
    BadInput(
        "Letterboxd list file without its version line",
        lambda t: letterboxd(t, {"ratings.csv": LB_RATINGS, "lists/x.csv": "Position,Name,Year,URL\n1,A,2000,u\n"}),
        r"lists/x\.csv: line 1 is 'Position,Name,Year,URL', expected 'Letterboxd list export v7'",
    ),
    BadInput(
        "Letterboxd export of 0-byte files",
        lambda t: letterboxd(t, {"ratings.csv": b"", "watched.csv": b"", "diary.csv": b""}),
        r"letterboxd-erin/(diary|ratings|watched)\.csv: empty file \(0 bytes\)",
    ),
    BadInput(
        "Letterboxd export of headers only",
        lambda t: letterboxd(t, {"ratings.csv": LB_RATINGS.splitlines()[0] + "\n", "watched.csv": "Date,Name,Year,"
                                 "Letterboxd URI\n"}),
        r"letterboxd-erin: no rows in any file \(headers only\); nothing to load$",
    ),
    BadInput(
        "Letterboxd dates in the future",
        lambda t: letterboxd(t, {"ratings.csv": LB_RATINGS.replace("2020-01-01", "2999-01-01")}),
        r"1 of 1 exports failed, cohort club left unchanged; first: .*letterboxd-erin: no usable rows",
    ),
    BadInput(
        "Letterboxd dates before 1990",
        lambda t: letterboxd(t, {"ratings.csv": LB_RATINGS.replace("2020-01-01", "0001-01-01")}),
        r"1 of 1 exports failed, cohort club left unchanged; first: .*letterboxd-erin: no usable rows",
    ),
    BadInput(
        "Letterboxd 10 MB line",
        lambda t: letterboxd(t, {"ratings.csv": LB_RATINGS.splitlines()[0] + "\n" + "2020-01-01," + "y" * TEN_MB}),
        r"exports failed, cohort club left unchanged; first: .*letterboxd-erin: no usable rows",
    ),
    BadInput(
        "Letterboxd cohort id \\N",
        lambda t: [*letterboxd(t, {"ratings.csv": LB_RATINGS})[:-1], "\\N"],
        r"--cohort 'saved:\\\\N' holds a backslash or a control character",
    ),
    BadInput("cohort follows abc", lambda t: ["cohort", "follows", "abc"],
             r"cohort follows takes a user id that must be a positive integer up to 9223372036854775807, not 'abc'$"),
    BadInput("cohort follows, id too large for bigint", lambda t: ["cohort", "follows", "9" * 30],
             r"cohort follows takes a user id that must be a positive integer .* not '9{30}'$"),
    BadInput("cohort id too long for its index",
             lambda t: ["cohort", "define", "saved:" + "z" * 10_000, "--members", "1"],
             r"COHORT_ID 'saved:z{34}\.\.\.' is 10,006 characters long; at most 200$"),
    BadInput("cohort id \\N", lambda t: ["cohort", "define", "\\N", "--members", "1"],
             r"COHORT_ID '\\\\N' holds a backslash or a control character"),
    BadInput("empty cohort id", lambda t: ["cohort", "add", "", "--members", "1"],
             r"COHORT_ID is empty; give an id such as saved:friends$"),
    BadInput("non-integer member id", lambda t: ["cohort", "define", "saved:x", "--members", "1,abc"],
             r"--members takes comma-separated user ids; each must be a positive integer .* not 'abc'$"),
    BadInput("non-integer user for ratings retract", lambda t: ["ratings", "retract", "--user", "abc", "--film", "1"],
             r"python -m python_jobs ratings: argument --user: user id must be a positive integer"),
]
# fmt: on


@pytest.fixture(scope="module")
def world(server, tmp_path_factory) -> str:
    """A database with a small MovieLens and one Letterboxd member in it."""
    name = make_database()
    tmp = tmp_path_factory.mktemp("world")
    try:
        for args in (
            ml25m(tmp),
            ["load", "letterboxd", str(folder(tmp / "letterboxd-dana", {"ratings.csv": LB_RATINGS})), "--cohort", "x"],
        ):
            done = cli(name, *args)
            assert done.returncode == 0, done.stderr
        yield name
    finally:
        warehouse.drop_database(name)


def error_lines(stderr: str) -> list[str]:
    """stderr without the progress lines ('[HH:MM:SS] ...')."""
    return [line for line in stderr.splitlines() if not re.match(r"^\[\d\d:\d\d:\d\d\] ", line)]


@pytest.mark.parametrize("case", CLASSES, ids=[c.name for c in CLASSES])
def test_bad_input_is_one_line_a_nonzero_exit_and_nothing_loaded(world, tmp_path, case):
    before = snapshot(world)
    done = cli(world, *case.args(tmp_path))
    assert "Traceback" not in done.stderr
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("error: ")
    assert re.search(case.line, lines[0]), lines[0][:1000]
    assert len(lines[0]) < 600
    assert done.returncode == case.code
    assert snapshot(world) == before
    EXERCISED.append(case.name)


def test_the_world_is_not_empty(world):
    """The unchanged-tables check above compares tables that hold rows."""
    counts = {t: len(rows) for t, rows in snapshot(world).items()}
    assert counts["raw.ratings"] == 4 and counts["raw.films"] == 3 and counts["raw.users"] == 3


def test_a_latin1_letterboxd_file_is_read_as_windows_1252_and_the_loader_says_so(world, tmp_path):
    """The decision for a Latin-1 export: decode it (the whole file has no UTF-8 beyond ASCII) and say so."""
    files = {"ratings.csv": (LB_RATINGS + "2020-01-02,Amélie,2001,https://boxd.it/am,4\n").encode("latin-1")}
    done = cli(world, *letterboxd(tmp_path, files))
    assert done.returncode == 0, done.stderr
    assert "letterboxd-erin/ratings.csv: not UTF-8; read as windows-1252" in done.stderr
    with warehouse.connect(world) as conn:
        assert conn.execute("select count(*) from raw.films where title = 'Amélie'").fetchone()[0] == 1
    EXERCISED.append("Letterboxd CSV in Latin-1 (read as Windows-1252)")


def test_a_10mb_line_among_good_ones_is_quarantined_cut_to_10000_characters(world, tmp_path):
    files = {"ratings.csv": LB_RATINGS + "2020-01-03," + "y" * TEN_MB + "\n2020-01-04,Stalker,1979,https://boxd.it/st,3\n"}
    done = cli(world, *letterboxd(tmp_path, files))
    assert done.returncode == 0, done.stderr
    with warehouse.connect(world) as conn:
        [(line_no, length, reason)] = conn.execute(
            "select line_no, length(raw_line), reason from ops.quarantine q join ops.load_batches b using (batch_id) "
            "where b.status = 'loaded' and q.file like '%%letterboxd-erin/ratings.csv'"
        ).fetchall()
        assert (line_no, length) == (3, 10_000) and reason.startswith("unparsable CSV: field larger than field limit")
        assert conn.execute("select count(*) from raw.films where title = 'Stalker'").fetchone()[0] == 1
    EXERCISED.append("10 MB line among good lines (quarantined, cut)")
