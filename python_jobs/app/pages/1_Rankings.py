"""Rankings: a cohort's top N by a strategy, with each score's components, histograms and consensus labels."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from python_jobs.app import data, ui
from python_jobs.serve import queries

ui.page("Rankings", "A cohort's top films by a strategy: filters apply before the top N.")
cat = ui.catalogue_or_stop()

mode, who = ui.cohort_picker(cat, "rankings")
top_n = st.radio("Top", ui.TOP_N_CHOICES, horizontal=True, key="rankings-top")

if mode == "follows":
    films = data.read("follows_top_films", who, top_n)
    st.caption(
        f"Member {who} and the people they follow, computed on demand (python_jobs/serve/follows.py) by the "
        "bayesian strategy: the score is the Bayesian mean of the film's ratings toward the group's own mean."
    )
    if not films:
        st.info(f"Member {who} and the people they follow have rated no film; pick another member.")
        st.stop()
    table = pd.DataFrame(
        [
            {
                "rank": f.rank,
                "title": f.title,
                "year": f.release_year,
                "score": float(f.score),
                "ratings": f.ratings_count,
                "average": float(f.avg_rating),
            }
            for f in films
        ]
    )
    st.dataframe(table, hide_index=True, key="rankings-follows-table")
    st.stop()

strategies = sorted(cat.cohorts.get(who, {}))
if not strategies:
    st.info(f"Cohort {who} has logged films but none ranked yet (too few ratings); pick another cohort.")
    st.stop()
strategy = st.selectbox("Strategy", strategies, key="rankings-strategy")

lo, hi = cat.release_years
decades = list(range(lo // 10 * 10, hi + 1, 10)) if lo is not None and hi is not None else []
with st.expander("Slice: years, genre, language, list or festival slate"):
    decade = st.selectbox(
        "Decade", [None, *decades], format_func=lambda d: "any" if d is None else f"{d}s", key="rankings-decade"
    )
    years = (lo, hi)
    if lo is not None and hi is not None and lo < hi:
        years = st.slider("Release years", lo, hi, (lo, hi), key="rankings-years")
    genre = st.selectbox("Genre", [None, *cat.genres], format_func=lambda g: g or "any", key="rankings-genre")
    language = st.selectbox(
        "Language", [None, *cat.languages], format_func=lambda x: x or "any", key="rankings-language"
    )
    list_id = st.selectbox(
        "List or festival slate",
        [None, *cat.lists],
        format_func=lambda x: "any" if x is None else f"{cat.lists[x].list_name} ({cat.lists[x].list_kind})",
        key="rankings-list",
    )

slice_ = queries.RankingSlice(
    release_year_min=years[0] if years[0] != lo else None,
    release_year_max=years[1] if years[1] != hi else None,
    decade=decade,
    genre=genre,
    language=language,
    list_id=list_id,
)
rows = data.read("rankings", who, strategy, top_n, 0, slice_)
if not rows:
    st.info("No ranked film passes these filters; widen the slice.")
    st.stop()

table = pd.DataFrame(
    [
        {
            "rank": r["rank"],
            "title": r["title"],
            "year": r["release_year"],
            "score": r["score"],
            "label": r["consensus_label"],
            "ratings": r["ratings_count"],
            "average": r["avg_rating"],
            "histogram": [int(n or 0) for n in r["histogram"]],
            **{f"{c}": r["components"][c] for c in queries.RANKING_COMPONENTS},
        }
        for r in rows
    ]
)
# the components that weigh in this strategy (weight non-zero in the seed) come first
weighted = [c for c in queries.RANKING_COMPONENTS if rows[0]["weights"].get(c.removesuffix("_z"))]
st.dataframe(
    table,
    hide_index=True,
    key="rankings-table",
    column_order=["rank", "title", "year", "score", "label", "histogram", "ratings", "average", *weighted],
    column_config={
        "histogram": st.column_config.BarChartColumn("histogram", help="ratings per half star, 0.5 to 5.0"),
        "score": st.column_config.NumberColumn(format="%.4f"),
        "label": st.column_config.TextColumn("consensus", help="ranking_insights' consensus label"),
    },
)
st.caption(
    f"{len(rows)} of {rows[0]['ranked_films']} ranked films. Score components shown: the ones {strategy} weighs "
    f"({', '.join(weighted) or 'none'}); the film's detail below lists all of them."
)

st.subheader("A film's histogram and score")
pick = st.selectbox(
    "Film", range(len(rows)), format_func=lambda i: f"{rows[i]['rank']}. {rows[i]['title']}", key="rankings-film"
)
film = rows[pick]
st.markdown(
    f"**{ui.md(film['title'])}**: score {film['score']:.4f}, consensus **{film['consensus_label'] or 'n/a'}**, "
    f"{film['ratings_count']} ratings averaging {film['avg_rating']}."
)
hist = pd.DataFrame({"rating": ui.BUCKET_LABELS, "ratings": [int(n or 0) for n in film["histogram"]]})
st.altair_chart(
    alt.Chart(hist).mark_bar().encode(x=alt.X("rating:O", sort=None), y="ratings:Q"),
    width="stretch",
)
components = pd.DataFrame(
    [
        {"component": c, "value": film["components"][c], "weight": film["weights"].get(c.removesuffix("_z"))}
        for c in queries.RANKING_COMPONENTS
    ]
)
st.dataframe(components, hide_index=True, key="rankings-components")
if film["dropped_components"]:
    st.caption(f"Not available for this data, weights renormalised: {', '.join(film['dropped_components'])}.")
