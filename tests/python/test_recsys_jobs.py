"""The recommender jobs end to end on a real database with a small planted dataset."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from python_jobs import warehouse
from python_jobs.recsys import cli
from python_jobs.warehouse import WarehouseError

GENRES = ["Drama", "Comedy", "Horror"]
N_USERS, N_FILMS, N_GROUPS = 150, 90, 3


def planted_ratings(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Users in three taste groups; each loves its own genre's films and pans the others."""
    rng = np.random.default_rng(seed)
    group = np.arange(N_USERS) % N_GROUPS
    films = pd.DataFrame(
        {
            "film_id": np.arange(1, N_FILMS + 1),
            "title": [f"Film {i}" for i in range(1, N_FILMS + 1)],
            "release_year": 1980 + np.arange(N_FILMS) % 40,
            "genres": ["{" + GENRES[i % N_GROUPS] + "}" for i in range(N_FILMS)],
            "source": "test",
        }
    )
    rows = []
    start = pd.Timestamp("2020-01-01", tz="UTC")
    for u in range(N_USERS):
        seen = rng.choice(N_FILMS, size=40, replace=False)
        for f in seen:
            own = f % N_GROUPS == group[u]
            rating = rng.choice([4.0, 4.5, 5.0]) if own else rng.choice([1.0, 1.5, 2.0, 2.5])
            when = start + pd.Timedelta(seconds=int(rng.integers(0, 200 * 86400)))
            rows.append((u + 1, f + 1, rating, when, when))
    ratings = pd.DataFrame(rows, columns=["user_id", "film_id", "rating", "rated_at", "updated_at"])
    return films, ratings, group


@pytest.fixture
def planted_db(db, monkeypatch):
    """The test database with planted ratings, films and one cohort; PGDATABASE points at it."""
    monkeypatch.setenv("PGDATABASE", db)
    films, ratings, group = planted_ratings()
    with warehouse.connect(db) as conn:
        with conn.transaction():
            warehouse.copy_frame(conn, "raw.films", films)
            warehouse.copy_frame(conn, "raw.ratings", ratings)
            conn.execute("insert into raw.cohorts (cohort_id, name, kind) values ('club', 'Film club', 'saved')")
            members = pd.DataFrame({"cohort_id": "club", "user_id": np.arange(1, 31)})
            warehouse.copy_frame(conn, "raw.cohort_members", members)
    return db, group, ratings


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def query(db: str, sql: str, params=None) -> pd.DataFrame:
    with warehouse.connect(db) as conn:
        return warehouse.read_frame(conn, sql, params)


def test_cluster_recovers_planted_tastes_and_makes_cohorts(planted_db):
    db, group, _ = planted_db
    assert run("cluster", "--k-min", "2", "--k-max", "5", "--films", "90", "--min-ratings", "5") == 0
    clusters = query(db, "select user_id, cluster from ml.user_clusters order by user_id")
    truth = group[clusters["user_id"].to_numpy() - 1]
    assert adjusted_rand_score(truth, clusters["cluster"]) >= 0.9
    cohorts = query(
        db,
        "select c.cohort_id, count(*) as n from raw.cohorts c join raw.cohort_members m using (cohort_id) "
        "where c.kind = 'taste_cluster' and not m.deleted group by 1",
    )
    assert len(cohorts) == 3 and cohorts["n"].sum() == N_USERS
    # critics like you: nearest users share the planted taste
    near = query(db, "select user_id, similar_user_id from ml.similar_users where rank <= 3")
    same = group[near["user_id"] - 1] == group[near["similar_user_id"] - 1]
    assert same.mean() >= 0.95
    genre = query(db, "select cluster, genre from ml.cluster_descriptions where kind = 'genre' and rank = 1")
    assert sorted(genre["genre"]) == sorted(GENRES)
    runs = query(db, "select job, status, rows_written from ops.insight_runs")
    assert runs.to_dict("records") == [{"job": "cluster", "status": "succeeded", "rows_written": N_USERS}]


def test_recluster_ends_memberships_with_tombstones(planted_db):
    db, _, _ = planted_db
    run("cluster", "--k-min", "3", "--k-max", "3", "--films", "90", "--min-ratings", "5")
    run("cluster", "--k-min", "2", "--k-max", "2", "--films", "90", "--min-ratings", "5")
    live = query(db, "select count(*) as n from raw.cohort_members where cohort_id like 'taste:%' and not deleted")
    gone = query(db, "select count(*) as n from raw.cohort_members where cohort_id = 'taste:3' and deleted")
    assert live["n"][0] == N_USERS
    assert gone["n"][0] > 0


def test_recommendations_are_explained_by_a_film_the_user_liked(planted_db):
    db, group, ratings = planted_db
    assert run("recommend", "--model", "ease", "-n", "5") == 0
    recs = query(db, "select * from ml.recommendations")
    assert len(recs) == N_USERS * 5
    liked = set(zip(*ratings.loc[ratings["rating"] >= 4, ["user_id", "film_id"]].to_numpy().T, strict=True))
    rated = set(zip(ratings["user_id"], ratings["film_id"], strict=True))
    assert recs["because_film_id"].notna().all()
    assert all((u, b) in liked for u, b in zip(recs["user_id"], recs["because_film_id"], strict=True))
    assert not any((u, f) in rated for u, f in zip(recs["user_id"], recs["film_id"], strict=True))
    # the planted taste shows: recommended films are of the user's own genre
    own = (recs["film_id"] - 1) % N_GROUPS == group[recs["user_id"] - 1]
    assert own.mean() >= 0.9


def test_recommend_for_a_cohort_uses_its_catalogue_and_is_deterministic(planted_db):
    db, _, ratings = planted_db
    run("recommend", "--model", "als", "--cohort", "club", "-n", "5", "--param", "factors=8", "--seed", "3")
    first = query(db, "select user_id, rank, film_id, because_film_id from ml.recommendations order by 1, 2")
    catalogue = set(ratings.loc[ratings["user_id"] <= 30, "film_id"])
    assert set(first["user_id"]) <= set(range(1, 31))
    assert set(first["film_id"]) <= catalogue
    run("recommend", "--model", "als", "--cohort", "club", "-n", "5", "--param", "factors=8", "--seed", "3")
    again = query(db, "select user_id, rank, film_id, because_film_id from ml.recommendations order by 1, 2")
    pd.testing.assert_frame_equal(first, again)


def test_similar_films_share_the_genre(planted_db):
    db, _, _ = planted_db
    run("similar", "--model", "itemknn", "-n", "5")
    sim = query(db, "select film_id, similar_film_id from ml.similar_films where rank <= 3")
    assert len(sim) > 0
    assert (((sim["film_id"] - 1) % 3) == ((sim["similar_film_id"] - 1) % 3)).mean() >= 0.9


def test_evaluate_stores_every_result_with_its_protocol(planted_db, capsys):
    db, _, _ = planted_db
    run("evaluate", "--models", "popularity,ease,content", "--no-tune")
    out = capsys.readouterr().out
    assert "| popularity |" in out and "| ease |" in out
    rows = query(
        db,
        "select model, stage, slice, metric, k, value, protocol->>'split' as split, "
        "protocol->>'test_cut' as cut from ml.evaluation_runs",
    )
    assert set(rows["stage"]) == {"validation", "test"}
    assert (rows["split"] == "temporal").all() and rows["cut"].notna().all()
    ndcg = rows[(rows["stage"] == "test") & (rows["slice"] == "all") & (rows["metric"] == "ndcg") & (rows["k"] == 10)]
    by_model = dict(zip(ndcg["model"], ndcg["value"], strict=True))
    assert by_model["ease"] > by_model["popularity"]




def test_evaluate_stores_intervals_paired_differences_and_per_user_metrics(planted_db, capsys):
    db, _, _ = planted_db
    run("evaluate", "--models", "popularity,recent,ease", "--no-tune", "--bootstrap", "200", "--k", "10")
    out = capsys.readouterr().out
    rows = query(db, "select model, slice, metric, value, n_users from ml.evaluation_runs where stage = 'test'")
    got = {(r.model, r.slice, r.metric): (r.value, r.n_users) for r in rows.itertuples()}
    for model in ("popularity", "recent", "ease"):
        value, n = got[(model, "all", "ndcg")]
        assert got[(model, "all", "ndcg_low")][0] <= value <= got[(model, "all", "ndcg_high")][0]
        assert n == sum(got[(model, s, "ndcg")][1] for s in ("warm_users", "cold_users", "new_users"))
        assert f"all NDCG@10 (n={n})" in out
    diff = got[("ease", "all", "ndcg_diff:popularity")][0]
    assert diff == pytest.approx(got[("ease", "all", "ndcg")][0] - got[("popularity", "all", "ndcg")][0])
    per_user = query(db, "select model, user_id, value, history from ml.evaluation_user_metrics "
                         "where metric = 'ndcg' and k = 10")  # fmt: skip
    means = per_user.groupby("model")["value"].mean()
    for model in ("popularity", "recent", "ease"):
        assert means[model] == pytest.approx(got[(model, "all", "ndcg")][0])
    assert (per_user.groupby("model").size() == got[("ease", "all", "ndcg")][1]).all()


def test_evaluate_on_a_split_file_uses_its_rows(planted_db, tmp_path, capsys):
    db, _, ratings = planted_db
    rng = np.random.default_rng(1)
    split = pd.DataFrame({"user": ratings["user_id"], "item": ratings["film_id"], "rating": ratings["rating"],
                          "timestamp": ratings["rated_at"].astype("int64") // 10**9,
                          "split": rng.choice(["train"] * 8 + ["valid", "test"], size=len(ratings))})  # fmt: skip
    split = split[split["rating"] >= 4]
    path = tmp_path / "split.csv"
    split.to_csv(path, index=False)
    run("evaluate", "--split-file", str(path), "--models", "popularity,ease", "--no-tune", "--bootstrap", "50")
    rows = query(db, "select model, metric, value, n_users, protocol->>'split' as split, "
                     "protocol->>'file' as file from ml.evaluation_runs "
                     "where stage = 'test' and slice = 'all' and k = 10")  # fmt: skip
    assert (rows["split"] == "file").all() and (rows["file"] == str(path)).all()
    n = rows.loc[rows["metric"] == "ndcg", "n_users"]
    assert (n == split.loc[split["split"] == "test", "user"].nunique()).all()
    ndcg = rows[rows["metric"] == "ndcg"].set_index("model")["value"]
    assert ndcg["ease"] > ndcg["popularity"]
    with pytest.raises(WarehouseError, match="exclude each other"):
        run("evaluate", "--split-file", str(path), "--cohort", "club")


def test_a_user_without_positive_ratings_gets_the_popularity_fallback(planted_db):
    db, _, ratings = planted_db
    with warehouse.connect(db) as conn, conn.transaction():
        last = ratings["rated_at"].max()
        low = pd.DataFrame({"user_id": [999, 999], "film_id": [1, 2], "rating": [1.0, 1.5],
                            "rated_at": last, "updated_at": last})  # fmt: skip
        warehouse.copy_frame(conn, "raw.ratings", low)
    run("recommend", "--model", "ease", "-n", "5", "--user", "999", "--param", "prior_half_life=null")
    recs = query(db, "select film_id, because_film_id from ml.recommendations where user_id = 999 order by rank")
    liked = ratings[ratings["rating"] >= 4].groupby("film_id").size().drop([1, 2], errors="ignore")
    expected = liked.reset_index().sort_values([0, "film_id"], ascending=[False, True])["film_id"].head(5)
    assert recs["film_id"].tolist() == expected.tolist()
    assert recs["because_film_id"].isna().all()


def test_predict_writes_normalised_distributions_that_follow_the_cohort(planted_db):
    db, group, _ = planted_db
    run("predict", "--user", "1", "--user", "2")
    pred = query(db, "select cohort_id, user_id, film_id, expected_rating, distribution from ml.rating_predictions")
    assert len(pred) > 0
    assert set(pred["cohort_id"]) == {"everyone"}  # the site-wide cohort, under the name the marts give it
    sums = pred["distribution"].map(lambda s: sum(float(x) for x in s.strip("{}").split(",")))
    assert np.allclose(sums, 1.0, atol=1e-4)
    # P_film comes from the cohort: with the user's own taste cluster as cohort, the own genre wins
    run("cluster", "--k-min", "3", "--k-max", "3", "--films", "90", "--min-ratings", "5")
    cohort = query(db, "select cohort_id from ml.user_clusters where user_id = 1")["cohort_id"][0]
    run("predict", "--user", "1", "--cohort", cohort)
    pred = query(db, "select film_id, expected_rating from ml.rating_predictions where cohort_id = %s", (cohort,))
    own = (pred["film_id"] - 1) % N_GROUPS == group[0]
    assert pred.loc[own, "expected_rating"].mean() > pred.loc[~own, "expected_rating"].mean() + 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["recommend", "--cohort", "nope"], "unknown cohort 'nope'"),
        (["cluster", "--k-min", "1"], "--k-min must be >= 2"),
        (["recommend", "--diversity", "1.5"], "--diversity must be in"),
        (["recommend", "--param", "lambada=3"], "unknown parameter 'lambada'"),
    ],
)
def test_bad_arguments_are_refused_with_one_line(planted_db, argv, message):
    with pytest.raises(WarehouseError, match=re.escape(message)) as err:
        run(*argv)
    assert "\n" not in str(err.value)


def test_empty_training_set_is_refused(db, monkeypatch):
    monkeypatch.setenv("PGDATABASE", db)
    with pytest.raises(WarehouseError, match=r"no ratings in raw\.ratings"):
        run("evaluate", "--models", "popularity")
    status = query(db, "select status from ops.insight_runs")
    assert status["status"].tolist() == ["failed"]


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from python_jobs import warehouse
    from tests.python.test_recsys_jobs import run

    original = warehouse.copy_frame

    def copy_then_die(conn, table, frame, *args, **kwargs):
        original(conn, table, frame, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)  # after the new rows are sent, before the commit

    warehouse.copy_frame = copy_then_die
    run(*sys.argv[1:])
    """
)


def test_a_run_killed_mid_write_leaves_the_previous_output(planted_db):
    db, _, _ = planted_db
    run("recommend", "--model", "ease", "-n", "5")
    before = query(db, "select * from ml.recommendations order by model, user_id, rank")
    env = dict(os.environ, PGDATABASE=db)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, "recommend", "--model", "itemknn", "-n", "3", "--user", "1"],
        env=env, cwd=warehouse.project_root(), capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    after = query(db, "select * from ml.recommendations order by model, user_id, rank")
    pd.testing.assert_frame_equal(before, after)
    runs = query(db, "select job, status from ops.insight_runs order by run_id")
    assert runs["status"].tolist() == ["succeeded", "running"]


def test_similar_stores_the_index_recall_against_exact_search_in_its_run(planted_db):
    db, _, _ = planted_db
    run("similar", "--model", "als", "-n", "5")
    note = query(db, "select parameters->>'index' as index, (parameters->>'ann_recall_at_10')::float as recall "
                     "from ops.insight_runs where job = 'similar' and status = 'succeeded' "
                     "order by run_id desc limit 1")
    assert note["index"][0] == "ann" and note["recall"][0] >= 0.9


def test_evaluate_reuses_a_stored_tuning_while_the_data_is_unchanged(planted_db, capsys):
    db, _, _ = planted_db
    run("evaluate", "--models", "popularity,ease", "--bootstrap", "0")
    run("evaluate", "--models", "popularity,ease", "--bootstrap", "0")
    runs = query(db, "select run_id, protocol->>'tuning' as tuning, count(*) filter (where stage = 'validation') as v "
                     "from ml.evaluation_runs group by 1, 2 order by 1 desc limit 2")
    assert runs["tuning"][0].startswith("reused from run") and runs["v"][0] == 0
    assert runs["tuning"][1] == "validation grid" and runs["v"][1] > 0
    first, second = (int(r) for r in runs["run_id"])
    chosen = query(db, "select run_id, parameters from ml.evaluation_runs where stage = 'test' and model = 'ease' "
                       f"and run_id in ({first}, {second})")
    assert chosen["parameters"][0] == chosen["parameters"][1]
    run("evaluate", "--models", "popularity,ease", "--bootstrap", "0", "--retune")
    last = query(db, "select protocol->>'tuning' as tuning from ml.evaluation_runs order by run_id desc limit 1")
    assert last["tuning"][0] == "validation grid"
