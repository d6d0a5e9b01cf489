"""The Streamlit app (python_jobs/app) run headless by Streamlit's AppTest against a real site built by dbt.

The app connects as the site's front-door role (bi_reader plus insert on raw.feedback), so a page that read
anything but the marts would fail here. What each page shows is compared with the marts, read by the test's
own SQL; the variety toggle is judged by what it is for (fewer shared genres), not by its formula.
"""

from __future__ import annotations

from datetime import timezone
from itertools import combinations

import pytest
from conftest import ROOT, make_database, query
from psycopg import sql
from streamlit.testing.v1 import AppTest

from python_jobs import warehouse
from python_jobs.app import ui
from python_jobs.serve import queries

PAGES = ROOT / "python_jobs" / "app"


@pytest.fixture
def page(site, monkeypatch):
    monkeypatch.setenv("FILM_COHORTS_DB", site["db"])
    monkeypatch.setenv("FILM_COHORTS_APP_ROLE", site["role"])

    def open_page(name: str) -> AppTest:
        at = AppTest.from_file(str(PAGES / name), default_timeout=90)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


def film_ids(at: AppTest, surface: str) -> list[int]:
    """The films a page lists on a surface, in order, read off their Save buttons' keys."""
    prefix = f"save-{surface}-"
    return [int(b.key.removeprefix(prefix)) for b in at.button if b.key and b.key.startswith(prefix)]


def test_home_page_counts_the_catalogue(site, page):
    at = page("Home.py")
    cohorts = query(site["db"], "select count(distinct cohort_id) from marts.cohort_film_stats")[0][0]
    assert at.metric[0].label == "Cohorts" and int(at.metric[0].value) == cohorts


def test_rankings_page_is_the_marts_top_n_of_a_slice(site, page):
    db = site["db"]
    at = page("pages/1_Rankings.py")
    at.selectbox(key="rankings-cohort").set_value("saved:film-club")
    at.selectbox(key="rankings-strategy").set_value("engagement")
    at.radio(key="rankings-top").set_value(100)
    at.selectbox(key="rankings-decade").set_value(2010)
    at.run()
    assert not at.exception
    shown = at.dataframe[0].value
    expected = query(
        db,
        """
        select r.rank, r.film_id, c.title, r.score, i.consensus_label,
               array[s.bucket_0_5, s.bucket_1_0, s.bucket_1_5, s.bucket_2_0, s.bucket_2_5,
                     s.bucket_3_0, s.bucket_3_5, s.bucket_4_0, s.bucket_4_5, s.bucket_5_0]
        from marts.film_rankings r
        join marts.film_catalog c using (film_id)
        join marts.ranking_insights i on i.cohort_id = r.cohort_id and i.film_id = r.film_id
        join marts.cohort_film_stats s on s.cohort_id = r.cohort_id and s.film_id = r.film_id
        where r.cohort_id = 'saved:film-club' and r.strategy = 'engagement' and c.release_decade = 2010
        order by r.rank limit 100
        """,
    )
    assert 10 < len(expected) < 100, "the slice must cut the cohort's list for this test to mean anything"
    assert list(shown["rank"]) == [e[0] for e in expected]
    assert list(shown["title"]) == [e[2] for e in expected]
    assert [float(x) for x in shown["score"]] == pytest.approx([float(e[3]) for e in expected])
    assert list(shown["label"]) == [e[4] for e in expected]
    assert [list(h) for h in shown["histogram"]] == [[int(n) for n in e[5]] for e in expected]
    assert set(shown["year"]) <= set(range(2010, 2020))

    # the detail of the third film: its components as the mart holds them
    at.selectbox(key="rankings-film").set_value(2).run()
    components = at.dataframe[1].value
    mart = query(
        db,
        "select component_bayesian, component_like_wilson, weight_like_wilson from marts.film_rankings "
        "where cohort_id = 'saved:film-club' and strategy = 'engagement' and film_id = %s",
        (expected[2][1],),
    )[0]
    by_name = components.set_index("component")
    assert float(by_name.loc["bayesian", "value"]) == pytest.approx(float(mart[0]))
    assert float(by_name.loc["like_wilson", "value"]) == pytest.approx(float(mart[1]))
    assert float(by_name.loc["like_wilson", "weight"]) == pytest.approx(float(mart[2]))


def test_rankings_list_slice_and_the_follow_cohort_on_demand(site, page):
    db = site["db"]
    at = page("pages/1_Rankings.py")
    slate = query(db, "select list_id from marts.list_films where list_kind = 'curated' order by list_id limit 1")[0][0]
    at.selectbox(key="rankings-list").set_value(slate).run()
    shown = at.dataframe[0].value
    members = {
        t
        for (t,) in query(
            db,
            "select c.title from marts.list_films l join marts.film_catalog c using (film_id) where l.list_id = %s",
            (slate,),
        )
    }
    assert len(shown) > 0 and set(shown["title"]) <= members

    # "me + people I follow" for user 3 is what the materialised cohort follows:<username> ranks by bayesian
    username = query(db, "select username from raw.users where user_id = 3")[0][0]
    at.radio(key="rankings-mode").set_value("Me + people I follow")
    at.run()
    at.number_input(key="rankings-member").set_value(3).run()
    assert not at.exception
    follows = at.dataframe[0].value
    expected = query(
        db,
        "select r.rank, c.title from marts.film_rankings r join marts.film_catalog c using (film_id) "
        "where r.cohort_id = %s and r.strategy = 'bayesian' order by r.rank limit 50",
        (f"follows:{username}",),
    )
    assert len(expected) == 50
    assert list(zip(follows["rank"], follows["title"], strict=True)) == expected


def test_divergence_against_everyone_and_against_another_cohort(site, page):
    db = site["db"]
    at = page("pages/2_Divergence.py")
    at.selectbox(key="divergence-cohort").set_value("saved:film-club")
    at.radio(key="divergence-direction").set_value("loves")
    at.run()
    shown = at.dataframe[0].value
    expected = query(
        db,
        "select c.title, d.delta from marts.cohort_divergence d join marts.film_catalog c using (film_id) "
        "where d.cohort_id = 'saved:film-club' and d.delta > 0 and d.ratings_count >= 5 "
        "order by d.delta desc, d.film_id limit 25",
    )
    assert list(shown["title"]) == [t for t, _ in expected]
    assert list(shown["delta"]) == pytest.approx([float(d) for _, d in expected])

    at.selectbox(key="divergence-vs").set_value("saved:office").run()
    shown = at.dataframe[0].value
    pairs = query(
        db,
        "select c.title, a.cohort_avg_rating, b.cohort_avg_rating from marts.cohort_divergence a "
        "join marts.cohort_divergence b on b.film_id = a.film_id and b.cohort_id = 'saved:office' "
        "join marts.film_catalog c on c.film_id = a.film_id "
        "where a.cohort_id = 'saved:film-club' and a.ratings_count >= 5 and b.ratings_count >= 5",
    )
    gaps = sorted((float(a) - float(b) for _, a, b in pairs if a > b), reverse=True)[:25]
    assert list(shown["delta"]) == pytest.approx(gaps)
    assert (shown["cohort average"] > shown["other average"]).all()


def test_overlap_heatmap_people_and_activity_read_their_marts(site, page):
    db = site["db"]
    at = page("pages/3_Overlap.py")
    at.selectbox(key="overlap-strategy").set_value("bayesian").run()
    pairs = at.dataframe[0].value
    n = query(db, "select count(*) from marts.cohort_overlap where strategy = 'bayesian' and top_n = 50")[0][0]
    assert len(pairs) == n > 0
    assert len(at.get("vega_lite_chart")) == 1

    at = page("pages/4_People.py")
    at.radio(key="people-role").set_value("director").run()
    names = list(at.dataframe[0].value["person_label"])
    expected = query(
        db,
        "select person_label from marts.person_stats where cohort_id = 'everyone' and person_role = 'director' "
        "and ratings_count >= 5 order by weighted_score desc nulls last, ratings_count desc, person_id limit 25",
    )
    assert names == [x for (x,) in expected] and names

    at = page("pages/5_Activity.py")
    follower = query(db, "select follower_id from marts.user_follows group by 1 order by count(*) desc limit 1")[0][0]
    at.number_input(key="activity-member").set_value(follower).run()
    feed = at.dataframe[0].value
    circle = {follower} | {
        f for (f,) in query(db, "select followee_id from marts.user_follows where follower_id = %s", (follower,))
    }
    assert len(feed) == 50 and set(feed["user_id"]) <= circle and len(set(feed["user_id"])) > 1
    assert list(feed["event_at"]) == sorted(feed["event_at"], reverse=True)
    newest = query(db, "select max(event_at) from marts.user_activity where user_id = any(%s)", (list(circle),))[0][0]
    assert feed["event_at"].iloc[0] == newest
    # the busy days of the member and the people they follow (member_bursts), and the feed's events on them
    bursts = query(
        db,
        "select activity_day, user_id, events from marts.member_bursts where user_id = any(%s) "
        "order by activity_day desc, user_id limit 20",
        (list(circle),),
    )
    assert bursts, "the busiest follower's circle should have busy days"
    shown = at.dataframe[1].value
    assert list(zip(shown["activity_day"], shown["user_id"], shown["events"], strict=True)) == bursts
    busy = set(query(db, "select user_id, activity_day from marts.member_bursts where user_id = any(%s)",
                     (list(circle),)))  # fmt: skip
    on_busy_days = [(u, t.astimezone(timezone.utc).date()) in busy for u, t in zip(feed["user_id"], feed["event_at"],
                                                                                   strict=True)]  # fmt: skip
    assert list(feed["busy_day"]) == on_busy_days
    at.toggle(key="activity-follows").set_value(False).run()
    assert set(at.dataframe[0].value["user_id"]) == {follower}
    weeks = at.dataframe[-1].value
    expected = query(
        db,
        "select week_start from marts.activity_digest where cohort_id = 'everyone' order by week_start desc limit 12",
    )
    assert list(weeks["week_start"]) == [w for (w,) in expected]


def genre_similarity(genres: list[set[str]]) -> float:
    """Mean genre Jaccard over the pairs of a list: lower is more varied."""
    pairs = [len(a & b) / len(a | b) if a | b else 1.0 for a, b in combinations(genres, 2)]
    return sum(pairs) / len(pairs)


def test_variety_toggle_picks_films_that_share_fewer_genres(site):
    db = site["db"]
    genres = {f: set(g or ()) for f, g in query(db, "select film_id, genres from marts.film_catalog")}
    plain, varied = [], []
    with warehouse.connect(db) as conn:
        for user in queries.recommended_members(conn, "itemknn", limit=40):
            top = queries.recommendations(conn, user, "itemknn", limit=5)
            mixed = queries.recommendations(conn, user, "itemknn", limit=5, diversity=0.5)
            stored = {r["film_id"] for r in queries.recommendations(conn, user, "itemknn", limit=100)}
            assert {r["film_id"] for r in mixed} <= stored and mixed[0]["film_id"] == top[0]["film_id"]
            plain.append(genre_similarity([genres[r["film_id"]] for r in top]))
            varied.append(genre_similarity([genres[r["film_id"]] for r in mixed]))
    assert sum(varied) / len(varied) < 0.8 * sum(plain) / len(plain)


def test_member_page_recommendations_with_reasons_variety_and_save(site, page):
    db = site["db"]
    at = page("pages/6_For_you.py")
    member = query(db, "select min(user_id) from marts.recommendations_explained")[0][0]
    assert at.number_input(key="foryou-member").value == member
    stored = query(
        db,
        "select film_id, explanation from marts.recommendations_explained "
        "where user_id = %s and model = 'itemknn' and cohort_id is null order by recommendation_rank",
        (member,),
    )
    assert film_ids(at, "recommendations") == [f for f, _ in stored[:5]]
    rows = [m.value for m in at.markdown if m.value.startswith("**")][:5]
    assert all(ui.md(explanation) in row for (_, explanation), row in zip(stored[:5], rows, strict=True))
    assert "Because you liked" in stored[0][1]

    at.toggle(key="foryou-variety").set_value(True).run()
    varied = film_ids(at, "recommendations")
    assert len(varied) == 5 and set(varied) <= {f for f, _ in stored} and varied[0] == stored[0][0]

    # save the second film shown: one batch-stamped row, written as the front-door role
    high_water = query(db, "select ops.batch_high_water()")[0][0]
    before = query(db, "select count(*) from raw.feedback")[0][0]
    at.button(key=f"save-recommendations-{varied[1]}").click().run()
    assert not at.exception
    rows = query(db, "select user_id, film_id, action, surface, batch_id from raw.feedback order by feedback_id")
    assert len(rows) == before + 1
    assert rows[-1][:4] == (member, varied[1], "save", "recommendations") and rows[-1][4] > high_water
    assert at.success and "Saved" in at.success[0].value


def test_search_is_literal_and_opens_similar_films(site, page):
    db = site["db"]
    at = page("pages/6_For_you.py")
    at.text_input(key="foryou-search").set_value("100%").run()
    assert [b.key for b in at.button if b.key.startswith("similar-to-")] == ["similar-to-9001"]
    at.text_input(key="foryou-search").set_value("qzv_").run()
    assert [b.key for b in at.button if b.key.startswith("similar-to-")] == ["similar-to-9002"]

    film, title = query(
        db,
        "select s.film_id, c.title from marts.similar_films_explained s join marts.film_catalog c using (film_id) "
        "group by 1, 2 order by count(*) desc, 1 limit 1",
    )[0]
    at.text_input(key="foryou-search").set_value(title).run()
    at.button(key=f"similar-to-{film}").click().run()
    assert f"Similar to {title}" in [s.value for s in at.subheader]
    expected = query(
        db,
        "select similar_film_id from marts.similar_films_explained where film_id = %s and model = 'itemknn' "
        "order by similar_rank limit 10",
        (film,),
    )
    assert film_ids(at, "similar") == [f for (f,) in expected] and expected
    at.button(key=f"like-similar-{expected[0][0]}").click().run()
    row = query(db, "select film_id, action, surface from raw.feedback order by feedback_id desc limit 1")[0]
    assert row == (expected[0][0], "like", "similar")


def test_save_without_the_right_to_write_feedback_says_so_and_writes_nothing(site, page):
    db = site["db"]
    ident = sql.Identifier(site["role"])
    at = page("pages/6_For_you.py")
    first = film_ids(at, "recommendations")[0]
    before = query(db, "select count(*) from raw.feedback")[0][0]
    with warehouse.connect(db, autocommit=True) as conn:
        conn.execute(sql.SQL("revoke insert on raw.feedback from {}").format(ident))
    try:
        at.button(key=f"save-recommendations-{first}").click().run()
        assert not at.exception and at.error and "raw.feedback" in at.error[0].value
        assert query(db, "select count(*) from raw.feedback")[0][0] == before
    finally:
        with warehouse.connect(db, autocommit=True) as conn:
            conn.execute(sql.SQL("grant insert on raw.feedback to {}").format(ident))


def test_pages_without_marts_say_what_to_run(server, monkeypatch):
    name = make_database("app_nomarts")
    try:
        monkeypatch.setenv("FILM_COHORTS_DB", name)
        monkeypatch.delenv("FILM_COHORTS_APP_ROLE", raising=False)
        at = AppTest.from_file(str(PAGES / "pages" / "1_Rankings.py"), default_timeout=60).run()
        assert not at.exception
        assert at.error and "make demo" in at.error[0].value and name in at.error[0].value
    finally:
        warehouse.drop_database(name)
