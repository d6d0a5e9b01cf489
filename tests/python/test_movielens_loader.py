"""The MovieLens loader on broken input: the quarantine holds exactly the bad rows, the good rows load,
a second load changes nothing, and a file with nothing usable fails with one line naming it."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from psycopg import sql

from python_jobs import warehouse
from python_jobs.loaders import common, movielens
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
        "select rows_read, rows_loaded, rows_rejected, rows_skipped, status from ops.load_batches "
        "where entity = 'ratings'"
    ).fetchone()
    assert batch == (len(lines), len(GOOD), len(BAD), 0, "loaded")
    assert_every_line_accounted(conn)


def assert_every_line_accounted(conn) -> None:
    """For every file batch: rows_read = rows_loaded + rows_rejected + rows_skipped, and the rejected ones are
    exactly the batch's quarantine rows."""
    rows = conn.execute(
        "select b.batch_id, b.entity, b.rows_read, b.rows_loaded, b.rows_rejected, b.rows_skipped, "
        "(select count(*) from ops.quarantine q where q.batch_id = b.batch_id) "
        "from ops.load_batches b where b.source like 'movielens:%%' order by 1"
    ).fetchall()
    assert rows
    for batch_id, entity, read, loaded, rejected, skipped, quarantined in rows:
        assert read == loaded + rejected + skipped, (batch_id, entity, read, loaded, rejected, skipped)
        assert rejected == quarantined, (batch_id, entity)


ML25M_MOVIES = 'movieId,title,genres\n1,"City, The (2001)",Drama|Crime\n2,Up (2009),(no genres listed)\n'
ML25M_RATINGS = "userId,movieId,rating,timestamp\n1,1,4.5,1147880044\n2,2,0.5,1147868817\n2,1,4.25,1147868818\n"


def write_ml25m(folder: Path, movies: str = ML25M_MOVIES, ratings: str = ML25M_RATINGS, **more: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "movies.csv").write_text(movies)
    (folder / "ratings.csv").write_text(ratings)
    for name, text in more.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


def reorder_csv(text: str, order: list[int]) -> str:
    """The same CSV with its columns in another order (quoted fields kept)."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in csv.reader(io.StringIO(text)):
        writer.writerow([row[i] for i in order] if len(row) == len(order) else row)
    return out.getvalue()


def test_a_reordered_ml25m_header_loads_the_same_rows_as_the_usual_order(conn, tmp_path):
    tags = "userId,movieId,tag,timestamp\n1,1,noir,1147880044\n1,9,unknown film,1147880045\n"
    links = "movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,\n"
    movielens.load_movielens(conn, write_ml25m(tmp_path / "usual", tags=tags, links=links))
    shuffled = write_ml25m(
        tmp_path / "shuffled",
        movies=reorder_csv(ML25M_MOVIES, [2, 0, 1]),
        ratings=reorder_csv(ML25M_RATINGS, [3, 2, 1, 0]),
        tags=reorder_csv(tags, [2, 3, 0, 1]),
        links=reorder_csv(links, [1, 2, 0]),
    )
    assert (shuffled / "ratings.csv").read_text().splitlines()[0] == "timestamp,rating,movieId,userId"
    state = (
        "select 'films', film_id::text, title || release_year || array_to_string(genres, '|') "
        "|| coalesce(imdb_id, '') || coalesce(tmdb_id::text, '') from raw.films "
        "union all select 'ratings', user_id || ',' || film_id, rating || ',' || rated_at from raw.ratings "
        "union all select 'tags', user_id || ',' || film_id, tag || tagged_at from raw.tags "
        "union all select 'quarantine', entity || line_no, reason from ops.quarantine order by 1, 2, 3"
    )
    usual = conn.execute(state).fetchall()
    other = warehouse.ensure_database(conn.info.dbname + "_shuf")
    try:
        with warehouse.connect(other) as c2:
            warehouse.init_warehouse(c2)
            movielens.load_movielens(c2, shuffled)
            assert c2.execute(state).fetchall() == usual
            assert_every_line_accounted(c2)
    finally:
        warehouse.drop_database(other)
    assert [r[0] for r in usual].count("ratings") == 2 and [r[0] for r in usual].count("quarantine") == 2


def test_every_line_read_is_loaded_rejected_or_skipped(conn, tmp_path):
    movielens.load_movielens(conn, write_ml25m(tmp_path / "a"))
    later = (
        "userId,movieId,rating,timestamp\n"
        "1,1,4.5,1147880044\n"  # what raw holds already: skipped
        "2,2,1.5,1000000000\n"  # older than what raw holds: skipped
        "1,2,3.0,1147868000\n"  # new: loaded
        "2,1,3.0,1147868818\n"  # invalid in the first file (4.25): new now, loaded
        "9,9,3.0,1147868818\n"  # unknown film: rejected
        "3,1,4.0,1147868818\n"  # the same key twice with other values: both rejected
        "3,1,2.0,1147868819\n"
    )
    movielens.load_movielens(conn, write_ml25m(tmp_path / "b", ratings=later))
    batches = conn.execute(
        "select rows_read, rows_loaded, rows_rejected, rows_skipped from ops.load_batches "
        "where entity = 'ratings' order by batch_id"
    ).fetchall()
    assert batches == [(3, 2, 1, 0), (7, 2, 3, 2)]
    assert conn.execute(
        "select line_no, reason from ops.quarantine q join ops.load_batches b using (batch_id) "
        "where b.entity = 'ratings' and b.batch_id = (select max(batch_id) from ops.load_batches "
        "where entity = 'ratings') order by line_no"
    ).fetchall() == [
        (6, "unknown film"),
        (7, "conflicting rows for the same key (user_id, film_id) in one file"),
        (8, "conflicting rows for the same key (user_id, film_id) in one file"),
    ]
    assert conn.execute("select rating::float from raw.ratings where (user_id, film_id) = (2, 2)").fetchone() == (0.5,)
    assert_every_line_accounted(conn)


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


RATINGS_SCHEMA = (
    "select indexname, indexdef from pg_indexes where schemaname = 'raw' and tablename = 'ratings' "
    "union all select conname, pg_get_constraintdef(oid) from pg_constraint where conrelid = 'raw.ratings'::regclass "
    "order by 1"
)


def test_a_first_bulk_load_quarantines_the_same_rows_and_keeps_the_indexes(conn, tmp_path, monkeypatch):
    schema = conn.execute(RATINGS_SCHEMA).fetchall()
    monkeypatch.setattr(common, "BULK_ROWS", 1)  # every load into an empty table takes the bulk path
    lines = GOOD + [line for line, _ in BAD]
    folder = write_ml100k(tmp_path / "ml-100k", lines)
    movielens.load_movielens(conn, folder)

    expected = sorted((len(GOOD) + i + 1, line, reason) for i, (line, reason) in enumerate(BAD))
    assert quarantine(conn, "ratings") == expected
    loaded = conn.execute("select user_id, film_id, rating::float from raw.ratings order by 1, 2").fetchall()
    assert loaded == [(1, 1, 5.0), (1, 2, 3.0), (2, 1, 4.0), (3, 3, 2.0)]
    assert conn.execute(RATINGS_SCHEMA).fetchall() == schema
    before = conn.execute("select count(*), sum(batch_id) from raw.ratings").fetchone()
    movielens.load_movielens(conn, write_ml100k(tmp_path / "again", [*GOOD, "9\t9\t9\t9"]))  # not empty now
    assert conn.execute("select count(*), sum(batch_id) from raw.ratings").fetchone() == before


def test_a_bulk_insert_with_a_repeated_key_fails_and_leaves_the_table_as_it_was(conn):
    schema = conn.execute(RATINGS_SCHEMA).fetchall()
    conn.execute("create temporary table _twice (user_id bigint, film_id bigint)")
    conn.execute("insert into _twice values (1, 1), (1, 1)")
    insert = sql.SQL(
        "insert into raw.ratings (user_id, film_id, updated_at, batch_id) select user_id, film_id, now(), 1 from _twice"
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        with conn.transaction():
            common.bulk_insert(conn, "raw.ratings", insert, ())
    assert conn.execute(RATINGS_SCHEMA).fetchall() == schema
    assert conn.execute("select count(*) from raw.ratings").fetchone()[0] == 0


def test_text_that_looks_like_null_or_holds_escapes_round_trips(conn):
    values = ["\\N", "a\tb", "line\nbreak", "cr\rlf", "back\\slash", "", "ünï 日本 🎬", None]
    conn.execute("create temporary table _texts (k int, v text, n double precision, b boolean)")
    frame = pd.DataFrame(
        {
            "k": range(len(values)),
            "v": values,
            "n": [0.1, -0.0, 1e-05, 1e16, float("nan"), float("inf"), 123456.789, 2.5],
            "b": pd.array([True, False, None, True, False, None, True, False], dtype="boolean"),
        }
    )
    warehouse.copy_frame(conn, "_texts", frame)
    got = conn.execute("select v, n, b from _texts order by k").fetchall()
    assert [g[0] for g in got] == values
    assert [g[1] for g in got][:4] == [0.1, -0.0, 1e-05, 1e16] and got[4][1] is None and got[5][1] == float("inf")
    assert [g[2] for g in got] == [True, False, None, True, False, None, True, False]


# ratings lines the vectorised parser takes and lines it must leave to the line-by-line one
TRICKY = [
    *(
        "1|1|5|881250949 007|2|4.0|881250949 0|1|5|881250949 1|0|5|881250949 1|1|4.5|881250949 1|1|.5|881250949 "
        "1|1|5.|881250949 1|1|5.00|881250949 1|1|1e0|881250949 +1|1|5|881250949 _1|1|5|881250949 1|1|5|631151999 "
        "1|1|5|4102444801 1|1|5|1e9 1|1|4.2500001|881250949 1|1|5|881250949| 1|1|5 1||5|881250949 1|1|five|881250949 "
        "1.5|1|5|881250949 123456789012345|1|5|881250949 1234567890123456|1|5|881250949 1|1|5|881250949_ 1|1|5|8812509é"
    ).split(" "),
    "",
    "   ",
]


@pytest.mark.parametrize(("sep", "half"), [("\t", False), (",", True), ("::", False)])
def test_the_vectorised_parser_gives_every_line_the_verdict_of_the_line_by_line_one(sep, half):
    lines = [line.replace("|", sep).replace("_", " ") for line in TRICKY] * 3
    data = "\r\n".join(lines).encode("latin-1")
    chunk = pd.DataFrame({"line_no": range(1, len(lines) + 1), "raw_line": lines})
    chunk = chunk[chunk["raw_line"].str.strip() != ""]
    want_good, want_bad = movielens.parse_ratings_chunk(chunk, sep, half)
    got_good, got_bad, read = [], [], 0
    for block in movielens.line_blocks(data, skip_header=False, block_lines=7):
        plain, other, bad, n = movielens.parse_ratings_lines(block, sep, half)
        read += n
        got_bad += list(bad.itertuples(index=False, name=None))
        got_good += list(other[["line_no", "user_id", "film_id", "rating", "ts"]].itertuples(index=False, name=None))
        if plain:
            got_good += list(
                zip(*(plain[c].tolist() for c in ("line_no", "user_id", "film_id", "rating", "ts")), strict=True)
            )
    assert read == len(chunk)
    assert sorted(got_good) == sorted(
        want_good[["line_no", "user_id", "film_id", "rating", "ts"]].itertuples(index=False, name=None)
    )
    assert sorted(got_bad) == sorted(want_bad[["line_no", "raw_line", "reason"]].itertuples(index=False, name=None))
    assert len(got_good) > 0 and len(got_bad) > 0
