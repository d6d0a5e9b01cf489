"""Overlap: how alike the cohorts' top-N lists are, as a heatmap (marts.cohort_overlap)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from python_jobs.app import data, ui

ui.page("Overlap", "Each pair of cohorts: how much their top-N lists share (Jaccard) and agree on order (RBO).")
cat = ui.catalogue_or_stop()
if not cat.overlap_depths:
    st.info("cohort_overlap is empty: it needs two cohorts with ranked films.")
    st.stop()

strategy = st.selectbox("Strategy", cat.strategies, key="overlap-strategy")
top_n = st.radio("Top", cat.overlap_depths, horizontal=True, key="overlap-top")
metric = st.radio(
    "Measure",
    ("rbo", "jaccard"),
    format_func={"rbo": "rank-biased overlap", "jaccard": "Jaccard"}.get,
    horizontal=True,
    key="overlap-metric",
)
pairs = data.read("overlap_matrix", strategy, int(top_n))
if not pairs:
    st.info(f"No cohort pair for {strategy} at top {top_n}.")
    st.stop()
cells = [{"a": p["cohort_a"], "b": p["cohort_b"], "value": float(p[metric])} for p in pairs]
cells += [{"a": c["b"], "b": c["a"], "value": c["value"]} for c in cells]  # the mart keeps a < b: mirror it
grid = pd.DataFrame(cells)
st.altair_chart(
    alt.Chart(grid)
    .mark_rect()
    .encode(
        x=alt.X("a:N", title=None, axis=alt.Axis(labelAngle=-60, labelLimit=120)),
        y=alt.Y("b:N", title=None, axis=alt.Axis(labelLimit=120)),
        color=alt.Color("value:Q", title=metric, scale=alt.Scale(domain=[0, 1], scheme="viridis")),
        tooltip=["a", "b", alt.Tooltip("value:Q", format=".3f")],
    ),
    width="stretch",
)
table = pd.DataFrame(pairs)[["cohort_a", "cohort_b", "shared_films", "jaccard", "rbo"]]
st.dataframe(table.sort_values(metric, ascending=False), hide_index=True, key="overlap-table")
