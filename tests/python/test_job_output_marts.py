"""The Python jobs' outputs as marts a BI tool reads (issue 12, part 4): evaluation results with intervals and
paired comparisons, taste clusters with descriptions, "critics like you" with names, rating predictions with
their spread and a sentence. The jobs run on the planted three-taste data of test_recsys_jobs, then dbt builds
the marts, and bi_reader reads them."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest
from conftest import make_database, query, run_dbt
from test_recsys_jobs import GENRES, N_GROUPS, planted_ratings, run

from python_jobs import warehouse

MARTS = ("evaluation_results", "evaluation_comparisons", "taste_clusters", "user_taste_clusters",
         "critics_like_you", "rating_predictions_explained")  # fmt: skip


@pytest.fixture(scope="module")
def built(server):
    """test_recsys_jobs' planted three-taste ratings with named users, the jobs run once, the marts built."""
    db = make_database("job_marts")
    saved = os.environ.get("PGDATABASE")
    os.environ["PGDATABASE"] = db  # the jobs read it
    try:
        films, ratings, group = planted_ratings()
        with warehouse.connect(db) as conn:
            with conn.transaction():
                warehouse.copy_frame(conn, "raw.films", films)
                warehouse.copy_frame(conn, "raw.ratings", ratings)
                users = pd.DataFrame({"user_id": np.arange(1, 151), "username": [f"critic{u}" for u in range(1, 151)],
                                      "source": "test"})  # fmt: skip
                warehouse.copy_frame(conn, "raw.users", users)
        run("evaluate", "--models", "popularity,ease", "--no-tune", "--bootstrap", "100", "--k", "10")
        run("cluster", "--k-min", "3", "--k-max", "3", "--films", "90", "--min-ratings", "5")
        run("predict", "--user", "1", "--user", "2")
        # with the user's own taste cluster as the cohort, the film histograms follow that taste
        taste = query(db, "select cohort_id from ml.user_clusters where user_id = 1")[0][0]
        run("predict", "--user", "1", "--cohort", taste)
        run_dbt(db, "seed")
        run_dbt(db, "run", "--select", *[f"+{m}" for m in MARTS])
        yield db, group
    finally:
        if saved is None:
            os.environ.pop("PGDATABASE", None)
        else:
            os.environ["PGDATABASE"] = saved
        warehouse.drop_database(db)


def test_evaluation_results_carry_intervals_and_comparisons_say_which_model_wins(built):
    db, _ = built
    metrics = {m for (m,) in query(db, "select distinct metric from marts.evaluation_results")}
    assert "ndcg" in metrics and not any(m.startswith(("ndcg_low", "ndcg_high", "ndcg_diff")) for m in metrics)
    rows = query(db, "select model, metric_value, interval_low, interval_high, n_users, is_latest_run, split "
                     "from marts.evaluation_results where stage = 'test' and slice = 'all' and metric = 'ndcg' "
                     "and k = 10 order by model")  # fmt: skip
    assert [r[0] for r in rows] == ["ease", "popularity"]
    for _, value, low, high, n, latest, split in rows:
        assert low <= value <= high and n > 0 and latest and split == "temporal"
    # the planted tastes are easy for ease, invisible to popularity: the paired interval excludes 0
    comparison = query(db, "select ndcg_difference, interval_low, interval_high, differs "
                           "from marts.evaluation_comparisons where model = 'ease' and other_model = 'popularity' "
                           "and stage = 'test' and slice = 'all' and k = 10")  # fmt: skip
    assert len(comparison) == 1
    difference, low, high, differs = comparison[0]
    assert low <= difference <= high and low > 0 and differs


def test_taste_clusters_are_described_by_the_genre_their_members_love(built):
    db, group = built
    clusters = query(db, "select cluster, members, top_genres, description from marts.taste_clusters order by 1")
    assert len(clusters) == N_GROUPS and sum(c[1] for c in clusters) == 150
    first_genres = {re.match(r"(\w+) \+", c[2]).group(1) for c in clusters}
    assert first_genres == set(GENRES)  # each planted taste is one cluster, led by its genre
    assert all(c[3].startswith("Rates ") and "most of all " in c[3] for c in clusters)
    members = query(db, "select user_id, user_name, cluster from marts.user_taste_clusters")
    assert len(members) == 150 and all(name == f"critic{u}" for u, name, _ in members)
    by_group: dict[int, set[int]] = {}
    for user_id, _, cluster in members:
        by_group.setdefault(int(group[user_id - 1]), set()).add(cluster)
    assert all(len(c) == 1 for c in by_group.values())


def test_critics_like_you_share_the_users_taste_and_have_names(built):
    db, group = built
    rows = query(db, "select user_id, user_name, similar_rank, similar_user_id, similar_user_name, similarity "
                     "from marts.critics_like_you where user_id = 1 order by similar_rank")  # fmt: skip
    assert len(rows) >= 5 and [r[2] for r in rows] == list(range(1, len(rows) + 1))
    assert all(r[1] == "critic1" and r[4] == f"critic{r[3]}" for r in rows)
    assert all(group[r[3] - 1] == group[0] for r in rows[:5])
    similarities = [r[5] for r in rows]
    assert similarities == sorted(similarities, reverse=True)


def test_predictions_read_as_a_sentence_with_their_spread(built):
    db, group = built
    rows = query(db, "select user_id, film_id, film_title, expected_rating, most_likely_rating, spread, "
                     "p_4_or_more, sentence from marts.rating_predictions_explained")  # fmt: skip
    assert rows and {r[0] for r in rows} == {1, 2}
    pattern = re.compile(r"You'll probably rate (.+) (\d\.\d) \(expected (\d\.\d), give or take (\d\.\d); "
                         r"4 stars or more: (\d+)%\)")  # fmt: skip
    for _, _, title, _, likely, spread, p4, sentence in rows:
        m = pattern.fullmatch(sentence)
        assert m and m.group(1) == title and m.group(2) == f"{likely:.1f}", sentence
        assert 0 <= p4 <= 1 and spread >= 0
    # with user 1's taste cluster as the cohort: its own genre gets far higher chances of 4 stars or more
    taste = query(db, "select cohort_id from marts.user_taste_clusters where user_id = 1")[0][0]
    mine = query(db, "select film_id, p_4_or_more from marts.rating_predictions_explained "
                     "where cohort_id = %s and user_id = 1", (taste,))  # fmt: skip
    own = [float(p) for f, p in mine if (f - 1) % N_GROUPS == group[0]]
    other = [float(p) for f, p in mine if (f - 1) % N_GROUPS != group[0]]
    assert own and other and sum(own) / len(own) > sum(other) / len(other) + 0.3


def test_bi_reader_reads_every_job_output_mart(built):
    db, _ = built
    with warehouse.connect(db, autocommit=True) as conn:
        conn.execute("grant bi_reader to current_user")
    with warehouse.connect(db) as conn:
        conn.execute("set role bi_reader")
        for mart in MARTS:
            assert conn.execute(f"select count(*) from marts.{mart}").fetchone()[0] > 0, mart
        with pytest.raises(Exception, match="permission denied"):
            conn.execute("select 1 from ml.evaluation_runs limit 1")
