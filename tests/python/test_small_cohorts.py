"""Small cohorts (issue 14): a club of friends with their own Letterboxd exports, and an 8-member saved cohort of
ML-100K, get labels, rankings, loves/hates against a stated baseline and likes-only discoveries.

The seeds' count thresholds are sized for cohorts of thousands (10 ratings for a label or for loves/hates, 5 likes
for a discovery, 10 phantom votes); int_cohort_thresholds caps them by a cohort's size (a quarter of its members,
never below 3). Before that cap, every film of these cohorts was "Too Few Ratings" and nothing else fired.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from conftest import ROOT, make_database, query, run_dbt

from python_jobs import warehouse
from python_jobs.cohorts import define_cohort
from python_jobs.loaders import letterboxd, movielens

MARTS = ("+ranking_insights", "+cohort_divergence", "+film_rankings", "+cohort_pair_divergence")

# boxd.it slug -> (title, year)
FILMS = {
    "a1": ("Aftersun", 2022),
    "a2": ("Tár", 2022),
    "a3": ("Decision to Leave", 2022),
    "a4": ("Drive My Car", 2021),
    "a5": ("Petite Maman", 2021),
    "a6": ("Memoria", 2021),
}
# username -> {slug: rating}; the friends love a1 and hate a2, the others the reverse; a4 splits the friends
# (0.5, 5, 0.5); only two friends rated a5; a6 the friends liked without rating it
RATINGS = {
    "alice": {"a1": 5, "a2": 1, "a3": 3.5, "a4": 0.5, "a5": 4},
    "bob": {"a1": 4.5, "a2": 1.5, "a3": 4, "a4": 5, "a5": 4},
    "carol": {"a1": 5, "a2": 1, "a3": 3.5, "a4": 0.5},
    "dan": {"a1": 1.5, "a2": 4.5, "a3": 3.5},
    "eve": {"a1": 2, "a2": 5, "a3": 3},
    "finn": {"a1": 1, "a2": 4.5, "a3": 4},
}
LIKED = {"alice": ["a6"], "bob": ["a6"], "carol": ["a6"]}


def export_files(username: str) -> dict[str, str]:
    rated = RATINGS[username]
    watched = sorted(set(rated) | set(LIKED.get(username, [])))

    def line(day: int, slug: str, *extra: object) -> str:
        title, year = FILMS[slug]
        return ",".join([f"2023-03-{day:02d}", title, str(year), f"https://boxd.it/{slug}", *map(str, extra)]) + "\n"

    return {
        "profile.csv": (
            "Date Joined,Username,Given Name,Family Name,Email Address,Location,Website,Bio,Pronoun,Favorite Films\n"
            f"2020-01-01,{username},,,,,,,,\n"
        ),
        "watched.csv": "Date,Name,Year,Letterboxd URI\n" + "".join(line(i + 1, s) for i, s in enumerate(watched)),
        "ratings.csv": "Date,Name,Year,Letterboxd URI,Rating\n"
        + "".join(line(i + 1, s, r) for i, (s, r) in enumerate(sorted(rated.items()))),
        "likes/films.csv": "Date,Name,Year,Letterboxd URI\n"
        + "".join(line(i + 1, s) for i, s in enumerate(LIKED.get(username, []))),
    }


def write_export(root: Path, username: str) -> Path:
    for name, content in export_files(username).items():
        target = root / username / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return root / username


@pytest.fixture(scope="module")
def exports_site(server, tmp_path_factory) -> str:
    """Three friends' exports as saved:friends, three others' as saved:others, built."""
    root = tmp_path_factory.mktemp("exports")
    name = make_database("small_cohorts")
    try:
        with warehouse.connect(name) as conn:
            letterboxd.load_exports(conn, [write_export(root, u) for u in ("alice", "bob", "carol")], cohort="friends")
            letterboxd.load_exports(conn, [write_export(root, u) for u in ("dan", "eve", "finn")], cohort="others")
        run_dbt(name, "seed")
        run_dbt(name, "run", "--select", *MARTS, "+user_activity", "+activity_digest")
        yield name
    finally:
        warehouse.drop_database(name)


def slug_rows(db: str, text: str, cohort: str) -> dict[str, tuple]:
    """{slug: the rest of the row} of a query whose first column is film_id, for one cohort."""
    rows = query(db, text, {"cohort": cohort})
    slugs = dict(query(db, "select film_id, slug from raw.films"))
    return {slugs[row[0]]: row[1:] for row in rows}


def test_a_club_of_three_gets_labels_on_its_size_capped_minimum(exports_site):
    insights = slug_rows(
        exports_site,
        "select film_id, consensus_label, label_min_ratings, label_certainty, is_likes_discovery "
        "from marts.ranking_insights where cohort_id = %(cohort)s",
        "saved:friends",
    )
    assert insights["a1"] == ("Unanimous Praise", 3, "tentative", False)
    assert insights["a4"][0] == "Divisive"  # 0.5, 5, 0.5: sd 2.6, too few ratings for Sarle's bimodality
    assert insights["a5"][0] == "Too Few Ratings"  # two of the three rated it
    # liked by all three, rated by none: 3 likes reach the club's cap (the seed asks 5)
    assert insights["a6"][3] is True
    assert sum(1 for row in insights.values() if row[0] != "Too Few Ratings") >= 3


def test_the_club_is_compared_with_everyone_loaded_and_says_so(exports_site):
    # the loads made the baseline: every member of both clubs, kind 'all'
    assert query(exports_site, "select count(*) from raw.cohort_members where cohort_id = 'everyone'") == [(6,)]
    divergence = slug_rows(
        exports_site,
        "select film_id, global_source, flag_min_ratings, loves, hates, delta from marts.cohort_divergence "
        "where cohort_id = %(cohort)s",
        "saved:friends",
    )
    # a1: friends 4.8333 against everyone's 19 / 6 = 3.1667
    assert divergence["a1"] == ("everyone", 3, True, False, Decimal("1.6667"))
    assert divergence["a2"][:4] == ("everyone", 3, False, True)
    assert divergence["a5"][3:5] == (False, False)  # two ratings: under the club's minimum of 3
    others = slug_rows(
        exports_site,
        "select film_id, loves, hates from marts.cohort_divergence where cohort_id = %(cohort)s",
        "saved:others",
    )
    assert others["a1"] == (False, True) and others["a2"] == (True, False)


def test_what_one_club_loves_the_other_hates_with_a_size_aware_delta(exports_site):
    # two saved cohorts: compared without configuration
    pairs = slug_rows(
        exports_site,
        "select film_id, cohort_b, ratings_a, ratings_b, pooled_avg, vote_floor_a, delta, a_loves_b_hates, "
        "b_loves_a_hates from marts.cohort_pair_divergence where cohort_a = %(cohort)s",
        "saved:friends",
    )
    # a1: friends 5, 4.5, 5 against others 1.5, 2, 1; pooled 19 / 6; each side shrunk by m = 3 (its size cap):
    # (14.5 + 3 x 19/6) / 6 = 4.0 and (4.5 + 9.5) / 6 = 2.3333, delta 1.6667 (raw 3.3333)
    assert pairs["a1"] == ("saved:others", 3, 3, Decimal("3.1667"), Decimal("3.00"), Decimal("1.6667"), True, False)
    # a2 the other way round: (3.5 + 8.75) / 6 - (14 + 8.75) / 6 = -1.75
    assert pairs["a2"][5:] == (Decimal("-1.7500"), False, True)
    # a3: both clubs near 3.6; a4 and a5 only the friends rated (not shared)
    assert pairs["a3"][6:] == (False, False) and "a4" not in pairs and "a5" not in pairs


def test_the_clubs_feed_and_digest_hold_every_members_ratings_and_likes(exports_site):
    feed = dict(
        query(
            exports_site,
            "select a.event_type, count(*) from marts.user_activity a join raw.cohort_members m "
            "on m.user_id = a.user_id and m.cohort_id = 'saved:friends' and not m.deleted group by 1",
        )
    )
    # 14 ratings of the three friends (5 + 5 + 4) and their 3 likes of a6
    assert feed["rated"] == 14 and feed["liked"] == 3
    digest = query(exports_site, "select sum(ratings_count), max(active_members) from marts.activity_digest "
                                 "where cohort_id = 'saved:friends'")  # fmt: skip
    assert digest == [(14, 3)]


def test_the_club_ranks_its_films_with_a_size_capped_vote_floor(exports_site):
    rankings = slug_rows(
        exports_site,
        "select film_id, rank, vote_floor from marts.film_rankings "
        "where cohort_id = %(cohort)s and strategy = 'bayesian'",
        "saved:friends",
    )
    assert rankings["a1"] == (1, Decimal("3.00"))
    assert {row[1] for row in rankings.values()} == {Decimal("3.00")}


@pytest.fixture(scope="module")
def ml100k_club(server) -> tuple[str, list[int]]:
    """ML-100K with a saved cohort of the 8 users who rated the most films, built."""
    name = make_database("small_cohorts_ml")
    try:
        with warehouse.connect(name) as conn:
            movielens.load_movielens(conn)
            members = [
                r[0]
                for r in conn.execute(
                    "select user_id from raw.ratings where not deleted group by user_id "
                    "order by count(*) desc, user_id limit 8"
                )
            ]
            define_cohort(conn, "saved:club", members, name="Club of 8")
        run_dbt(name, "seed")
        # the marts above and what the example analyses read
        run_dbt(name, "run", "--select", *MARTS, "+film_catalog", "+list_films", "+cohort_overlap",
                "+int_cohort_ratings_joined", "+emerging_voices", "sentiment_shifts")  # fmt: skip
        yield name, members
    finally:
        warehouse.drop_database(name)


def test_an_eight_member_movielens_cohort_gets_labels_rankings_and_loves(ml100k_club):
    db, members = ml100k_club
    assert query(db, "select members, threshold_cap from intermediate.int_cohort_thresholds "
                     "where cohort_id = 'saved:club'") == [(8, Decimal("3"))]  # fmt: skip
    labels = dict(
        query(
            db,
            "select consensus_label, count(*) from marts.ranking_insights where cohort_id = 'saved:club' group by 1",
        )
    )
    # a label for every film three or more of the eight rated, the too-few label for the rest
    expected_labelled = query(
        db,
        "select count(*) from (select film_id from raw.ratings where not deleted and user_id = any(%s) "
        "group by film_id having count(*) >= 3) f",
        (members,),
    )[0][0]
    assert expected_labelled > 100
    assert sum(n for label, n in labels.items() if label != "Too Few Ratings") == expected_labelled
    assert {"Unanimous Praise", "Divisive", "Mixed"} <= set(labels)
    flags = query(
        db,
        "select global_source, flag_min_ratings, count(*) filter (where loves), count(*) filter (where hates) "
        "from marts.cohort_divergence where cohort_id = 'saved:club' group by 1, 2",
    )
    assert len(flags) == 1 and flags[0][:2] == ("everyone", 3) and flags[0][2] > 0 and flags[0][3] > 0
    floors = dict(
        query(
            db,
            "select cohort_id, vote_floor from marts.film_ranking_parameters where strategy = 'bayesian' "
            "and cohort_id in ('saved:club', 'everyone')",
        )
    )
    assert floors == {"saved:club": Decimal("3.00"), "everyone": Decimal("10.00")}
    # seeds/cohort_comparisons.csv: three occupations compared pairwise, and the one saved cohort with nobody
    compared = query(db, "select cohort_a, cohort_b, count(*), count(*) filter (where a_loves_b_hates or "
                         "b_loves_a_hates) from marts.cohort_pair_divergence group by 1, 2 order by 1, 2")  # fmt: skip
    assert [(a, b) for a, b, _, _ in compared] == [
        ("age:18-24", "age:50-55"), ("occupation:artist", "occupation:programmer"),
        ("occupation:artist", "occupation:writer"), ("occupation:programmer", "occupation:writer")]  # fmt: skip
    assert all(films > 100 for _, _, films, _ in compared), compared
    # occupations and generations of ML-100K rarely disagree by 0.75 stars once each side is shrunk towards the
    # pair's pooled average by its vote floor (7 to 10 phantom ratings): one film does (artist vs writer)
    assert sum(flagged for _, _, _, flagged in compared) >= 1, compared
    # the shrinkage pulls both sides towards one pooled average: it never widens a gap nor flips its sign
    widened = query(db, "select count(*) from marts.cohort_pair_divergence where abs(delta) > abs(raw_delta) "
                        "or sign(delta) * sign(raw_delta) < 0")  # fmt: skip
    assert widened == [(0,)]


def test_every_example_analysis_returns_rows_on_the_demo_data_or_says_why(ml100k_club):
    """analyses/*.sql with their default vars, on ML-100K (the data of `make demo`): each returns rows, unless its
    header says it returns nothing on the demo's data and why (no likes, lists or follow graph in MovieLens). The
    define_* analyses insert a cohort and are not run."""
    db, _ = ml100k_club
    run_dbt(db, "compile", "--select", "path:analyses")
    compiled = ROOT / "target" / "tests" / db / "compiled" / "film_cohorts" / "analyses"
    silent, counted = [], {}
    for source in sorted((ROOT / "analyses").glob("*.sql")):
        if source.stem.startswith("define_"):
            continue
        header = "".join(line for line in source.read_text().splitlines(keepends=True) if line.startswith("--"))
        rows = len(query(db, (compiled / source.name).read_text()))
        counted[source.stem] = rows
        if "returns nothing" in header:
            silent.append(source.stem)
        else:
            assert rows > 0, f"{source.name} returns no row on ML-100K with its defaults, and its header says nothing"
    assert len(counted) >= 9 and len(silent) <= 4, (counted, silent)


def test_emerging_voices_are_recent_directors_with_two_films_in_the_cohort(ml100k_club):
    """Against raw: directors whose first film is within 10 years of the catalog's newest (ML-100K: 1998), with two
    or more films the cohort logged; ranked by weighted_score."""
    db, members = ml100k_club
    newest = query(db, "select max(release_year) from raw.films")[0][0]
    expected = {
        person
        for (person,) in query(
            db,
            """
            with careers as (
                select fp.person_id, min(f.release_year) as first_year
                from raw.film_people fp join raw.films f using (film_id)
                where fp.role = 'director' group by 1
            )
            select fp.person_id
            from raw.film_people fp
            join careers c using (person_id)
            join (select distinct film_id from raw.ratings where not deleted and user_id = any(%s)) logged
                using (film_id)
            where fp.role = 'director' and c.first_year >= %s
            group by fp.person_id having count(distinct fp.film_id) >= 2
            """,
            (members, newest - 10),
        )
    }
    rows = query(db, "select person_id, first_year, films_count, weighted_score, rank from marts.emerging_voices "
                     "where cohort_id = 'saved:club' order by rank")  # fmt: skip
    assert len(expected) >= 3
    assert {r[0] for r in rows} == expected
    assert all(first >= newest - 10 and films >= 2 for _, first, films, _, _ in rows)
    assert [r[4] for r in rows] == list(range(1, len(rows) + 1))
    scores = [r[3] for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_a_burst_is_a_busy_day_against_the_members_own_rhythm(db):
    """Two members with the same busy day of 8 ratings: for one who rates one film a day it is a burst (8 >= 5 and
    >= 3 x a median of 1), for one who rates 8 every day it is not. A third has one 6-rating day and one quiet
    day: too few active days for a rhythm."""
    with warehouse.connect(db) as conn:
        conn.execute("insert into raw.users (user_id, username, source) select u, 'u' || u, 'test' from "
                     "generate_series(1, 3) u")  # fmt: skip
        conn.execute("insert into raw.films (film_id, title, source) select f, 'Film ' || f, 'test' from "
                     "generate_series(1, 200) f")  # fmt: skip
        rows = []
        for day in range(10):  # user 1: one rating a day for ten days, and 7 more on day 5 (8 that day)
            rows.append((1, day + 1, day))
        rows += [(1, 100 + i, 5) for i in range(7)]
        for day in range(10):  # user 2: eight ratings every day
            rows += [(2, day * 8 + i + 1, day) for i in range(8)]
        rows += [(3, i + 1, 0) for i in range(6)] + [(3, 50, 1)]  # user 3: two active days
        conn.cursor().executemany(
            "insert into raw.ratings (user_id, film_id, rating, rated_at, updated_at) "
            "values (%s, %s, 3.5, timestamptz '2024-03-01 12:00+00' + make_interval(days => %s), now())",
            rows,
        )
    run_dbt(db, "seed")
    run_dbt(db, "run", "--select", "+member_bursts")
    bursts = query(db, "select user_id, activity_day::text, events, active_days, median_events, times_median "
                       "from marts.member_bursts order by 1, 2")  # fmt: skip
    assert bursts == [(1, "2024-03-06", 8, 10, Decimal("1.0"), Decimal("8.00"))]


def test_people_without_names_say_so_instead_of_printing_ids_as_names(ml100k_club):
    """ML-100K's people are Freebase ids: person_stats leaves person_name NULL and labels the id as not a name."""
    db, _ = ml100k_club
    rows = query(db, "select person_id, person_name, person_label from marts.person_stats "
                     "where cohort_id = 'saved:club' and person_role = 'director'")  # fmt: skip
    assert len(rows) > 100
    assert all(name is None and label == f"{pid} (no name in the source)" for pid, name, label in rows)
