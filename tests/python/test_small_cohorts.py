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
from conftest import make_database, query, run_dbt

from python_jobs import warehouse
from python_jobs.cohorts import define_cohort
from python_jobs.loaders import letterboxd, movielens

MARTS = ("+ranking_insights", "+cohort_divergence", "+film_rankings")

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
        run_dbt(name, "run", "--select", *MARTS)
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
        run_dbt(name, "run", "--select", *MARTS)
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
