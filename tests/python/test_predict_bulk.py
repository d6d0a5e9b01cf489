"""Histogram prediction in bulk (issue 12, part 5): `predict --cohort C` predicts every member x the first N films of
the cohort's ranking that they have not rated, block by block through one COPY. The one-user path (`--user`) is
the oracle: the same (user, film) pairs give the same rows. On test_recsys_jobs' planted three-taste ratings, with a
club of 30 members (one of them without ratings) and films logged without a rating."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from conftest import make_database, query, run_dbt
from test_recsys_jobs import planted_ratings, run

from python_jobs import warehouse
from python_jobs.recsys import predict
from python_jobs.warehouse import WarehouseError

CLUB = "club"
MEMBERS = [*range(1, 30), 999]  # 999 is a member who never rated anything
TOP = 20
STARS = np.arange(1, 11) / 2.0
LOGGED = [(1, f) for f in (3, 6, 9)] + [(2, 12)]  # logged without a rating: seen, so never predicted
COLUMNS = "cohort_id, user_id, film_id, expected_rating, most_likely_rating, distribution, user_ratings, " \
          "film_ratings, spread"  # fmt: skip


@pytest.fixture(scope="module")
def club(server):
    """The planted ratings, a club, films logged without a rating, and the club's rankings built by dbt."""
    db = make_database("pred_bulk")
    saved = os.environ.get("PGDATABASE")
    os.environ["PGDATABASE"] = db  # the jobs read it
    try:
        films, ratings, _ = planted_ratings()
        rated = set(zip(ratings["user_id"], ratings["film_id"], strict=True))
        logged = [(u, f) for u, f in LOGGED if (u, f) not in rated]
        assert len(logged) >= 3
        logged_rows = pd.DataFrame(logged, columns=["user_id", "film_id"]).assign(
            rating=np.nan, rated_at=ratings["rated_at"].max(), updated_at=ratings["rated_at"].max()
        )
        with warehouse.connect(db) as conn:
            with conn.transaction():
                warehouse.copy_frame(conn, "raw.films", films)
                warehouse.copy_frame(conn, "raw.ratings", pd.concat([ratings, logged_rows], ignore_index=True))
                conn.execute("insert into raw.cohorts (cohort_id, name, kind) values (%s, 'Club', 'saved')", (CLUB,))
                members = pd.DataFrame({"cohort_id": CLUB, "user_id": MEMBERS})
                warehouse.copy_frame(conn, "raw.cohort_members", members)
        run_dbt(db, "seed")
        run_dbt(db, "run", "--select", "+film_rankings", "+rating_predictions_explained")
        yield db
    finally:
        if saved is None:
            os.environ.pop("PGDATABASE", None)
        else:
            os.environ["PGDATABASE"] = saved
        warehouse.drop_database(db)


def rows(db: str, where: str = "cohort_id = %s", params=(CLUB,)) -> dict[tuple[int, int], tuple]:
    """(user, film) -> the prediction's columns after cohort_id, for the rows `where` selects."""
    found = query(db, f"select {COLUMNS} from ml.rating_predictions where {where}", params)
    return {(r[1], r[2]): r[3:] for r in found}


def bulk(db: str, *extra: str) -> dict[tuple[int, int], tuple]:
    run("predict", "--cohort", CLUB, "--top", str(TOP), *extra)
    return rows(db)


def same(a: tuple, b: tuple) -> bool:
    expected_a, likely_a, dist_a, *counts_a, spread_a = a
    expected_b, likely_b, dist_b, *counts_b, spread_b = b
    return (likely_a == likely_b and counts_a == counts_b and np.isclose(expected_a, expected_b, rtol=1e-12)
            and np.allclose(dist_a, dist_b, rtol=1e-12, atol=0)
            and np.isclose(spread_a, spread_b, rtol=1e-12))  # fmt: skip


def test_bulk_rows_equal_the_one_user_path_for_the_same_pairs(club):
    bulk_rows = bulk(club)
    for user in (1, 2, 17):
        films = [f for (u, f) in bulk_rows if u == user]
        assert len(films) == TOP
        run("predict", "--user", str(user), "--cohort", CLUB, *[a for f in films for a in ("--film", str(f))])
        one = rows(club, "cohort_id = %s and user_id = %s", (CLUB, user))
        assert set(one) == {(user, f) for f in films}
        assert all(same(one[k], bulk_rows[k]) for k in one), user


def test_bulk_takes_each_members_first_unseen_films_of_the_ranking_in_order(club):
    bulk_rows = bulk(club)
    ranking = [f for (f,) in query(club, "select film_id from marts.film_rankings where cohort_id = %s "
                                         "and strategy = 'bayesian' order by rank", (CLUB,))]  # fmt: skip
    seen = set(query(club, "select user_id, film_id from raw.ratings where not deleted"))
    assert set(LOGGED) <= seen
    order = {f: r for r, f in enumerate(ranking)}
    for user in MEMBERS:
        expected = [f for f in ranking if (user, f) not in seen][:TOP] if user != 999 else []
        got = sorted((f for (u, f) in bulk_rows if u == user), key=order.get)
        assert got == expected, user
    assert not any(k in seen for k in bulk_rows)
    assert all(f not in (3, 6, 9) for (u, f) in bulk_rows if u == 1)  # logged only still counts as seen
    assert {u for u, _ in bulk_rows} == set(MEMBERS) - {999}


def test_bulk_over_the_whole_ranking_equals_the_one_user_path_over_every_unrated_film(club):
    bulk_rows = bulk(club, "--top", "1000")
    for user in (1, 5):
        run("predict", "--user", str(user), "--cohort", CLUB)
        one = rows(club, "cohort_id = %s and user_id = %s", (CLUB, user))
        mine = {k: v for k, v in bulk_rows.items() if k[0] == user}
        assert set(one) == set(mine) and len(mine) > TOP
        assert all(same(one[k], mine[k]) for k in one)


def test_spread_is_the_std_of_the_stored_histogram_and_the_mart_reads_it(club):
    bulk(club)
    run_dbt(club, "run", "--select", "stg_ml__rating_predictions", "rating_predictions_explained")
    found = query(club, "select p.distribution, p.spread, m.spread, m.p_4_or_more, m.expected_rating, m.sentence "
                        "from ml.rating_predictions p join marts.rating_predictions_explained m "
                        "using (cohort_id, user_id, film_id) where p.cohort_id = %s", (CLUB,))  # fmt: skip
    assert len(found) == (len(MEMBERS) - 1) * TOP
    dist = np.array([r[0] for r in found])
    assert np.allclose(dist.sum(axis=1), 1.0, atol=1e-12)
    # the variance by its definition, E[(X - E X)^2], not by E[X^2] - (E X)^2 as the job computes it
    mean = dist @ STARS
    std = np.sqrt(((STARS[None, :] - mean[:, None]) ** 2 * dist).sum(axis=1))
    stored = np.array([r[1] for r in found])
    assert np.allclose(stored, std, rtol=0, atol=1e-9) and std.min() > 0.05 and std.max() < 2.25
    assert np.allclose([float(r[2]) for r in found], np.round(std, 2), atol=0.0051)
    assert np.allclose([float(r[3]) for r in found], dist[:, 7:].sum(axis=1), atol=0.00006)
    assert all(f"give or take {s:.1f};" in r[5] for r, s in zip(found, stored, strict=True))


def test_rerun_writes_the_same_rows(club):
    first = bulk(club)
    runs = query(club, "select count(distinct run_id) from ml.rating_predictions where cohort_id = %s", (CLUB,))
    second = bulk(club)
    assert set(first) == set(second) and all(same(first[k], second[k]) for k in first)
    assert runs == query(club, "select count(distinct run_id) from ml.rating_predictions where cohort_id = %s",
                         (CLUB,)) == [(1,)]  # fmt: skip


def test_a_failed_run_leaves_the_previous_rows_whole(club, monkeypatch):
    before = bulk(club)
    with pytest.raises(WarehouseError, match="unknown cohort 'nope'"):
        run("predict", "--cohort", "nope")
    # fail after several blocks have gone through the COPY: the delete and those rows roll back together
    monkeypatch.setattr(predict, "BLOCK_PAIRS", 15)  # 3 members a block at --top 5
    real, calls = predict.prediction_columns, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # three blocks sent after the delete; another session still reads the old rows
            assert rows(club) == before
            raise ValueError("disk full, say")
        return real(*args, **kwargs)

    monkeypatch.setattr(predict, "prediction_columns", failing)
    with pytest.raises(WarehouseError, match="disk full"):
        run("predict", "--cohort", CLUB, "--top", "5")
    assert len(calls) == 4
    after = rows(club)
    assert set(after) == set(before) and all(same(after[k], before[k]) for k in before)
    status = query(club, "select status, error from ops.insight_runs where job = 'predict' "
                         "order by run_id desc limit 2")  # fmt: skip
    assert [s for s, _ in status] == ["failed", "failed"] and "disk full" in status[0][1]


def test_films_asked_about_replace_only_those_films_rows(club):
    before = bulk(club)
    asked = [1, 2, 3]
    run("predict", "--cohort", CLUB, "--film", "1", "--film", "2", "--film", "3")
    after = rows(club)
    seen = set(query(club, "select user_id, film_id from raw.ratings where not deleted"))
    expected = {(u, f) for u in MEMBERS if u != 999 for f in asked if (u, f) not in seen}
    assert {k for k in after if k[1] in asked} == expected
    assert {k: v for k, v in after.items() if k[1] not in asked}.keys() == {k for k in before if k[1] not in asked}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "--user", "1", "--top", "5"], "--top and --strategy choose a cohort's films"),
        (["predict", "--cohort", CLUB, "--film", "1", "--strategy", "bayesian"], "--film names the films"),
        (["predict", "--cohort", CLUB, "--strategy", "nope"], "no 'nope' ranking of cohort 'club'"),
        (["predict"], "predict needs --user"),
    ],
)
def test_bulk_arguments_fail_with_one_line(club, argv, message):
    with pytest.raises(WarehouseError, match=message):
        run(*argv)


def test_tables_made_before_spread_get_it_from_their_distributions(db):
    dist = [0.0, 0.0, 0.1, 0.0, 0.2, 0.0, 0.3, 0.0, 0.0, 0.4]
    with warehouse.connect(db) as conn:
        conn.execute("alter table ml.rating_predictions drop column spread")
        conn.execute("insert into ml.rating_predictions values (1, 'everyone', 1, 1, 3.6, 5.0, %s, 3, 4)", (dist,))
        conn.commit()
        warehouse.init_warehouse(conn)
        spread, nullable = conn.execute(
            "select spread, (select not attnotnull from pg_attribute "
            "where attrelid = 'ml.rating_predictions'::regclass and attname = 'spread') from ml.rating_predictions"
        ).fetchone()
    p = np.array(dist)
    assert spread == pytest.approx(np.sqrt(p @ (STARS - p @ STARS) ** 2), abs=1e-12) and not nullable
