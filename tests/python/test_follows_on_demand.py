"""The on-demand "me + the people I follow" ranking (python_jobs/serve/follows.py) against the materialised one.

One generated site; a few members get their follow cohort defined the way a user would (`cohort follows
USER_ID`, python_jobs.cohorts), then dbt builds film_rankings from cohort_film_stats. The on-demand query
reads only user_follows, user_activity and film_catalog, so agreeing with film_rankings' bayesian rows of
those cohorts checks one path against an independent one (histograms and the distribution features on one
side, raw ratings events on the other).
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import ROOT, make_database, run_dbt

from python_jobs import cohorts, warehouse
from python_jobs.generator import Generator, GeneratorConfig
from python_jobs.serve import follows

# several engineers share one server: this names the throwaway database
DB_PREFIX = os.environ.get("FILM_COHORTS_TEST_DB_PREFIX", "follows_test")
RANKING_COLUMNS = "rank, film_id, score, ratings_count, avg_rating, cohort_avg_rating, ranked_films"


@pytest.fixture(scope="module")
def site(server):
    """A generated site with follow cohorts defined for the two heaviest followers and a light one."""
    name = make_database(DB_PREFIX)
    try:
        plan = Generator(GeneratorConfig(users=500, films=300, seed=31))
        with warehouse.connect(name) as conn:
            plan.write_all(conn)
            counts = conn.execute(
                "select follower_id, count(*) from raw.follows group by follower_id order by count(*) desc, follower_id"
            ).fetchall()
            members = [counts[0][0], counts[1][0], counts[len(counts) // 2][0]]
            defined = {member: cohorts.follow_graph_cohort(conn, member) for member in members}
        run_dbt(name, "seed")
        run_dbt(name, "run", "--select", "+film_rankings", "+user_activity", "+film_catalog", "+user_follows")
        yield name, defined
    finally:
        warehouse.drop_database(name)


def materialised(conn, cohort_id: str, n: int) -> list[tuple]:
    return conn.execute(
        f"select {RANKING_COLUMNS} from marts.film_rankings "
        "where cohort_id = %s and strategy = 'bayesian' and rank <= %s order by rank",
        (cohort_id, n),
    ).fetchall()


def on_demand(conn, user_id: int, n: int) -> list[tuple]:
    return [
        (f.rank, f.film_id, f.score, f.ratings_count, f.avg_rating, f.cohort_avg_rating, f.ranked_films)
        for f in follows.top_films(conn, user_id, n)
    ]


@pytest.mark.parametrize("which", [0, 1, 2])
def test_on_demand_top_50_equals_materialised_follow_cohort(site, which):
    name, defined = site
    member, cohort_id = list(defined.items())[which]
    with warehouse.connect(name) as conn:
        expected = materialised(conn, cohort_id, 50)
        assert len(expected) == 50
        assert on_demand(conn, member, 50) == expected


def test_on_demand_whole_ranking_equals_materialised(site):
    name, defined = site
    with warehouse.connect(name) as conn:
        for member, cohort_id in defined.items():
            expected = materialised(conn, cohort_id, 10**6)
            assert len(expected) > 50
            assert on_demand(conn, member, 10**6) == expected, cohort_id


def test_on_demand_titles_come_from_the_catalogue(site):
    name, defined = site
    member = next(iter(defined))
    with warehouse.connect(name) as conn:
        titles = dict(conn.execute("select film_id, title from marts.film_catalog").fetchall())
        films = follows.top_films(conn, member)
    assert films and all(f.title == titles[f.film_id] for f in films)


def test_member_nobody_knows_gets_no_films(site):
    name, _ = site
    with warehouse.connect(name) as conn:
        assert follows.top_films(conn, -1) == []


def test_query_reads_marts_only_and_works_as_bi_reader(site):
    query = follows.query()
    relations = set(re.findall(r"\b(?:from|join)\s+(\w+)\.(\w+)", query))
    assert relations == {("marts", "user_follows"), ("marts", "user_activity"), ("marts", "film_catalog")}
    assert not re.search(r"\b(raw|ml|staging|intermediate|seeds|ops)\.", query)
    name, defined = site
    member, cohort_id = next(iter(defined.items()))
    with warehouse.connect(name) as conn:
        expected = materialised(conn, cohort_id, 50)
        # a non-superuser with CREATEROLE (CI's PostgreSQL 15) is not a member of the roles it creates
        conn.execute("grant bi_reader to current_user")
        conn.execute("set role bi_reader")
        assert on_demand(conn, member, 50) == expected


def test_the_analysis_defines_the_cohort_the_command_defines(site):
    """analyses/define_follow_cohort.sql and `cohort follows USER_ID` name the cohort alike (follows:<username>)
    and give it the same members: the command run after the analysis changes nothing."""
    name, defined = site
    with warehouse.connect(name) as conn:
        member, username, follows_count = conn.execute(
            "select f.follower_id, u.username, count(*) from raw.follows as f "
            "inner join raw.users as u on u.user_id = f.follower_id "
            "where f.follower_id <> all(%s) and u.username is not null "
            "and not exists (select 1 from raw.cohorts as c where c.cohort_id = 'follows:' || u.username) "
            "group by f.follower_id, u.username order by count(*) desc, f.follower_id limit 1",
            (list(defined),),
        ).fetchone()
    run_dbt(name, "compile", "--select", "define_follow_cohort", "--vars", f"{{user_id: {member}}}")
    compiled = next((ROOT / "target" / "tests" / name / "compiled").rglob("define_follow_cohort.sql")).read_text()
    members = "select user_id from raw.cohort_members where cohort_id = %s and not deleted order by user_id"
    with warehouse.connect(name) as conn:
        assert conn.execute(members, (f"follows:{username}",)).fetchall() == []
        conn.execute(compiled)
        conn.commit()
        from_analysis = [r[0] for r in conn.execute(members, (f"follows:{username}",))]
        assert len(from_analysis) == follows_count + 1 and member in from_analysis
        assert cohorts.follow_graph_cohort(conn, member) == f"follows:{username}"
        conn.commit()
        assert [r[0] for r in conn.execute(members, (f"follows:{username}",))] == from_analysis
