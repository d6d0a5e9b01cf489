"""cohort_film_stats on ML-100K equals what anyone computes from the raw files with pandas and scipy."""

from __future__ import annotations

import ml100k
import numpy as np
import pandas as pd
import pytest
from conftest import recbole_wheel_available, run_dbt
from scipy import stats

from python_jobs import warehouse
from python_jobs.loaders import movielens

pytestmark = pytest.mark.skipif(not recbole_wheel_available(), reason="the recbole wheel could not be downloaded")


def population_skewness(r: pd.Series) -> float:
    return stats.skew(r, bias=True) if len(r) >= 3 and r.nunique() > 1 else np.nan


def expected_stats(ratings: pd.DataFrame) -> pd.DataFrame:
    grouped = ratings.groupby("film_id")["rating"]
    out = pd.DataFrame(
        {
            "ratings_count": grouped.size(),
            "avg_rating": grouped.mean(),
            "stddev_rating": grouped.std(ddof=1),
            "skewness": grouped.apply(population_skewness),
        }
    )
    for star in range(1, 6):
        out[f"bucket_{star}_0"] = ratings[ratings.rating == star].groupby("film_id").size()
    return out.fillna({f"bucket_{s}_0": 0 for s in range(1, 6)})


@pytest.mark.parametrize("cohort", ["everyone", "occupation:writer", "age:25-34", "region:pacific"])
def test_cohort_film_stats_match_the_raw_files(ml100k_built, cohort):
    ratings = ml100k.ratings()
    users = ml100k.users()
    if cohort != "everyone":
        kind, value = cohort.split(":")
        if kind == "occupation":
            members = users.user_id[users.occupation == value]
        elif kind == "age":
            members = users.user_id[users.age.between(25, 34)]
        else:
            members = users.user_id[users.zip_code.str.match(r"^9\d{4}$")]
        ratings = ratings[ratings.user_id.isin(members)]
    expected = expected_stats(ratings)

    with warehouse.connect(ml100k_built) as conn:
        actual = warehouse.read_frame(
            conn,
            "select * from marts.cohort_film_stats where cohort_id = %s order by film_id",
            (cohort,),
        ).set_index("film_id")
    assert len(actual) == len(expected)
    assert (actual.watchers == actual.ratings_count).all()  # MovieLens logs always carry a rating
    assert actual.likes.isna().all() and actual.favorites.isna().all()
    joined = actual.join(expected.add_suffix("_expected"))
    for col in ["ratings_count", "bucket_1_0", "bucket_2_0", "bucket_3_0", "bucket_4_0", "bucket_5_0"]:
        assert (joined[col] == joined[f"{col}_expected"]).all(), col
    assert (joined.bucket_0_5 + joined.bucket_1_5 + joined.bucket_4_5 == 0).all()
    np.testing.assert_allclose(joined.avg_rating, joined.avg_rating_expected, atol=5.0001e-5)  # 4 decimals
    np.testing.assert_allclose(joined.stddev_rating, joined.stddev_rating_expected, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(joined.skewness, joined.skewness_expected, rtol=1e-7, atol=1e-9, equal_nan=True)


@pytest.fixture(scope="module")
def ml100k_built(server):
    from conftest import make_database

    name = make_database("fc_ml100k")
    try:
        with warehouse.connect(name) as conn:
            movielens.load_movielens(conn)
        run_dbt(name, "seed")
        run_dbt(name, "run", "--select", "+cohort_film_stats")
        yield name
    finally:
        warehouse.drop_database(name)
