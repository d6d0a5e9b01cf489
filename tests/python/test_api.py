"""The HTTP API (python_jobs.api) with FastAPI's TestClient on a real database built by dbt.

One generated site (likes, lists, follows, diary) plus three films with %, _ and a space in their titles,
recommend and similar jobs, every mart built. The app connects as a role of its own that may read marts
and insert into raw.feedback, nothing else, so a query outside the marts fails the test that makes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from urllib.parse import quote

import psycopg
import pytest
import schemathesis
from conftest import grant_front_door, query, run_dbt
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from psycopg import sql
from schemathesis import GenerationMode

from python_jobs import warehouse
from python_jobs.api import deps
from python_jobs.api.app import create_app
from python_jobs.api.deps import Settings
from python_jobs.api.errors import ApiError
from python_jobs.serve import queries
from python_jobs.serve.cache import InProcessCache, Versioned, cohort_key, params_hash
from python_jobs.serve.pool import SimplePool, connection_kwargs

SQL_LEAKS = ("select ", "psycopg", "syntax error", "traceback", "marts.", "relation ")


RECORDED: list[tuple[str, object]] = []


class RecordingCursor(psycopg.Cursor):
    """Every statement the app sends, with its parameters (RECORDED)."""

    def execute(self, query, params=None, **kwargs):
        text = query.as_string(self.connection) if isinstance(query, sql.Composable) else str(query)
        RECORDED.append((text, params))
        return super().execute(query, params, **kwargs)


@contextmanager
def api(site, *, cache: Versioned | None = None) -> Iterator[TestClient]:
    role = site["role"]

    def configure(conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        conn.cursor_factory = RecordingCursor

    app = create_app(settings=Settings(dbname=site["db"], pool_size=2), cache=cache, configure=configure)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def client(site) -> Iterator[TestClient]:
    with api(site) as c:
        yield c


def mart_ranking(db: str, cohort_id: str, strategy: str) -> list[dict]:
    rows = query(
        db,
        """
        select r.rank, r.film_id, r.score, r.component_bayesian, r.weight_bayesian, r.ratings_count,
               c.release_year, c.release_decade, c.genres, c.original_language,
               coalesce(array_agg(l.list_id) filter (where l.list_id is not null), '{}') as lists,
               i.consensus_label
        from marts.film_rankings r
        join marts.film_catalog c using (film_id)
        left join marts.list_films l using (film_id)
        left join marts.ranking_insights i on i.cohort_id = r.cohort_id and i.film_id = r.film_id
        where r.cohort_id = %s and r.strategy = %s
        group by r.rank, r.film_id, r.score, r.component_bayesian, r.weight_bayesian, r.ratings_count,
                 c.release_year, c.release_decade, c.genres, c.original_language, i.consensus_label
        order by r.rank
        """,
        (cohort_id, strategy),
    )
    keys = (
        "rank film_id score component_bayesian weight_bayesian ratings_count release_year release_decade genres "
        "original_language lists consensus_label"
    ).split()
    return [dict(zip(keys, row, strict=True)) for row in rows]


def all_pages(client: TestClient, cohort_id: str, params: dict, limit: int) -> list[dict]:
    items, after = [], 0
    for _ in range(10_000):
        r = client.get(f"/cohorts/{quote(cohort_id)}/rankings", params={**params, "limit": limit, "after_rank": after})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        if page["next_after_rank"] is None:
            return items
        assert page["next_after_rank"] == page["items"][-1]["rank"]
        after = page["next_after_rank"]
    raise AssertionError("pagination did not end")


def test_rankings_equal_the_marts_rows(site, client):
    db = site["db"]
    cohorts = client.get("/cohorts").json()["cohorts"]
    assert {"everyone"} <= {c["cohort_id"] for c in cohorts}
    checked = 0
    for cohort in cohorts[:4]:
        for strategy in cohort["strategies"]:
            expected = mart_ranking(db, cohort["cohort_id"], strategy["strategy"])
            got = all_pages(client, cohort["cohort_id"], {"strategy": strategy["strategy"]}, 250)
            assert [(g["rank"], g["film_id"]) for g in got] == [(e["rank"], e["film_id"]) for e in expected]
            for g, e in zip(got, expected, strict=True):
                assert g["score"] == pytest.approx(float(e["score"]), abs=1e-9)
                assert g["ratings_count"] == e["ratings_count"]
                assert g["consensus_label"] == e["consensus_label"]
                bayes = e["component_bayesian"]
                assert g["components"]["bayesian"] == (None if bayes is None else pytest.approx(float(bayes)))
                assert g["weights"]["bayesian"] == pytest.approx(float(e["weight_bayesian"]))
                assert len(g["histogram"]) == 10 and sum(g["histogram"]) == g["ratings_count"]
            checked += 1
    assert checked >= 4


def slice_oracle(rows: list[dict], f: dict) -> list[int]:
    def keep(r: dict) -> bool:
        year = r["release_year"]
        return (
            ("release_year_min" not in f or (year is not None and year >= f["release_year_min"]))
            and ("release_year_max" not in f or (year is not None and year <= f["release_year_max"]))
            and ("decade" not in f or r["release_decade"] == f["decade"])
            and ("genre" not in f or f["genre"] in (r["genres"] or []))
            and ("language" not in f or r["original_language"] == f["language"])
            and ("list_id" not in f or f["list_id"] in r["lists"])
        )

    return [r["film_id"] for r in rows if keep(r)]


def test_filters_apply_before_the_top_n(site, client):
    db = site["db"]
    catalogue = client.get("/catalogue").json()
    assert catalogue["lists"] and catalogue["languages"] and catalogue["genres"]
    rows = mart_ranking(db, "everyone", "engagement")
    years = sorted(r["release_year"] for r in rows if r["release_year"] is not None)
    mid = years[len(years) // 2]
    busiest_list = max(catalogue["lists"], key=lambda x: x["films"])["list_id"]
    genre = catalogue["genres"][0]
    cases = [
        {"release_year_min": mid},
        {"release_year_max": mid},
        {"release_year_min": years[0] + 1, "release_year_max": mid},
        {"decade": mid // 10 * 10},
        {"genre": genre},
        {"language": catalogue["languages"][0]},
        {"list_id": busiest_list},
        {"genre": genre, "decade": mid // 10 * 10, "release_year_min": mid // 10 * 10 + 2},
    ]
    for filters in cases:
        expected = slice_oracle(rows, filters)
        assert expected or len(filters) > 1, filters
        for limit in (5, 100):
            r = client.get("/cohorts/everyone/rankings", params={"strategy": "engagement", "limit": limit, **filters})
            assert r.status_code == 200, r.text
            assert [i["film_id"] for i in r.json()["items"]] == expected[:limit], filters
    # a genre is matched in any case and answered in the catalogue's spelling
    r = client.get("/cohorts/everyone/rankings", params={"genre": genre.upper()})
    assert r.status_code == 200 and r.json()["filters"]["genre"] == genre


def test_keyset_pagination_covers_every_row_exactly_once(site, client):
    rows = mart_ranking(site["db"], "everyone", "bayesian")
    for filters, limit in (({}, 7), ({"genre": client.get("/catalogue").json()["genres"][1]}, 3)):
        got = [i["film_id"] for i in all_pages(client, "everyone", filters, limit)]
        assert len(got) == len(set(got))
        assert got == slice_oracle(rows, filters)
    # past the last rank: an empty last page
    last = rows[-1]["rank"]
    r = client.get("/cohorts/everyone/rankings", params={"after_rank": last})
    assert r.status_code == 200 and r.json()["items"] == [] and r.json()["next_after_rank"] is None


def test_a_page_the_stored_head_cannot_answer_is_ranked_on_read(site):
    """cohort_top_films cut to its first 3 ranks (in a transaction, rolled back): a page it fills comes from it,
    one it cannot fill (past the head, a filter with too few films in it) from film_rankings, and both equal
    the ranking."""
    rows = mart_ranking(site["db"], "everyone", "bayesian")
    genre = next(g for g in (r["genres"] or [] for r in rows[3:]) if g)[0]
    with warehouse.connect(site["db"]) as conn:
        conn.cursor_factory = RecordingCursor
        conn.execute("delete from marts.cohort_top_films where rank > 3")
        cases = [
            ({}, 0, 3, True),  # the head fills the page
            ({}, 0, 5, False),  # a page longer than the head
            ({}, 10, 5, False),  # past the head
            ({"genre": genre}, 0, 50, False),  # a filter the head cannot fill
        ]
        for filters, after, limit, from_head in cases:
            RECORDED.clear()
            got = queries.rankings(conn, "everyone", "bayesian", limit, after, queries.RankingSlice(**filters))
            expected = [r["film_id"] for r in rows if r["rank"] > after]
            expected = [f for f in expected if f in set(slice_oracle(rows, filters))][:limit]
            assert [g["film_id"] for g in got] == expected, (filters, after, limit)
            read_whole = any("film_rankings" in text for text, _ in RECORDED)
            assert read_whole is not from_head, (filters, after, limit)
        conn.rollback()


@pytest.mark.parametrize(
    ("path", "params", "status", "parameter", "says"),
    [
        ("/cohorts/everyone/rankings", {"strategy": "best"}, 422, "strategy", "bayesian"),
        ("/cohorts/everyone/rankings", {"release_year_min": 3000}, 422, "release_year_min", "at most 2100"),
        ("/cohorts/everyone/rankings", {"release_year_max": "soon"}, 422, "release_year_max", "whole number"),
        (
            "/cohorts/everyone/rankings",
            {"release_year_min": 2000, "release_year_max": 1990},
            400,
            "release_year_min",
            "",
        ),
        ("/cohorts/everyone/rankings", {"decade": 1995}, 422, "decade", "multiple of 10"),
        ("/cohorts/everyone/rankings", {"limit": 0}, 422, "limit", "at least 1"),
        ("/cohorts/everyone/rankings", {"limit": 1000}, 422, "limit", "at most 250"),
        ("/cohorts/everyone/rankings", {"after_rank": -1}, 422, "after_rank", "at least 0"),
        ("/cohorts/everyone/rankings", {"genre": "Nope"}, 422, "genre", "must be one of"),
        ("/cohorts/everyone/rankings", {"language": "xx-nope"}, 422, "language", "must be one of"),
        ("/cohorts/everyone/rankings", {"list_id": "no-such-list"}, 422, "list_id", "GET /catalogue"),
        ("/cohorts/everyone/divergences", {"direction": "up"}, 422, "direction", "'loves'"),
        ("/cohorts/everyone/divergences", {"versus": "everyone"}, 400, "versus", "another cohort"),
        ("/cohorts/everyone/divergences", {"versus": "no-such"}, 404, "versus", "GET /cohorts"),
        ("/cohorts/everyone/overlap", {"top_n": 7}, 422, "top_n", "must be one of"),
        ("/cohorts/everyone/people", {"role": "grip"}, 422, "role", "'director'"),
        ("/users/1/activity", {"cursor": "not-a-cursor"}, 422, "cursor", "next_cursor"),
        ("/users/1/recommendations", {"diversity": 1}, 422, "diversity", "below 1"),
        ("/users/1/recommendations", {"model": "magic"}, 422, "model", "must be one of"),
        ("/users/0/recommendations", {}, 422, "user_id", "at least 1"),
        ("/users/99999999/recommendations", {}, 404, "user_id", "no recommendations"),
        ("/films/search", {}, 422, "q", "required"),
        ("/films/search", {"q": "a", "limit": 51}, 422, "limit", "at most 50"),
        ("/films/search", {"q": "   "}, 422, "q", "besides spaces"),
        ("/films/search", {"q": "a\x00b"}, 422, "q", "NUL"),
        ("/films/123456789/similar", {}, 404, "film_id", "not in the catalogue"),
        ("/films/99999999999999999999", {}, 422, "film_id", "at most"),
    ],
)
def test_bad_parameters_get_a_4xx_naming_them(client, path, params, status, parameter, says):
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["parameter"] == parameter
    assert parameter in body["detail"] or status == 404
    assert says in body["detail"]
    assert body["detail"].endswith(".") and "\n" not in body["detail"]
    assert not any(leak in r.text.lower() for leak in SQL_LEAKS)


def test_a_strategy_the_cohort_does_not_rank_names_the_ones_it_does():
    """MovieLens cohorts rank no like_lower_bound (no likes); the generated site ranks every strategy everywhere."""
    catalogue = queries.Catalogue(
        cohorts={"everyone": {"bayesian": 10, "like_lower_bound": 10}, "age:18-24": {"bayesian": 8}},
        strategies=("bayesian", "like_lower_bound"),
        genres=(),
        languages=(),
        lists={},
        recommendation_models=(),
        similar_models=(),
        overlap_depths=(),
    )
    v = deps.View(conn=None, version=None, catalogue=catalogue, cache=None)
    assert deps.known_strategy(v, "everyone", "like_lower_bound") == "like_lower_bound"
    with pytest.raises(ApiError) as caught:
        deps.known_strategy(v, "age:18-24", "like_lower_bound")
    assert caught.value.status == 422 and caught.value.parameter == "strategy"
    assert "use one of bayesian." in caught.value.detail


INJECTIONS = [
    "everyone' or '1'='1",
    "everyone'; drop table marts.film_rankings; --",
    'everyone"; select pg_sleep(5); --',
    "everyone%' --",
    "x' union select cohort_id, strategy from marts.film_rankings --",
]


def test_injection_shaped_ids_get_404_and_reach_no_query(site, client):
    before = query(site["db"], "select count(*) from marts.film_rankings")[0][0]
    client.get("/cohorts")  # the catalogue is read once for this marts version
    RECORDED.clear()
    for bad in INJECTIONS:
        for path, params in (
            (f"/cohorts/{quote(bad, safe='')}/rankings", {}),
            (f"/cohorts/{quote(bad, safe='')}/divergences", {}),
            (f"/cohorts/{quote(bad, safe='')}/digest", {}),
            ("/cohorts/everyone/divergences", {"versus": bad}),
            ("/users/1/recommendations", {"cohort_id": bad}),
            ("/cohorts/everyone/rankings", {"strategy": bad}),
            ("/cohorts/everyone/rankings", {"list_id": bad}),
        ):
            r = client.get(path, params=params)
            assert r.status_code in (404, 422), (path, params, r.text)
            assert not any(leak in r.text.lower() for leak in ("psycopg", "syntax error", "traceback"))
    for text, params in RECORDED:
        assert not any(bad in text or bad in repr(params) for bad in INJECTIONS), text
    assert all("pg_locks" in text for text, _ in RECORDED), "only the marts-version query may run"
    assert query(site["db"], "select count(*) from marts.film_rankings")[0][0] == before


def test_search_escapes_percent_and_underscore(site, client):
    every_title = [t for (t,) in query(site["db"], "select title from marts.film_catalog")]

    def titles(q: str) -> list[str]:
        r = client.get("/films/search", params={"q": q, "limit": 50})
        assert r.status_code == 200, r.text
        found = [f["title"] for f in r.json()["items"]]
        assert sorted(found) == sorted(t for t in every_title if q.casefold() in t.casefold())[:50], q
        return found

    assert titles("%") == ["Qzv 100% Pure"]
    assert titles("0% p") == ["Qzv 100% Pure"]
    assert titles("qzv_") == ["Qzv_Score"]
    assert sorted(titles("qzv")) == ["Qzv 100% Pure", "Qzv Score", "Qzv_Score"]
    assert "Qzv Score" not in titles("_")
    assert titles("\\") == [] and titles("qzv'") == []
    assert queries.like_pattern("a%b_c\\") == "a\\%b\\_c\\\\"


def test_divergences_people_overlap_and_digest_read_their_marts(site, client):
    db = site["db"]
    cohort = next(c["cohort_id"] for c in client.get("/cohorts").json()["cohorts"] if c["cohort_id"] != "everyone")
    r = client.get(f"/cohorts/{quote(cohort)}/divergences", params={"direction": "loves", "min_ratings": 1, "limit": 5})
    assert r.status_code == 200, r.text
    expected = query(
        db,
        "select film_id from marts.cohort_divergence where cohort_id = %s and delta > 0 "
        "order by delta desc, film_id limit 5",
        (cohort,),
    )
    assert [i["film_id"] for i in r.json()["items"]] == [f for (f,) in expected]
    r = client.get(f"/cohorts/{quote(cohort)}/divergences", params={"versus": "everyone", "min_ratings": 1})
    assert r.status_code == 200 and all(i["other"] == "everyone" for i in r.json()["items"])

    r = client.get("/cohorts/everyone/people", params={"role": "director", "limit": 3})
    assert r.status_code == 200
    expected = query(
        db,
        "select person_id from marts.person_stats where cohort_id = 'everyone' and person_role = 'director' "
        "order by weighted_score desc nulls last, ratings_count desc, person_id limit 3",
    )
    assert [p["person_id"] for p in r.json()["items"]] == [p for (p,) in expected]

    depth = client.get("/catalogue").json()["overlap_depths"][0]
    r = client.get("/cohorts/everyone/overlap", params={"top_n": depth})
    assert r.status_code == 200
    n_pairs = query(
        db,
        "select count(*) from marts.cohort_overlap where strategy = 'bayesian' and top_n = %s "
        "and 'everyone' in (cohort_a, cohort_b)",
        (depth,),
    )[0][0]
    assert len(r.json()["items"]) == min(n_pairs, 100)
    matrix = client.get("/overlap", params={"top_n": depth}).json()["pairs"]
    assert all(p["cohort_a"] < p["cohort_b"] for p in matrix)

    weeks, before = [], None
    while True:
        params = {"limit": 2, **({"before_week": before} if before else {})}
        page = client.get("/cohorts/everyone/digest", params=params).json()
        weeks += [w["week_start"] for w in page["items"]]
        before = page["next_before_week"]
        if before is None:
            break
    expected = query(
        db, "select week_start::text from marts.activity_digest where cohort_id = 'everyone' order by 1 desc"
    )
    assert weeks == [w for (w,) in expected]


def test_activity_feed_pages_by_event_time(site, client):
    db = site["db"]
    follower = query(db, "select follower_id from marts.user_follows group by 1 order by count(*) desc limit 1")[0][0]
    for include in (False, True):
        got, cursor = [], None
        while True:
            params = {"limit": 9, "include_follows": include, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/users/{follower}/activity", params=params).json()
            got += [e["event_id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        expected = query(
            db,
            """
            select event_id from marts.user_activity
            where event_at is not null and (user_id = %(u)s or (%(f)s and user_id in (
                select followee_id from marts.user_follows where follower_id = %(u)s)))
            order by event_at desc, event_id desc
            """,
            {"u": follower, "f": include},
        )
        assert got == [e for (e,) in expected]
        assert len(got) == len(set(got))


BURSTS = """
select user_id, activity_day::text, events, ratings, diary_logs, active_days, median_events::float,
       times_median::float
from marts.member_bursts
where user_id = %(u)s or (%(f)s and user_id in (select followee_id from marts.user_follows where follower_id = %(u)s))
order by activity_day desc, user_id
"""
BURST_KEYS = ("user_id", "activity_day", "events", "ratings", "diary_logs", "active_days", "median_events",
              "times_median")  # fmt: skip


def test_feed_shows_the_busy_days_it_covers_and_bursts_page_by_day(site, client):
    """Every feed page carries the busy days (member_bursts) among its events' (member, day) pairs, and
    /users/{id}/bursts pages through all of a member's (and the people they follow's), newest first, each once."""
    db = site["db"]
    follower = query(db, "select follower_id from marts.user_follows group by 1 order by count(*) desc limit 1")[0][0]
    pages_with_bursts = {}
    for include in (False, True):
        expected = [dict(zip(BURST_KEYS, row, strict=True)) for row in query(db, BURSTS, {"u": follower, "f": include})]
        got, cursor = [], None
        while True:
            params = {"limit": 4, "include_follows": include, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/users/{follower}/bursts", params=params)
            assert page.status_code == 200, page.text
            got += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert got == expected

        pages_with_bursts[include], cursor = 0, None
        while True:
            params = {"limit": 100, "include_follows": include, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/users/{follower}/activity", params=params).json()
            days = {(e["user_id"], datetime.fromisoformat(e["event_at"]).astimezone(timezone.utc).date().isoformat())
                    for e in page["items"]}  # fmt: skip
            assert page["bursts"] == [b for b in expected if (b["user_id"], b["activity_day"]) in days]
            pages_with_bursts[include] += bool(page["bursts"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert pages_with_bursts[True] > 0, "the busiest follower's circle should have busy days in its feed"
    bad = client.get(f"/users/{follower}/bursts", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and "cursor" in bad.text


def test_recommendations_similar_and_follows(site, client):
    db = site["db"]
    user = query(db, "select min(user_id) from marts.recommendations_explained")[0][0]
    r = client.get(f"/users/{user}/recommendations", params={"limit": 250})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "itemknn"
    expected = query(
        db,
        "select film_id, explanation from marts.recommendations_explained where user_id = %s and model = 'itemknn' "
        "order by recommendation_rank",
        (user,),
    )
    assert [(i["film_id"], i["explanation"]) for i in body["items"]] == expected
    assert any((i["explanation"] or "").startswith("Because you liked ") for i in body["items"])
    diverse = client.get(f"/users/{user}/recommendations", params={"limit": 250, "diversity": 0.7}).json()["items"]
    assert sorted(i["film_id"] for i in diverse) == sorted(f for f, _ in expected)
    assert [i["rank"] for i in diverse] == list(range(1, len(diverse) + 1))
    assert diverse[0]["film_id"] == expected[0][0]  # MMR keeps the best first

    film = query(db, "select min(film_id) from marts.similar_films_explained")[0][0]
    r = client.get(f"/films/{film}/similar", params={"limit": 5})
    expected = query(
        db,
        "select similar_film_id from marts.similar_films_explained where film_id = %s and model = 'itemknn' "
        "order by similar_rank limit 5",
        (film,),
    )
    assert [i["film_id"] for i in r.json()["items"]] == [f for (f,) in expected]

    follower = query(db, "select min(follower_id) from marts.user_follows")[0][0]
    r = client.get(f"/users/{follower}/follows/top-films", params={"limit": 5})
    assert r.status_code == 200 and [i["rank"] for i in r.json()["items"]] == list(range(1, 6))


def test_recommendations_are_explained_by_films_the_user_liked_before_the_run(site):
    """Every "Because you liked X" in recommendations_explained names X's title and a film its user liked in the
    ratings as they stood when the run started: the version of the rating live at the last batch loaded before
    it (a later change, such as this module's last test makes, does not count), with a rating at or above the
    run's threshold, or a like without a rating."""
    rows = query(
        site["db"],
        """
        with runs as (
            select runs.run_id, (runs.parameters ->> 'threshold')::numeric as threshold,
                   max(batches.batch_id) as last_batch
            from ops.insight_runs as runs
            inner join ops.load_batches as batches on batches.finished_at <= runs.started_at
            group by runs.run_id
        ),
        versions as (
            select user_id, film_id, rating, liked, deleted, batch_id, null::bigint as replaced_by from raw.ratings
            union all
            select user_id, film_id, rating, liked, deleted, batch_id, replaced_by from ops.rating_versions
        )
        select e.user_id, e.because_film_id, e.explanation, 'Because you liked ' || films.title,
               exists (
                   select 1 from versions as v
                   where v.user_id = e.user_id and v.film_id = e.because_film_id
                     and v.batch_id <= runs.last_batch and coalesce(v.replaced_by > runs.last_batch, true)
                     and not v.deleted and (v.rating >= runs.threshold or (v.rating is null and v.liked))
               )
        from marts.recommendations_explained as e
        inner join runs on runs.run_id = e.run_id
        left join raw.films as films on films.film_id = e.because_film_id
        where e.because_film_id is not null
        """,
    )
    total = query(site["db"], "select count(*) from marts.recommendations_explained")[0][0]
    assert len(rows) > total / 2, "most recommendations of the item-kNN run should carry a reason"
    assert all(explanation == expected for _, _, explanation, expected, _ in rows)
    not_liked = [(user, film) for user, film, _, _, liked in rows if not liked]
    assert not not_liked, f"{len(not_liked)} explanations name a film the user had not liked, e.g. {not_liked[:5]}"


def test_feedback_is_a_batch_stamped_row_and_503_for_a_role_that_may_not_write_it(site):
    db = site["db"]
    ident = sql.Identifier(site["role"])
    with api(site) as client:
        click = {"user_id": 1, "film_id": 9001, "action": "save", "surface": "search"}
        with warehouse.connect(db, autocommit=True) as conn:
            conn.execute(sql.SQL("revoke insert on raw.feedback from {}").format(ident))
        r = client.post("/feedback", json=click)
        assert r.status_code == 503 and "raw.feedback" in r.json()["detail"], "a role that may not write it"
        grant_front_door(db, site["role"])
        newest_before = query(db, "select ops.batch_high_water()")[0][0]
        r = client.post("/feedback", json=click)
        assert r.status_code == 201, r.text
        row = query(db, "select user_id, film_id, action, surface, batch_id from raw.feedback")
        assert row == [(1, 9001, "save", "search", r.json()["batch_id"])]
        assert r.json()["batch_id"] > newest_before, "stamped by ops.next_batch_id(): a build after it sees it"
        assert query(db, "select ops.batch_high_water()")[0][0] >= r.json()["batch_id"]
        for bad, parameter in (
            ({**click, "action": "love"}, "action"),
            ({**click, "film_id": 424242}, "film_id"),
            ({**click, "user_id": -3}, "user_id"),
            ({**click, "extra": 1}, "extra"),
            ({**click, "cohort_id": "nope"}, "cohort_id"),
        ):
            r = client.post("/feedback", json=bad)
            assert r.status_code in (404, 422) and r.json()["parameter"] == parameter, r.text
        r = client.post("/feedback", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert query(db, "select count(*) from raw.feedback")[0][0] == 1


def test_openapi_document_and_hostile_values_never_500(client):
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/cohorts/{cohort_id}/rankings" in doc["paths"]
    hostile = ["'; select 1; --", "%", "_", "-1", "1e309", "NaN", "9" * 40, "é" * 300, "\x00", " ", ""]
    calls = 0
    for path, ops in doc["paths"].items():
        if "get" not in ops:
            continue
        params = ops["get"].get("parameters", [])
        base = {p["name"]: "everyone" if p["name"] == "cohort_id" else "1" for p in params if p["in"] == "path"}
        for p in params:
            for value in hostile:
                values = {**base}
                query_params = {}
                if p["in"] == "path":
                    values[p["name"]] = value or "x"
                else:
                    query_params[p["name"]] = value
                if "q" in {x["name"] for x in params} and p["name"] != "q":
                    query_params["q"] = "a"
                url = path.format(**{k: quote(v, safe="") for k, v in values.items()})
                r = client.get(url, params=query_params)
                calls += 1
                assert r.status_code < 500, (url, query_params, r.text)
                assert not any(leak in r.text.lower() for leak in ("psycopg", "syntax error", "traceback"))
    assert calls > 100


def test_pool_of_our_own_hands_out_working_connections(site):
    pool = SimplePool(connection_kwargs(site["db"]), max_size=2)
    try:
        with pool.connection() as a, pool.connection() as b:
            assert a is not b
            assert a.execute("select 1").fetchone() == (1,)
        with pool.connection() as c:
            c.close()  # a broken connection is replaced, not handed out again
        with pool.connection() as d:
            assert d.execute("select 2").fetchone() == (2,)
        with pytest.raises(psycopg.OperationalError):
            with pool.connection(), pool.connection(), pool.connection(timeout=0.1):
                pass
    finally:
        pool.close()


def test_cache_keys_have_the_seeds_shape():
    key = cohort_key("saved:club", "engagement", {"decade": 2010, "genre": None, "limit": 100})
    assert (
        key
        == f"cohort:saved:club:strategy:engagement:slice:{params_hash({'limit': 100, 'genre': None, 'decade': 2010})}"
    )
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1}) != params_hash({"a": 1, "b": 3})
    clock = [0.0]
    store = InProcessCache(max_entries=2, clock=lambda: clock[0])
    store.set("a", 1, ttl=10)
    store.set("b", 2, ttl=10)
    store.set("c", 3, ttl=10)
    assert store.get("a") is None and store.get("c") == 3  # least recently used out
    clock[0] = 11
    assert store.get("c") is None  # expired


def test_no_answer_is_stored_while_a_build_writes_the_marts(site):
    cache = Versioned(InProcessCache(), ttl=60)
    with api(site, cache=cache) as client:
        with warehouse.connect(site["db"]) as writer:
            writer.execute("lock table marts.film_catalog in row exclusive mode")  # as an insert would
            assert client.get("/health").json()["writing"] is True
            for _ in range(2):
                r = client.get("/cohorts/everyone/rankings", params={"limit": 3})
                assert r.status_code == 200 and r.headers["x-cache"] == "bypass"
            writer.rollback()
        assert client.get("/cohorts/everyone/rankings", params={"limit": 3}).headers["x-cache"] == "miss"
        assert client.get("/cohorts/everyone/rankings", params={"limit": 3}).headers["x-cache"] == "hit"


def test_cache_hit_then_invalidated_by_a_rebuild(site):
    """Last: it changes the data. A cohort's best film is panned by its members; the rebuild moves the marts."""
    db = site["db"]
    cache = Versioned(InProcessCache(), ttl=3600)
    with api(site, cache=cache) as client:
        cohort = query(
            db,
            "select cohort_id from marts.film_rankings where strategy = 'bayesian' and cohort_id <> 'everyone' "
            "group by 1 having count(*) >= 20 order by count(*) limit 1",
        )[0][0]
        url = f"/cohorts/{quote(cohort)}/rankings"
        first = client.get(url, params={"limit": 10})
        assert first.headers["x-cache"] == "miss"
        again = client.get(url, params={"limit": 10})
        assert again.headers["x-cache"] == "hit" and again.json() == first.json()
        best = first.json()["items"][0]["film_id"]
        with warehouse.connect(db) as conn:
            changed = conn.execute(
                """
                update raw.ratings set rating = 0.5, batch_id = ops.next_batch_id()
                where film_id = %(film)s and not deleted and rating is not null and user_id in (
                    select user_id from raw.cohort_members where cohort_id = %(cohort)s and not deleted)
                """,
                {"film": best, "cohort": cohort},
            ).rowcount
        assert changed > 0
        # before the build the marts have not moved: still the cached answer
        assert client.get(url, params={"limit": 10}).headers["x-cache"] == "hit"
        run_dbt(db, "run", "--select", "+cohort_top_films")  # the ranking and its stored head
        fresh = client.get(url, params={"limit": 10})
        assert fresh.headers["x-cache"] == "miss"
        assert fresh.headers["x-marts-version"] != first.headers["x-marts-version"]
        expected = [r["film_id"] for r in mart_ranking(db, cohort, "bayesian")[:10]]
        assert [i["film_id"] for i in fresh.json()["items"]] == expected
        assert expected[0] != best


# ---------------------------------------------------------------- fuzzing from the API's own OpenAPI document

FUZZ_LEAKS = ("psycopg", "syntax error", "traceback", "sqlstate", 'relation "', 'column "', "marts.", "raw.feedback (")


def test_fuzzed_requests_from_the_openapi_document_never_5xx_nor_leak_sql(site):
    """Every operation of /openapi.json (schemathesis, called in process over ASGI, answer cache off), with
    generated path, query and body values, valid and invalid: 2xx or a 4xx, never a 5xx nor SQL in the body."""
    role = site["role"]

    def configure(conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))

    app = create_app(settings=Settings(dbname=site["db"], pool_size=2, cache_enabled=False), configure=configure)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    calls = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
            def call(case) -> None:
                response = case.call()
                calls.append(response.status_code)
                body = response.text.lower()
                assert response.status_code < 500, (case.method, case.formatted_path, case.query, case.body, body)
                assert not any(leak in body for leak in FUZZ_LEAKS), (case.formatted_path, case.query, body)

            try:
                call()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to make invalid (no parameter)
    assert len(calls) > 200 and any(code < 300 for code in calls) and any(400 <= code < 500 for code in calls)
