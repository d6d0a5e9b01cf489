"""Divergence: the films a cohort rates far above or below everyone, or another cohort."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from python_jobs.app import data, ui

ui.page("Divergence", "Where a cohort departs from everyone (the site's averages) or from another cohort.")
cat = ui.catalogue_or_stop()

_, cohort = ui.cohort_picker(cat, "divergence", allow_follows=False)
EVERYONE = "everyone (site-wide)"
versus = st.selectbox("Against", [EVERYONE, *(c for c in ui.cohort_order(cat) if c != cohort)], key="divergence-vs")
direction = st.radio(
    "Show",
    ("both", "loves", "hates"),
    format_func={"both": "largest gaps", "loves": "rated higher", "hates": "rated lower"}.get,
    horizontal=True,
    key="divergence-direction",
)
min_ratings = st.number_input("At least this many ratings in each", min_value=1, value=5, step=1, key="divergence-min")
rows = data.read(
    "divergences",
    cohort,
    versus=None if versus == EVERYONE else versus,
    direction=direction,
    min_ratings=int(min_ratings),
    limit=25,
)
if not rows:
    st.info("No film has that many ratings in both; lower the minimum.")
    st.stop()
table = pd.DataFrame(
    [
        {
            "title": r["title"],
            "year": r["release_year"],
            "delta": float(r["delta"]),
            "cohort average": float(r["cohort_avg_rating"]),
            "other average": float(r["other_avg_rating"]) if r["other_avg_rating"] is not None else None,
            "ratings": r["ratings_count"],
            "loves": r["loves"],
            "hates": r["hates"],
        }
        for r in rows
    ]
)
st.altair_chart(
    alt.Chart(table)
    .mark_bar()
    .encode(
        x=alt.X("delta:Q", title=f"{cohort} minus {versus}"),
        y=alt.Y("title:N", sort=None, title=None),
        color=alt.condition("datum.delta > 0", alt.value("#2a9d8f"), alt.value("#e76f51")),
        tooltip=["title", "year", "delta", "ratings"],
    ),
    width="stretch",
)
st.dataframe(table, hide_index=True, key="divergence-table")
