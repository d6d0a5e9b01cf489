"""People: the directors, actors, writers and producers a cohort rates highest (marts.person_stats)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from python_jobs.app import data, ui

ui.page("People", "Ranked by a person-level Bayesian score over the cohort's ratings of their films.")
cat = ui.catalogue_or_stop()

_, cohort = ui.cohort_picker(cat, "people", allow_follows=False)
role = st.radio("Role", cat.person_roles, horizontal=True, key="people-role")
min_ratings = st.number_input("At least this many ratings", min_value=1, value=5, step=1, key="people-min")
rows = data.read("people", cohort, role, int(min_ratings), 25)
if not rows:
    st.info(f"No {role} has that many ratings in {cohort}; lower the minimum or pick another role.")
    st.stop()
table = pd.DataFrame(rows)[
    [
        "person_label",
        "films_count",
        "ratings_count",
        "avg_rating",
        "weighted_score",
        "films_in_top_10pct",
        "best_film_title",
    ]
]
st.dataframe(
    table,
    hide_index=True,
    key="people-table",
    column_config={"person_label": "name", "films_count": "films", "best_film_title": "best film"},
)
