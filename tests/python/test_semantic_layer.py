"""The semantic layer (models/marts/semantic): `mf validate-configs` accepts it against a built warehouse, and
`mf query` answers the questions it is for with the numbers an independent computation gets from user_activity,
raw.ratings, the membership and the films (pandas, not the metrics' formulas), and with activity_digest's active
members.

MetricFlow reads the semantic manifest from <project>/target/semantic_manifest.json, and the manifest names each
relation with its database. So each module parses the project into a folder of its own (the project's files linked
in, its own target/) for the module's throwaway database, and runs mf there: parallel runs and the developer's own
target/ are left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, query

from python_jobs import warehouse


def project_entries() -> list[str]:
    """dbt_project.yml and every folder it names (models, macros, seeds, tests, analyses, snapshots, ...)."""
    config = yaml.safe_load((ROOT / "dbt_project.yml").read_text())
    folders = {f for key, value in config.items() if key.endswith("-paths") and key != "clean-targets" for f in value}
    return ["dbt_project.yml", *sorted(f for f in folders if (ROOT / f).exists())]


def mf(project: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the mf CLI in the module's project folder against its database."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "mf"), *args],
        cwd=project["dir"], env=project["env"], capture_output=True, text=True,
    )  # fmt: skip
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        raise AssertionError(f"mf {' '.join(args)} failed ({proc.returncode}):\n{tail}")
    return proc


def naive_utc(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True).dt.tz_localize(None)


def mf_query(project: dict, csv: Path, *args: str) -> pd.DataFrame:
    mf(project, "query", *args, "--csv", str(csv), "--quiet")
    return pd.read_csv(csv)


@pytest.fixture(scope="module")
def semantic(site, tmp_path_factory) -> Iterator[dict]:
    """The generated site's database with the semantic manifest parsed for it: {"db", "dir", "env"}."""
    folder = tmp_path_factory.mktemp("mf_project")
    for entry in project_entries():
        (folder / entry).symlink_to(ROOT / entry)
    if not (ROOT / "profiles.yml").exists():
        (ROOT / "profiles.yml").write_text((ROOT / "profiles.yml.example").read_text())
    env = dict(os.environ, PGDATABASE=site["db"], DBT_PROFILES_DIR=str(ROOT), DBT_PROJECT_DIR=str(folder))
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        [str(dbt), "parse", "--project-dir", str(folder), "--target-path", str(folder / "target"),
         "--log-path", str(folder / "logs")],
        cwd=folder, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (folder / "target" / "semantic_manifest.json").exists()
    yield {"db": site["db"], "dir": folder, "env": env}


def test_mf_validate_configs_accepts_the_semantic_layer_against_the_warehouse(semantic):
    proc = mf(semantic, "validate-configs")
    out = proc.stdout + proc.stderr
    # one line per stage: the manifest's semantics, then semantic models, dimensions, entities, measures and
    # metrics each run against the built warehouse
    assert out.count("(ERRORS: 0, FUTURE_ERRORS: 0") == 6, out[-3000:]
    assert "Successfully validated metrics against data warehouse" in out


def live_ratings_of_members(db: str, cohort_id: str) -> pd.DataFrame:
    """The cohort's current members' live raw.ratings rows, with the film's release year."""
    rows = query(db, """
        select r.user_id, r.film_id, r.rating::float8, r.liked::int, r.favorite::int, f.release_year
        from raw.ratings as r
        inner join raw.cohort_members as m on m.user_id = r.user_id and m.cohort_id = %s and not m.deleted
        left join raw.films as f on f.film_id = r.film_id
        where not r.deleted
    """, (cohort_id,))  # fmt: skip
    return pd.DataFrame(rows, columns=["user_id", "film_id", "rating", "liked", "favorite", "release_year"])


def member_events(db: str, cohort_id: str) -> pd.DataFrame:
    rows = query(db, """
        select a.event_type, a.user_id, a.film_id, a.rating::float8, a.event_date
        from marts.user_activity as a
        where a.user_id in (select user_id from raw.cohort_members where cohort_id = %s and not deleted)
    """, (cohort_id,))  # fmt: skip
    return pd.DataFrame(rows, columns=["event_type", "user_id", "film_id", "rating", "event_date"])


def test_like_rate_by_decade_matches_likes_counted_from_user_activity(semantic, tmp_path):
    """"Like rate by decade for the 2010s": likes are user_activity's liked events, watchers every live log in
    raw.ratings, the decade the release year floored in pandas."""
    db = semantic["db"]
    got = mf_query(
        semantic, tmp_path / "decades.csv",
        "--metrics", "like_rate,favorite_rate,watchers,likes",
        "--group-by", "film__release_decade",
        "--where", "{{ Entity('cohort') }} = 'everyone'",
    )  # fmt: skip
    logs = live_ratings_of_members(db, "everyone")
    events = member_events(db, "everyone")
    decade_of = (logs.drop_duplicates("film_id").set_index("film_id")["release_year"] // 10 * 10).to_dict()
    liked = events[events["event_type"] == "liked"]
    favorited = events[events["event_type"] == "favorited"]
    expected = pd.DataFrame({
        "watchers": logs.groupby(logs["film_id"].map(decade_of)).size(),
        "likes": liked.groupby(liked["film_id"].map(decade_of)).size(),
        "favorites": favorited.groupby(favorited["film_id"].map(decade_of)).size(),
    }).fillna(0)  # fmt: skip
    assert expected["likes"].sum() > 100, "the generated site should have likes"
    assert len(expected) >= 3

    got = got.dropna(subset=["film__release_decade"]).set_index("film__release_decade").sort_index()
    got.index = got.index.astype(int)
    expected = expected.sort_index()
    assert list(got.index) == list(expected.index)
    assert list(got["watchers"]) == list(expected["watchers"].astype(int))
    assert list(got["likes"]) == list(expected["likes"].astype(int))
    assert got["like_rate"].to_numpy() == pytest.approx((expected["likes"] / expected["watchers"]).to_numpy())
    assert got["favorite_rate"].to_numpy() == pytest.approx((expected["favorites"] / expected["watchers"]).to_numpy())

    # the one decade only, as an analyst asks it
    the_2010s = mf_query(
        semantic, tmp_path / "2010s.csv",
        "--metrics", "like_rate", "--group-by", "film__release_decade",
        "--where", "{{ Entity('cohort') }} = 'everyone'",
        "--where", "{{ Dimension('film__release_decade') }} = 2010",
    )  # fmt: skip
    assert list(the_2010s["film__release_decade"]) == [2010]
    assert the_2010s["like_rate"].iloc[0] == pytest.approx(expected.loc[2010, "likes"] / expected.loc[2010, "watchers"])


def test_genre_metrics_count_a_film_in_each_of_its_genres(semantic, tmp_path):
    """The saved query cohort_genres for everyone, against the members' logs exploded over raw.films.genres."""
    db = semantic["db"]
    got = mf_query(
        semantic, tmp_path / "genres.csv", "--saved-query", "cohort_genres",
        "--where", "{{ Entity('cohort') }} = 'everyone'",
    )  # fmt: skip
    logs = live_ratings_of_members(db, "everyone")
    genres = pd.DataFrame(query(db, "select film_id, genres from raw.films"), columns=["film_id", "genre"])
    logs = logs.merge(genres.explode("genre").dropna(), on="film_id")
    by_genre = logs.groupby("genre").agg(
        ratings=("rating", "count"), mean=("rating", "mean"), likes=("liked", "sum"), watchers=("film_id", "size"),
    )  # fmt: skip
    assert len(by_genre) >= 5
    got = got.set_index("genre").sort_index()
    assert list(got.index) == list(by_genre.index)
    assert list(got["genre_ratings"].astype(int)) == list(by_genre["ratings"])
    assert got["genre_average_rating"].to_numpy() == pytest.approx(by_genre["mean"].to_numpy())
    assert got["genre_like_rate"].to_numpy() == pytest.approx((by_genre["likes"] / by_genre["watchers"]).to_numpy())


def test_a_clubs_view_of_one_film_by_month_matches_its_members_rated_events(semantic, tmp_path):
    """"How did our club's view of film X move": ratings and mean rating per month, and the running mean, for a
    saved cohort and its most rated film, against the members' rated events in user_activity."""
    db = semantic["db"]
    cohort_id = query(db, "select cohort_id from raw.cohorts where kind = 'saved' order by cohort_id limit 1")[0][0]
    rated = member_events(db, cohort_id)
    rated = rated[rated["event_type"] == "rated"]
    film_id = int(rated.groupby("film_id").size().sort_values(kind="stable", ascending=False).index[0])
    film = rated[rated["film_id"] == film_id].copy()
    assert len(film) >= 3
    film["month"] = pd.to_datetime(film["event_date"]).dt.to_period("M").dt.to_timestamp()
    by_month = film.groupby("month")["rating"].agg(["size", "sum"])
    by_month["to_date"] = by_month["sum"].cumsum() / by_month["size"].cumsum()
    first, last = film["event_date"].min(), film["event_date"].max()

    got = mf_query(
        semantic, tmp_path / "film.csv",
        "--metrics", "ratings,average_rating,average_rating_to_date",
        "--group-by", "metric_time__month",
        "--where", f"{{{{ Entity('cohort') }}}} = '{cohort_id}' and {{{{ Entity('film') }}}} = {film_id}",
        "--where", f"{{{{ TimeDimension('metric_time', 'day') }}}} between '{first}' and '{last}'",
        "--order", "metric_time__month",
    )  # fmt: skip
    got["month"] = naive_utc(got["metric_time__month"])
    # the running mean has a row for every month of the range, ratings only for months with some
    assert list(got["month"]) == list(pd.date_range(by_month.index.min(), by_month.index.max(), freq="MS"))
    got = got.set_index("month")
    with_ratings = got.loc[by_month.index]
    assert list(with_ratings["ratings"].astype(int)) == list(by_month["size"])
    assert with_ratings["average_rating"].to_numpy() == pytest.approx((by_month["sum"] / by_month["size"]).to_numpy())
    expected_to_date = by_month["to_date"].reindex(got.index).ffill()
    assert got["average_rating_to_date"].to_numpy() == pytest.approx(expected_to_date.to_numpy())


def test_saved_query_active_members_by_week_equals_activity_digest(semantic, tmp_path):
    """The saved query's active members per cohort and week are activity_digest's (its own incremental code)."""
    db = semantic["db"]
    got = mf_query(semantic, tmp_path / "weeks.csv", "--saved-query", "cohort_active_members_by_week")
    got["week_start"] = naive_utc(got["metric_time__week"]).dt.date
    got = got.set_index(["cohort", "week_start"])["active_members"].astype(int).sort_index()
    rows = query(db, "select cohort_id, week_start, active_members from marts.activity_digest where active_members > 0")
    digest = pd.DataFrame(rows, columns=["cohort", "week_start", "active_members"])
    digest = digest.set_index(["cohort", "week_start"])["active_members"].astype(int).sort_index()
    assert len(digest) > 50
    assert got.to_dict() == digest.to_dict()


def test_metrics_are_per_cohort_a_member_counted_once_per_cohort(semantic, tmp_path):
    """Grouped by cohort, ratings are each cohort's members' live star ratings (the documented grain)."""
    db = semantic["db"]
    got = mf_query(semantic, tmp_path / "cohorts.csv", "--metrics", "ratings", "--group-by", "cohort")
    rows = query(db, """
        select m.cohort_id, count(r.rating)
        from raw.cohort_members as m
        inner join raw.ratings as r on r.user_id = m.user_id and not r.deleted
        where not m.deleted
        group by m.cohort_id
    """)  # fmt: skip
    assert dict(zip(got["cohort"], got["ratings"].astype(int), strict=True)) == dict(rows)
    with warehouse.connect(db) as conn:
        assert conn.execute("select count(*) from marts.cohort_catalog").fetchone()[0] >= len(rows)
