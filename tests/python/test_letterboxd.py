"""Letterboxd exports: loading real-format exports into raw, and writing raw back out as exports."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import make_database

from python_jobs import warehouse
from python_jobs.__main__ import main as cli_main
from python_jobs.loaders import letterboxd
from python_jobs.loaders.letterboxd_export import write_exports
from python_jobs.warehouse import WarehouseError

BOM = "\ufeff"

PROFILE = (
    BOM + "Date Joined,Username,Given Name,Family Name,Email Address,Location,Website,Bio,Pronoun,Favorite Films\n"
    '2019-01-02,alice,Alice,Liddell,alice@example.com,Oxford,,"Reads, watches\nfilms",she/her,'
    '"https://boxd.it/2bg8, https://boxd.it/aB1, https://boxd.it/nm1, http://example.com/x"\n'
)
WATCHED = (
    BOM + "Date,Name,Year,Letterboxd URI\n"
    "2020-01-05,Parasite,2019,https://boxd.it/2bg8\n"
    '2020-02-01,"The Good, the Bad and the Ugly",1966,https://boxd.it/aB1\n'
    "2020-03-01,千と千尋の神隠し,2001,https://boxd.it/29Ni\n"
    '2020-03-02,"Say ""Hello"" 🎬",2021,https://boxd.it/x9\n'
    "2020-03-03,وجدة,2012,https://boxd.it/wd1\n"
    "2020-03-04,Hamlet,1990,https://boxd.it/h1\n"
    "2020-03-05,Hamlet,1990,https://boxd.it/h2/\n"
)
RATINGS = (
    "Date,Name,Year,Letterboxd URI,Rating\n"
    "2020-01-06,Parasite,2019,https://boxd.it/2bg8,4.5\n"
    '2020-02-01,"The Good, the Bad and the Ugly",1966,https://boxd.it/aB1,5\n'
    "2020-03-01,千と千尋の神隠し,2001,https://boxd.it/29Ni,\n"
    '2020-03-02,"Say ""Hello"" 🎬",2021,https://boxd.it/x9,3.3\n'
    "2020-13-45,وجدة,2012,https://boxd.it/wd1,3\n"
    "2020-03-04,Hamlet,1990,https://boxd.it/h1,3,extra\n"
)
LIKES = "Date,Name,Year,Letterboxd URI\n2020-01-07,Parasite,2019,https://boxd.it/2bg8\n"
DIARY = (
    "Date,Name,Year,Letterboxd URI,Rating,Rewatch,Tags,Watched Date\n"
    '2020-01-06,Parasite,2019,https://boxd.it/d1,4.5,,"korea, thriller",2020-01-05\n'
    '2020-01-06,Parasite,2019,https://boxd.it/d1,4.5,,"korea, thriller",2020-01-05\n'
    "2021-05-01,Parasite,2019,https://boxd.it/d2,5,Yes,,2021-05-01\n"
    "2021-05-01,Parasite,2019,https://boxd.it/d3,,Yes,,2021-05-01\n"
    '2020-02-01,"The Good, the Bad and the Ugly",1966,https://boxd.it/d4,5,,,2020-02-01\n'
    "2020-04-01,Unknown Film,1999,https://boxd.it/d5,3,,,2020-04-01\n"
    "2020-04-02,Parasite,2019,https://boxd.it/d6,3,Maybe,,2020-04-02\n"
    "2020-04-03,Parasite,2019,https://boxd.it/d7,3,,,not-a-date\n"
    "2020-04-04,Hamlet,1990,https://boxd.it/d8,3,,,2020-04-04\n"
)
REVIEWS = (
    "Date,Name,Year,Letterboxd URI,Rating,Rewatch,Review,Tags,Watched Date\n"
    '2020-01-06,Parasite,2019,https://boxd.it/d1,4.5,,"<p>Stairs.</p>\n<p>So many, ""stairs"".</p>",,2020-01-05\n'
)
WATCHLIST = "Date,Name,Year,Letterboxd URI\n2020-05-01,Nomadland,2020,https://boxd.it/nm1\n"
LIST = (
    "Letterboxd list export v7\n"
    "Date,Name,Tags,URL,Description\n"
    '2021-01-01,"Best of, 2020",,https://letterboxd.com/alice/list/best-of-2020/,"Line one\nline two"\n'
    "\n"
    "Position,Name,Year,URL,Description\n"
    "1,Parasite,2019,https://boxd.it/2bg8,\n"
    '2,Nomadland,2020,https://boxd.it/nm1,"great, really"\n'
    "x,Bad Position,2000,https://boxd.it/zz,\n"
)
ALICE = {
    "profile.csv": PROFILE,
    "watched.csv": WATCHED,
    "ratings.csv": RATINGS,
    "likes/films.csv": LIKES,
    "diary.csv": DIARY,
    "reviews.csv": REVIEWS,
    "watchlist.csv": WATCHLIST,
    "lists/best-of-2020.csv": LIST,
    "deleted/ratings.csv": "Date,Name,Year,Letterboxd URI,Rating\n2019-01-01,Gone,2000,https://boxd.it/gone,2\n",
    "orphaned/watched.csv": "Date,Name,Year,Letterboxd URI\n2019-01-01,Orphan,2000,https://boxd.it/orph\n",
}


def bob_files(username: str = "bob") -> dict[str, str]:
    return {
        "profile.csv": (
            "Date Joined,Username,Given Name,Family Name,Email Address,Location,Website,Bio,Pronoun,Favorite Films\n"
            f"2018-01-01,{username},,,,,,,,\n"
        ),
        "watched.csv": "Date,Name,Year,Letterboxd URI\n2021-01-01,Parasite,2019,https://boxd.it/2bg8\n",
        "ratings.csv": "Date,Name,Year,Letterboxd URI,Rating\n2021-01-02,Parasite,2019,https://boxd.it/2bg8,2.0\n",
        "likes/films.csv": "Date,Name,Year,Letterboxd URI\n",
    }


def write_folder(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def write_zip(path: Path, files: dict[str, str | bytes], prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in files.items():
            zf.writestr(prefix + name, content)
    return path


def load(db: str, *paths: Path, cohort: str = "friends", **kwargs) -> list[letterboxd.ExportLoad]:
    with warehouse.connect(db) as conn:
        return letterboxd.load_exports(conn, list(paths), cohort=cohort, **kwargs)


def query(db: str, text: str, params: tuple = ()) -> list[tuple]:
    with warehouse.connect(db) as conn:
        return conn.execute(text, params).fetchall()


def utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


def snapshot(db: str) -> dict[str, list[tuple]]:
    tables = ["raw.users", "raw.films", "raw.ratings", "raw.diary_entries", "raw.lists", "raw.list_items",
              "raw.cohorts", "raw.cohort_members", "ops.load_batches", "ops.quarantine"]  # fmt: skip
    return {t: sorted(query(db, f"select * from {t}"), key=repr) for t in tables}


RATINGS_BY_SLUG = """
select f.slug, f.title, f.release_year, r.rating, r.liked, r.favorite, r.rated_at, r.updated_at, r.deleted
from raw.ratings r join raw.films f using (film_id) join raw.users u using (user_id)
where u.username = %s order by f.slug collate "C"
"""


@pytest.fixture
def alice(tmp_path: Path) -> Path:
    return write_folder(tmp_path / "alice-export", ALICE)


def test_export_loads_users_films_ratings_with_likes_favorites_and_unrated_logs(db, alice):
    [result] = load(db, alice)
    assert query(db, "select user_id, username, display_name, source from raw.users") == [
        (1, "alice", "Alice Liddell", "letterboxd")
    ]
    assert result.user_id == 1 and result.batch_id is not None
    films = query(db, "select film_id, slug, title, release_year, source from raw.films order by film_id")
    assert films == [
        (1, "29Ni", "千と千尋の神隠し", 2001, "letterboxd"),
        (2, "2bg8", "Parasite", 2019, "letterboxd"),
        (3, "aB1", "The Good, the Bad and the Ugly", 1966, "letterboxd"),
        (4, "h1", "Hamlet", 1990, "letterboxd"),
        (5, "h2", "Hamlet", 1990, "letterboxd"),
        (6, "nm1", "Nomadland", 2020, "letterboxd"),
        (7, "wd1", "وجدة", 2012, "letterboxd"),
        (8, "x9", 'Say "Hello" 🎬', 2021, "letterboxd"),
    ]  # deleted/ and orphaned/ films are not loaded; zz was on a rejected list line
    assert query(db, RATINGS_BY_SLUG, ("alice",)) == [
        ("29Ni", "千と千尋の神隠し", 2001, None, False, False, utc("2020-03-01"), utc("2020-03-01"), False),
        ("2bg8", "Parasite", 2019, Decimal("4.5"), True, True, utc("2020-01-06"), utc("2021-05-01"), False),
        ("aB1", "The Good, the Bad and the Ugly", 1966, Decimal("5.0"), False, True, utc("2020-02-01"),
         utc("2020-02-01"), False),
        ("h1", "Hamlet", 1990, None, False, False, utc("2020-03-04"), utc("2020-03-04"), False),
        ("h2", "Hamlet", 1990, None, False, False, utc("2020-03-05"), utc("2020-03-05"), False),
        ("wd1", "وجدة", 2012, None, False, False, utc("2020-03-03"), utc("2020-03-03"), False),
        ("x9", 'Say "Hello" 🎬', 2021, None, False, False, utc("2020-03-02"), utc("2020-03-02"), False),
    ]  # fmt: skip


def test_diary_joins_films_by_name_and_year_and_numbers_same_day_entries(db, alice):
    load(db, alice)
    rows = query(
        db,
        "select f.slug, d.watched_on, d.entry_no, d.rating, d.rewatch, d.logged_at, d.deleted "
        "from raw.diary_entries d join raw.films f using (film_id) order by 1, 2, 3",
    )
    assert rows == [
        ("2bg8", date(2020, 1, 5), 1, Decimal("4.5"), False, utc("2020-01-06"), False),
        ("2bg8", date(2021, 5, 1), 1, Decimal("5.0"), True, utc("2021-05-01"), False),
        ("2bg8", date(2021, 5, 1), 2, None, True, utc("2021-05-01"), False),
        ("aB1", date(2020, 2, 1), 1, Decimal("5.0"), False, utc("2020-02-01"), False),
    ]


def test_malformed_lines_are_quarantined_with_reason_and_line(db, alice):
    load(db, alice)
    base = str(alice)
    rows = query(
        db,
        "select file, line_no, reason, raw_line from ops.quarantine "
        'order by file collate "C", line_no, reason collate "C"',
    )
    expected = [
        (f"{base}/diary.csv", 3, "duplicate line (first copy kept)",
         '2020-01-06,Parasite,2019,https://boxd.it/d1,4.5,,"korea, thriller",2020-01-05'),
        (f"{base}/diary.csv", 7, "no film with this Name and Year in watched.csv, ratings.csv or likes/films.csv",
         "2020-04-01,Unknown Film,1999,https://boxd.it/d5,3,,,2020-04-01"),
        (f"{base}/diary.csv", 8, "Rewatch 'Maybe' is neither 'Yes' nor empty",
         "2020-04-02,Parasite,2019,https://boxd.it/d6,3,Maybe,,2020-04-02"),
        (f"{base}/diary.csv", 9, "unparsable Watched Date 'not-a-date' (expected YYYY-MM-DD)",
         "2020-04-03,Parasite,2019,https://boxd.it/d7,3,,,not-a-date"),
        (f"{base}/diary.csv", 10, "ambiguous Name and Year: several films of this export match",
         "2020-04-04,Hamlet,1990,https://boxd.it/d8,3,,,2020-04-04"),
        (f"{base}/lists/best-of-2020.csv", 9, "unparsable Position 'x'", "x,Bad Position,2000,https://boxd.it/zz,"),
        (f"{base}/profile.csv", 2, "Favorite Films link 'http://example.com/x' is not a https://boxd.it/<code> link",
         "http://example.com/x"),
        (f"{base}/profile.csv", 2, "favorite film is in none of watched.csv, ratings.csv, likes/films.csv",
         "https://boxd.it/nm1"),
        (f"{base}/ratings.csv", 5, "rating '3.3' is not on the half-star scale 0.5..5",
         '2020-03-02,"Say ""Hello"" 🎬",2021,https://boxd.it/x9,3.3'),
        (f"{base}/ratings.csv", 6, "unparsable Date '2020-13-45' (expected YYYY-MM-DD)",
         "2020-13-45,وجدة,2012,https://boxd.it/wd1,3"),
        (f"{base}/ratings.csv", 7, "expected 5 columns, got 6", "2020-03-04,Hamlet,1990,https://boxd.it/h1,3,extra"),
    ]  # fmt: skip
    assert rows == expected
    [batch] = query(db, "select batch_id, entity, file, rows_read, rows_loaded, rows_rejected, rows_skipped, status "
                        "from ops.load_batches where entity = 'letterboxd_export'")  # fmt: skip
    # read: profile line + its 4 favorite films, watched 7, ratings 6, likes 1, diary 9, watchlist 1, list 1 + 3
    # kept: profile + 2 favorites, 7, 6 - 3, 1, 9 - 5, 1, list 1 + 2 (by hand, file by file)
    read, kept = 1 + 4 + 7 + 6 + 1 + 9 + 1 + (1 + 3), 3 + 7 + 3 + 1 + 4 + 1 + 3
    assert batch[1:] == ("letterboxd_export", base, read, kept, len(expected), 0, "loaded")
    assert read == kept + len(expected)
    assert {r[0] for r in query(db, "select distinct batch_id from ops.quarantine")} == {batch[0]}


def test_lists_and_watchlist_become_raw_lists_owned_by_the_member(db, alice):
    load(db, alice)
    assert query(db, "select list_id, name, kind, owner_user_id, description from raw.lists order by list_id") == [
        ("lb:alice:best-of-2020", "Best of, 2020", "letterboxd_list", 1, "Line one\nline two"),
        ("lb:alice:watchlist", "Watchlist", "watchlist", 1, None),
    ]
    items = query(db, "select i.list_id, f.slug, i.position from raw.list_items i join raw.films f using (film_id) "
                      "order by 1, 3")  # fmt: skip
    assert items == [("lb:alice:best-of-2020", "2bg8", 1), ("lb:alice:best-of-2020", "nm1", 2),
                     ("lb:alice:watchlist", "nm1", 1)]  # fmt: skip


def test_members_form_the_cohort_and_a_member_left_out_is_tombstoned(db, alice, tmp_path):
    bob = write_folder(tmp_path / "bob", bob_files())
    load(db, alice, bob, cohort="friends")
    # everyone loaded is the baseline cohort (kind 'all'): exports carry no site-wide averages
    assert query(db, "select cohort_id, name, kind from raw.cohorts order by 1") == [
        ("everyone", "Everyone", "all"), ("saved:friends", "friends", "saved")]  # fmt: skip
    members = (
        "select u.username, m.deleted from raw.cohort_members m join raw.users u using (user_id) "
        "where cohort_id = %s order by 1"
    )
    assert query(db, members, ("saved:friends",)) == [("alice", False), ("bob", False)]
    assert query(db, members, ("everyone",)) == [("alice", False), ("bob", False)]
    assert query(db, RATINGS_BY_SLUG, ("bob",))[0][3:6] == (Decimal("2.0"), False, False)
    batches = "select count(*) from ops.load_batches where file = 'everyone'"
    assert query(db, batches) == [(1,)]
    load(db, alice, cohort="friends")
    assert query(db, members, ("saved:friends",)) == [("alice", False), ("bob", True)]
    # bob left the friends, not the site: still in everyone, and no batch was opened for it
    assert query(db, members, ("everyone",)) == [("alice", False), ("bob", False)]
    assert query(db, batches) == [(1,)]
    load(db, bob, cohort="region:oxford", cohort_kind="region")
    assert query(db, "select cohort_id, name, kind from raw.cohorts order by 1") == [
        ("everyone", "Everyone", "all"), ("region:oxford", "oxford", "region"),
        ("saved:friends", "friends", "saved")]  # fmt: skip
    load(db, alice, bob, cohort="friends")
    assert query(db, members, ("saved:friends",)) == [("alice", False), ("bob", False)]
    carol = write_folder(tmp_path / "carol", bob_files("carol"))
    load(db, carol, cohort="others")
    assert query(db, members, ("everyone",)) == [("alice", False), ("bob", False), ("carol", False)]
    assert query(db, batches) == [(2,)]


def test_second_load_of_the_same_export_changes_nothing_as_folder_or_zip(db, alice, tmp_path):
    load(db, alice)
    before = snapshot(db)
    [again] = load(db, alice)
    assert again.batch_id is None and again.user_id == 1
    zipped = write_zip(tmp_path / "alice.zip", ALICE)
    [from_zip] = load(db, zipped)
    assert from_zip.batch_id is None
    assert snapshot(db) == before


def test_reexport_without_a_rating_tombstones_it_and_a_later_export_restores_it(db, alice, tmp_path):
    load(db, alice)
    first_batch = query(db, "select r.batch_id from raw.ratings r join raw.films f using (film_id) where slug = 'aB1'")
    v2 = dict(ALICE)
    v2["watched.csv"] = WATCHED.replace("2020-03-03,وجدة,2012,https://boxd.it/wd1\n", "")
    v2["ratings.csv"] = RATINGS.replace("2020-13-45,وجدة,2012,https://boxd.it/wd1,3\n", "")
    v2["diary.csv"] = DIARY.replace(
        '2020-02-01,"The Good, the Bad and the Ugly",1966,https://boxd.it/d4,5,,,2020-02-01\n', ""
    )
    [second] = load(db, write_zip(tmp_path / "letterboxd-alice-2024-02-01-10-00-utc.zip", v2))
    state = "select f.slug, r.deleted, r.batch_id from raw.ratings r join raw.films f using (film_id) where slug = %s"
    assert query(db, state, ("wd1",)) == [("wd1", True, second.batch_id)]
    assert query(db, state, ("aB1",)) == [("aB1", False, first_batch[0][0])]  # untouched rows keep their batch
    assert query(db, "select f.slug, d.deleted from raw.diary_entries d join raw.films f using (film_id) "
                     "where d.deleted") == [("aB1", True)]  # fmt: skip
    assert query(db, "select count(*) from raw.ratings")[0][0] == 7  # a tombstone, not a disappearance
    v3 = dict(ALICE, **{"watched.csv": WATCHED.replace("2020-03-03,وجدة", "2024-03-01,وجدة")})
    [third] = load(db, write_zip(tmp_path / "letterboxd-alice-2024-03-01-10-00-utc.zip", v3))
    assert query(db, state, ("wd1",)) == [("wd1", False, third.batch_id)]


def test_missing_files_load_what_exists_and_username_comes_from_the_zip_name(db, tmp_path):
    files = {"ratings.csv": "Date,Name,Year,Letterboxd URI,Rating\n2022-02-02,Heat,1995,https://boxd.it/ht,4\n"}
    path = write_zip(tmp_path / "letterboxd-carol-2024-01-15-10-30-utc.zip", files, prefix="export/")
    load(db, path)
    assert query(db, "select username, display_name from raw.users") == [("carol", None)]
    assert query(db, RATINGS_BY_SLUG, ("carol",)) == [
        ("ht", "Heat", 1995, Decimal("4.0"), None, None, utc("2022-02-02"), utc("2022-02-02"), False)
    ]  # no likes file, no profile: liked and favorite are unknown, not false
    assert query(db, "select count(*) from raw.diary_entries")[0][0] == 0


def test_a_missing_file_in_a_reexport_keeps_what_that_file_said(db, alice, tmp_path):
    load(db, alice)
    partial = {k: v for k, v in ALICE.items() if k not in ("likes/films.csv", "profile.csv", "watched.csv")}
    partial["diary.csv"] = DIARY  # same diary, so updated_at stays
    load(db, write_folder(tmp_path / "letterboxd-alice", partial))
    row = query(db, RATINGS_BY_SLUG, ("alice",))[1]
    assert row[:6] == ("2bg8", "Parasite", 2019, Decimal("4.5"), True, True)
    assert all(not r[-1] for r in query(db, RATINGS_BY_SLUG, ("alice",)))  # no watched.csv: no tombstones


def test_a_header_without_a_required_column_refuses_the_export_naming_file_expected_and_found(db, alice, tmp_path):
    load(db, alice)
    before = snapshot(db)
    v2 = dict(ALICE)
    v2["watched.csv"] = WATCHED.replace("Date,Name,", "Date,Title,", 1)
    with pytest.raises(WarehouseError) as caught:
        load(db, write_folder(tmp_path / "letterboxd-alice", v2))
    assert str(caught.value) == (
        f"{tmp_path / 'letterboxd-alice'}/watched.csv: line 1 names columns 'Date,Title,Year,Letterboxd URI', "
        "expected Date,Name,Year,Letterboxd URI (in any order); missing Name"
    )
    assert snapshot(db) == before


def test_a_reordered_header_loads_the_same_rows(db, alice, tmp_path):
    load(db, alice)
    before = query(db, RATINGS_BY_SLUG, ("alice",))
    db2 = make_database()
    try:
        swapped = dict(ALICE)
        lines = list(csv.reader(io.StringIO(RATINGS)))
        order = [4, 3, 0, 2, 1]  # Rating, Letterboxd URI, Date, Year, Name
        out = io.StringIO()
        rows = [[row[i] for i in order] if len(row) == 5 else row for row in lines]
        csv.writer(out, lineterminator="\n").writerows(rows)
        swapped["ratings.csv"] = out.getvalue()
        load(db2, write_folder(tmp_path / "alice-export", swapped))
        assert query(db2, RATINGS_BY_SLUG, ("alice",)) == before
    finally:
        warehouse.drop_database(db2)


def test_bad_bytes_and_crlf_quarantine_lines_and_tombstone_nothing(db, alice, tmp_path):
    load(db, alice)
    v2 = dict(ALICE)
    v2["ratings.csv"] = (
        RATINGS.replace("2019,https://boxd.it/2bg8,4.5", "2019,https://boxd.it/2bg8,4.0").replace("\n", "\r\n").encode()
        + b"2020-05-05,Bad \xff Bytes,2000,https://boxd.it/bb,3\r\n"
    )
    [second] = load(db, write_folder(tmp_path / "letterboxd-alice", v2))
    rows = query(
        db,
        "select substr(file, length(%s) + 2), line_no, reason, raw_line from ops.quarantine "
        "where batch_id = %s and file similar to '%%/(watched|ratings).csv' order by file, line_no",
        (str(tmp_path / "letterboxd-alice"), second.batch_id),
    )
    assert rows == [
        ("ratings.csv", 5, "rating '3.3' is not on the half-star scale 0.5..5",
         '2020-03-02,"Say ""Hello"" 🎬",2021,https://boxd.it/x9,3.3'),
        ("ratings.csv", 6, "unparsable Date '2020-13-45' (expected YYYY-MM-DD)",
         "2020-13-45,وجدة,2012,https://boxd.it/wd1,3"),
        ("ratings.csv", 7, "expected 5 columns, got 6", "2020-03-04,Hamlet,1990,https://boxd.it/h1,3,extra"),
        ("ratings.csv", 8, "not valid UTF-8 (undecodable bytes shown as U+FFFD)",
         "2020-05-05,Bad \ufffd Bytes,2000,https://boxd.it/bb,3"),
    ]  # fmt: skip
    ratings = query(db, RATINGS_BY_SLUG, ("alice",))
    assert [r[0] for r in ratings] == ["29Ni", "2bg8", "aB1", "h1", "h2", "wd1", "x9"]
    assert not any(r[-1] for r in ratings)
    assert ratings[1][3] == Decimal("4.0")


def test_dates_before_1990_or_in_the_future_and_impossible_years_are_quarantined(db, tmp_path):
    ratings = (
        "Date,Name,Year,Letterboxd URI,Rating\n"
        "2020-01-01,Good,2019,https://boxd.it/g1,4\n"
        "0001-01-01,Ancient,2019,https://boxd.it/g2,4\n"
        "1989-12-31,Early,2019,https://boxd.it/g3,4\n"
        "2999-01-01,Future,2019,https://boxd.it/g4,4\n"
        "2020-01-01,Year one,0001,https://boxd.it/g5,4\n"
        "1990-01-01,First day,1869,https://boxd.it/g6,4\n"
        "1990-01-01,Edge,1870,https://boxd.it/g7,4\n"
    )
    load(db, write_folder(tmp_path / "erin", {"ratings.csv": ratings}))
    assert query(db, "select line_no, reason from ops.quarantine order by line_no") == [
        (3, "Date '0001-01-01' is not between 1990-01-01 and today"),
        (4, "Date '1989-12-31' is not between 1990-01-01 and today"),
        (5, "Date '2999-01-01' is not between 1990-01-01 and today"),
        (6, f"Year '0001' is not between 1870 and {date.today().year + 10}"),
        (7, f"Year '1869' is not between 1870 and {date.today().year + 10}"),
    ]
    assert query(db, "select title from raw.films order by title") == [("Edge",), ("Good",)]
    assert query(db, "select rows_read, rows_loaded, rows_rejected, rows_skipped from ops.load_batches "
                     "where entity = 'letterboxd_export'") == [(7, 2, 5, 0)]  # fmt: skip


def test_a_latin1_export_file_is_read_as_windows_1252_and_says_so(db, tmp_path, capfd):
    ratings = "Date,Name,Year,Letterboxd URI,Rating\n2020-01-01,Amélie,2001,https://boxd.it/am,4.5\n"
    load(db, write_folder(tmp_path / "fay", {"ratings.csv": ratings.encode("latin-1")}))
    assert query(db, "select title from raw.films") == [("Amélie",)]
    assert "ratings.csv: not UTF-8; read as windows-1252" in capfd.readouterr().err


def test_an_export_with_only_bad_lines_fails_and_keeps_its_quarantine(db, tmp_path):
    bad = write_folder(tmp_path / "dave", {"ratings.csv": "Date,Name,Year,Letterboxd URI,Rating\nnope,X,1,u,9\n"})
    with pytest.raises(WarehouseError, match="cohort friends left unchanged"):
        load(db, bad)
    assert query(db, "select status from ops.load_batches") == [("failed",)]
    assert query(db, "select reason from ops.quarantine") == [
        ("Letterboxd URI 'u' is not a https://boxd.it/<code> link",)
    ]
    assert query(db, "select count(*) from raw.users")[0][0] == 0


def test_not_an_export_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(WarehouseError, match="not a Letterboxd export"):
        letterboxd.read_export(tmp_path / "empty")


def test_cli_loads_exports_into_the_configured_database(db, alice, monkeypatch):
    monkeypatch.setenv("PGDATABASE", db)
    assert cli_main(["load", "letterboxd", str(alice), "--cohort", "book club"]) == 0
    assert query(db, "select cohort_id, kind from raw.cohorts order by 1") == [("everyone", "all"),
                                                                             ("saved:book club", "saved")]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# writing exports, and the round trip through them

SOURCE_DATA = """
insert into raw.users (user_id, username, display_name, source) values
    (10, 'uma', 'Uma Thurman', 'synthetic'), (20, 'vic', null, 'synthetic');
insert into raw.films (film_id, slug, title, release_year, source) values
    (100, 'heat-1995', 'Heat', 1995, 'synthetic'),
    (101, null, 'Amélie, la "fabuleuse"', 2001, 'synthetic'),
    (102, 'dup', 'Dup A', 2000, 'synthetic'),
    (103, 'dup', 'Dup B', 2000, 'synthetic'),
    (104, null, '千と千尋の神隠し', 2001, 'synthetic'),
    (105, 'no-year', 'No Year', null, 'synthetic');
insert into raw.ratings (user_id, film_id, rating, liked, favorite, rated_at, updated_at, deleted) values
    (10, 100, 4.5, true, true, '2020-01-01', '2020-01-02', false),
    (10, 101, null, false, true, '2020-02-01', '2020-02-01', false),
    (10, 102, 2.0, null, null, '2020-03-01', '2020-03-01', false),
    (10, 103, 3.0, true, false, '2020-03-01', '2020-03-01', true),
    (20, 100, 1.0, true, false, '2021-01-01', '2021-01-01', false),
    (20, 104, 5.0, false, false, '2021-02-01', '2021-02-01', false),
    (20, 105, 3.0, false, false, '2021-03-01', '2021-03-01', false);
insert into raw.diary_entries (user_id, film_id, watched_on, entry_no, rating, rewatch, logged_at) values
    (10, 100, '2020-01-01', 1, 4.0, false, '2020-01-02'),
    (10, 100, '2020-06-01', 1, 4.5, true, null),
    (10, 100, '2020-06-01', 2, null, true, null),
    (20, 104, '2021-02-01', 1, 5.0, false, '2021-02-01');
insert into raw.lists (list_id, name, kind, owner_user_id, description) values
    ('lb:uma:heat-and-more', 'Heat & more', 'letterboxd_list', 10, 'two, films'),
    ('uma-wl', 'Watchlist', 'watchlist', 10, null);
insert into raw.list_items (list_id, film_id, position) values
    ('lb:uma:heat-and-more', 100, 1), ('lb:uma:heat-and-more', 104, 2), ('uma-wl', 105, 1);
"""

COMPARE_RATINGS = """
select u.username, f.title, f.release_year, r.rating, coalesce(r.liked, false), coalesce(r.favorite, false)
from raw.ratings r join raw.users u using (user_id) join raw.films f using (film_id)
where not r.deleted order by 1, 2
"""
COMPARE_DIARY = """
select u.username, f.title, f.release_year, d.watched_on, d.entry_no, d.rating, d.rewatch
from raw.diary_entries d join raw.users u using (user_id) join raw.films f using (film_id)
where not d.deleted order by 1, 2, 4, 5
"""
COMPARE_LISTS = """
select l.name, l.kind, u.username, f.title, i.position
from raw.lists l join raw.users u on u.user_id = l.owner_user_id
join raw.list_items i using (list_id) join raw.films f using (film_id) order by 1, 5
"""


def read_zip_csv(path: Path, name: str) -> list[list[str]]:
    with zipfile.ZipFile(path) as zf:
        return list(csv.reader(io.StringIO(zf.read(name).decode())))


def test_written_exports_have_the_letterboxd_format(conn, tmp_path):
    conn.execute(SOURCE_DATA)
    paths = write_exports(conn, tmp_path / "out")
    assert [p.name for p in paths] == ["letterboxd-uma.zip", "letterboxd-vic.zip"]
    uma = paths[0]
    with zipfile.ZipFile(uma) as zf:
        assert sorted(zf.namelist()) == ["diary.csv", "likes/films.csv", "lists/heat-and-more.csv", "profile.csv",
                                         "ratings.csv", "watched.csv", "watchlist.csv"]  # fmt: skip
    profile = read_zip_csv(uma, "profile.csv")
    assert profile[0][-1] == "Favorite Films"
    assert profile[1][1:3] == ["uma", "Uma Thurman"]
    assert profile[1][-1] == "https://boxd.it/heat-1995, https://boxd.it/film-101"
    assert read_zip_csv(uma, "ratings.csv") == [
        ["Date", "Name", "Year", "Letterboxd URI", "Rating"],
        ["2020-01-01", "Heat", "1995", "https://boxd.it/heat-1995", "4.5"],
        ["2020-03-01", "Dup A", "2000", "https://boxd.it/film-102", "2"],
    ]
    diary = read_zip_csv(uma, "diary.csv")
    assert diary[0] == ["Date", "Name", "Year", "Letterboxd URI", "Rating", "Rewatch", "Tags", "Watched Date"]
    film_uris = {row[3] for row in read_zip_csv(uma, "watched.csv")[1:]}
    entry_uris = [row[3] for row in diary[1:]]
    assert len(set(entry_uris)) == 3 and not set(entry_uris) & film_uris
    assert [row[5] for row in diary[1:]] == ["", "Yes", "Yes"]
    lines = zipfile.ZipFile(uma).read("lists/heat-and-more.csv").decode().splitlines()
    assert lines[0] == "Letterboxd list export v7" and lines[4] == "Position,Name,Year,URL,Description"
    assert write_exports(conn, tmp_path / "again")[0].read_bytes() == uma.read_bytes()  # deterministic


def test_round_trip_through_exports_keeps_ratings_likes_favorites_and_rewatches(conn, tmp_path):
    conn.execute(SOURCE_DATA)
    conn.commit()
    paths = write_exports(conn, tmp_path / "out", user_ids=[10, 20])
    expected = {q: conn.execute(q).fetchall() for q in (COMPARE_RATINGS, COMPARE_DIARY, COMPARE_LISTS)}
    other = make_database("fc_test_lb")
    try:
        load(other, *paths, cohort="round trip")
        for q, rows in expected.items():
            assert query(other, q) == rows
        assert query(other, "select count(*) from raw.cohort_members where not deleted and cohort_id <> 'everyone'")[
            0][0] == 2  # fmt: skip
    finally:
        warehouse.drop_database(other)
    # back into the warehouse they came from: every film maps to itself, no film or user is added
    films_before = conn.execute("select count(*) from raw.films").fetchone()[0]
    conn.commit()
    letterboxd.load_exports(conn, paths, cohort="round trip")
    assert conn.execute("select count(*) from raw.films").fetchone()[0] == films_before
    assert conn.execute("select count(*) from raw.users").fetchone()[0] == 2
    assert conn.execute(COMPARE_RATINGS).fetchall() == expected[COMPARE_RATINGS]
