"""Generated world → Letterboxd export zips → the Letterboxd loader: the same ratings, likes, favorites
and rewatches come back (the generator's exports are exactly the format real members download)."""

from __future__ import annotations

from conftest import make_database
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
