"""Generated world → Letterboxd export zips → the Letterboxd loader: the same ratings, likes, favorites
and rewatches come back (the generator's exports are exactly the format real members download)."""

from __future__ import annotations

import zipfile

from conftest import make_database, run_dbt
from test_letterboxd import COMPARE_DIARY, COMPARE_RATINGS, query

from python_jobs import warehouse
from python_jobs.generator import Generator, GeneratorConfig
from python_jobs.loaders import letterboxd
from python_jobs.loaders.letterboxd_export import write_exports


def test_generated_exports_load_back_to_the_same_activity(conn, tmp_path):
    Generator(GeneratorConfig(users=60, films=120, seed=5, ratings_per_user=25)).write_all(conn)
    conn.commit()
    members = [r[0] for r in conn.execute("select user_id from raw.users order by user_id limit 12")]
    paths = write_exports(conn, tmp_path / "exports", user_ids=members)
    assert len(paths) == len(members)
    only_members = " and u.user_id = any(%s) "
    expected_ratings = conn.execute(
        COMPARE_RATINGS.replace("where not r.deleted", "where not r.deleted" + only_members), (members,)
    ).fetchall()
    expected_diary = conn.execute(
        COMPARE_DIARY.replace("where not d.deleted", "where not d.deleted" + only_members), (members,)
    ).fetchall()
    assert any(row[6] for row in expected_diary), "the generated diary should hold rewatches"
    assert any(row[4] for row in expected_ratings), "the generated world should hold likes"

    other = make_database("fc_test_rt")
    try:
        with warehouse.connect(other) as target:
            letterboxd.load_exports(target, paths, cohort="generated friends")
        assert query(other, COMPARE_RATINGS) == expected_ratings
        assert query(other, COMPARE_DIARY) == expected_diary
        assert query(other, "select count(*) from ops.quarantine")[0][0] == 0
        assert query(other, "select count(*) from raw.cohort_members where cohort_id = 'saved:generated friends'")[0][
            0
        ] == len(members)
    finally:
        warehouse.drop_database(other)


LIST_FILMS = """
select split_part(l.list_id, ':', 2) as username, l.list_name, l.list_kind, l.list_position, f.title, f.release_year
from marts.list_films l join raw.films f using (film_id) order by 1, 2, 4
"""
GENERATED_LISTS = """
select u.username, l.name, l.kind, i.position, f.title, f.release_year
from raw.lists l join raw.users u on u.user_id = l.owner_user_id
join raw.list_items i using (list_id) join raw.films f using (film_id)
where l.owner_user_id = any(%s) order by 1, 2, 4
"""


def test_generated_lists_reach_list_films_and_a_second_load_changes_nothing(conn, tmp_path):
    """The members of the friend groups own lists: their exports carry lists/*.csv, a load puts every list and
    position into marts.list_films, and loading the same exports again changes no raw row and no mart row."""
    Generator(GeneratorConfig(users=60, films=120, seed=5, ratings_per_user=25)).write_all(conn)
    conn.commit()
    owners = [r[0] for r in conn.execute(
        "select distinct owner_user_id from raw.lists where list_id like 'member:%' and owner_user_id not in ("
        "select owner_user_id from raw.lists where list_id not like 'member:%' and owner_user_id is not null) "
        "order by 1 limit 8"
    )]  # fmt: skip
    assert len(owners) == 8
    expected = conn.execute(GENERATED_LISTS, (owners,)).fetchall()
    paths = write_exports(conn, tmp_path / "exports", user_ids=owners)
    for path in paths:
        with zipfile.ZipFile(path) as zf:
            assert any(n.startswith("lists/") and n.endswith(".csv") for n in zf.namelist()), path.name

    other = make_database("fc_test_lists")
    try:
        with warehouse.connect(other) as target:
            letterboxd.load_exports(target, paths, cohort="list makers")
        run_dbt(other, "run", "--select", "+list_films")
        got = query(other, LIST_FILMS)
        assert got == expected and len({(u, n) for u, n, *_ in got}) >= len(owners)

        before = {t: query(other, f"select md5(string_agg(t::text, '|' order by t::text)) from {t} t")
                  for t in RAW_TABLES}  # fmt: skip
        with warehouse.connect(other) as target:
            again = letterboxd.load_exports(target, paths, cohort="list makers")
        assert all(load.batch_id is None for load in again)  # nothing new: no batch
        assert {t: query(other, f"select md5(string_agg(t::text, '|' order by t::text)) from {t} t")
                for t in RAW_TABLES} == before  # fmt: skip
        run_dbt(other, "run", "--select", "list_films")
        assert query(other, LIST_FILMS) == got
    finally:
        warehouse.drop_database(other)


RAW_TABLES = ("raw.users", "raw.films", "raw.ratings", "raw.diary_entries", "raw.lists", "raw.list_items",
              "raw.cohorts", "raw.cohort_members", "ops.load_batches", "ops.quarantine")  # fmt: skip
