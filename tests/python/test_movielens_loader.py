"""The MovieLens loader on broken input: the quarantine holds exactly the bad rows, the good rows load,
a second load changes nothing, and a file with nothing usable fails with one line naming it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from python_jobs import warehouse
from python_jobs.loaders import movielens
from python_jobs.warehouse import WarehouseError

ITEMS = "\n".join(
    [
        "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0",
        "2|GoldenEye (1995)|01-Jan-1995||http://x|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0",
        "3|Usual Suspects, The (1995)|14-Aug-1995||http://x|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|1|0|0",
        "4|Broken Film|only three fields",
    ]
)
USERS = "\n".join(["1|24|M|technician|85711", "2|53|F|other|94043", "3|23|M|writer|T8H1N"])
GOOD = ["1\t1\t5\t881250949", "1\t2\t3\t881250950", "2\t1\t4\t881250951", "3\t3\t2\t881250952"]
BAD = [
    ("1\t3\t6\t881250953", "rating not on the source's scale (1-5 whole stars)"),
    ("2\t2\t3.5\t881250954", "rating not on the source's scale (1-5 whole stars)"),
    ("2\t99\t4\t881250955", "unknown film"),
    ("77\t1\t4\t881250956", "unknown user"),
    ("this is not a rating line", "expected 4 fields, found 1"),
    ("3\t1\t4\tyesterday", "timestamp is not a unix time between 1990 and 2100"),
    ("3\t2\tfive\t881250957", "rating is not a number"),
    ("2\t3\t4\t881250958", "conflicting rows for the same key (user_id, film_id) in one file"),
    ("2\t3\t1\t881250959", "conflicting rows for the same key (user_id, film_id) in one file"),
    ("1\t1\t5\t881250949", "duplicate line (first copy kept)"),
    ("3\t2\t4", "expected 4 fields, found 3"),  # truncated last line
]


def write_ml100k(folder: Path, data_lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.item").write_text(ITEMS + "\n", encoding="latin-1")
    (folder / "u.user").write_text(USERS + "\n", encoding="latin-1")
    (folder / "u.data").write_text("\n".join(data_lines), encoding="latin-1")  # no newline: truncated file
    return folder


def quarantine(conn, entity: str) -> list[tuple[int, str, str]]:
    return conn.execute(
        "select line_no, raw_line, reason from ops.quarantine where entity = %s order by line_no", (entity,)
    ).fetchall()


def test_bad_rows_go_to_quarantine_and_good_rows_load(conn, tmp_path):
    lines = GOOD + [line for line, _ in BAD]
    movielens.load_movielens(conn, write_ml100k(tmp_path / "ml-100k", lines))

    expected = sorted((len(GOOD) + i + 1, line, reason) for i, (line, reason) in enumerate(BAD))
    assert quarantine(conn, "ratings") == expected
    loaded = conn.execute("select user_id, film_id, rating::float from raw.ratings order by 1, 2").fetchall()
    assert loaded == [(1, 1, 5.0), (1, 2, 3.0), (2, 1, 4.0), (3, 3, 2.0)]
    assert quarantine(conn, "films") == [(4, "4|Broken Film|only three fields", "expected 24 fields, found 3")]
    batch = conn.execute(
        "select rows_read, rows_loaded, rows_rejected, status from ops.load_batches where entity = 'ratings'"
    ).fetchone()
    assert batch == (len(lines), len(GOOD), len(BAD), "loaded")


def test_titles_years_genres_and_demographic_cohorts(conn, tmp_path):
    movielens.load_movielens(conn, write_ml100k(tmp_path / "ml-100k", GOOD))
    films = conn.execute("select film_id, title, release_year, genres, slug from raw.films order by 1").fetchall()
    assert films[2] == (3, "The Usual Suspects", 1995, ["Crime", "Thriller"], "the-usual-suspects-1995")
    assert films[0][3] == ["Animation", "Children's", "Comedy"]
    members = conn.execute("select cohort_id, user_id from raw.cohort_members order by 1, 2").fetchall()
    assert ("everyone", 3) in members
    assert ("age:18-24", 1) in members and ("age:50-55", 2) in members
    assert ("region:mountain", 1) in members and ("region:pacific", 2) in members
    assert ("region:outside the us", 3) in members  # a Canadian postcode
    assert ("occupation:writer", 3) in members


def test_loading_the_same_files_twice_changes_nothing(conn, tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k", [*GOOD, BAD[0][0]])
    movielens.load_movielens(conn, folder)
    snapshot = "select count(*), sum(batch_id) from {}"
    before = {
        t: conn.execute(snapshot.format(t)).fetchone()
        for t in ("raw.ratings", "raw.films", "raw.cohort_members", "ops.quarantine", "ops.load_batches")
    }
    movielens.load_movielens(conn, folder)
    after = {t: conn.execute(snapshot.format(t)).fetchone() for t in before}
    assert after == before


def test_a_newer_file_updates_ratings_and_an_older_one_cannot_undo_it(conn, tmp_path):
    movielens.load_movielens(conn, write_ml100k(tmp_path / "a", GOOD))
    movielens.load_movielens(conn, write_ml100k(tmp_path / "b", ["1\t1\t2\t881260000"]))
    assert conn.execute("select rating::int from raw.ratings where user_id = 1 and film_id = 1").fetchone()[0] == 2
    movielens.load_movielens(conn, write_ml100k(tmp_path / "c", ["1\t1\t4\t881200000"]))
    assert conn.execute("select rating::int from raw.ratings where user_id = 1 and film_id = 1").fetchone()[0] == 2


def test_a_file_with_nothing_usable_fails_naming_it_and_keeps_its_rejects(conn, tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k", ["garbage", "1\t1\t9\t881250949"])
    with pytest.raises(WarehouseError, match=r"u\.data: no usable rows"):
        movielens.load_movielens(conn, folder)
    assert conn.execute("select count(*) from raw.ratings").fetchone()[0] == 0
    assert len(quarantine(conn, "ratings")) == 2
    assert conn.execute("select status from ops.load_batches where entity = 'ratings'").fetchone()[0] == "failed"


def test_reads_a_zip_and_the_ml1m_and_ml25m_layouts(conn, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-1m/movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Heat (1995)::Action\n")
        zf.writestr("ml-1m/users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
        zf.writestr("ml-1m/ratings.dat", "1::1::5::978300760\n2::2::3::978302109\n2::1::0::978302110\n")
    path = tmp_path / "ml-1m.zip"
    path.write_bytes(buf.getvalue())
    assert movielens.load_movielens(conn, path) == "ml-1m"
    assert conn.execute("select count(*) from raw.ratings").fetchone()[0] == 2
    assert conn.execute("select age, occupation from raw.users where user_id = 1").fetchone() == (10, "K-12 student")
    assert conn.execute("select reason from ops.quarantine").fetchone()[0].startswith("rating not on the source")

    other = warehouse.ensure_database(conn.info.dbname + "_25m")
    try:
        folder = tmp_path / "ml-25m"
        folder.mkdir()
        (folder / "movies.csv").write_text(
            'movieId,title,genres\n1,"City, The (2001)",Drama|Crime\n2,Up (2009),(no genres listed)\n'
        )
        (folder / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,\n")
        (folder / "ratings.csv").write_text(
            "userId,movieId,rating,timestamp\n1,1,4.5,1147880044\n2,2,0.5,1147868817\n2,1,4.25,1147868818\n"
        )
        (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,noir,1147880044\n")
        with warehouse.connect(other) as c25:
            warehouse.init_warehouse(c25)
            assert movielens.load_movielens(c25, folder) == "ml-25m"
            assert c25.execute("select title, imdb_id, tmdb_id from raw.films where film_id = 1").fetchone() == (
                "The City",
                "tt0114709",
                862,
            )
            assert c25.execute("select sum(rating)::float from raw.ratings").fetchone()[0] == 5.0
            assert (
                c25.execute("select count(*) from raw.cohort_members where cohort_id = 'everyone'").fetchone()[0] == 2
            )
            assert c25.execute("select tag from raw.tags").fetchone()[0] == "noir"
            assert "half stars" in c25.execute("select reason from ops.quarantine").fetchone()[0]
    finally:
        warehouse.drop_database(other)
