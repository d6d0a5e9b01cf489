"""film_cohorts: the Streamlit app's front page (`make app`). One page per surface in pages/."""

from __future__ import annotations

import streamlit as st

from python_jobs.app import ui

ui.page(
    "film_cohorts",
    "Film ratings of cohorts, read from the warehouse's marts through the query layer (python_jobs/serve).",
)
cat = ui.catalogue_or_stop()

st.markdown(
    """
- **Rankings**: a cohort's top 50, 100 or 250 by any strategy (or the top films of a member and the people they
  follow), each score's components, the film's rating histogram and consensus label; sliced by decade, years,
  genre, language, list or festival slate.
- **Divergence**: what a cohort loves or hates against everyone, or against another cohort.
- **Overlap**: how alike the cohorts' top-N lists are (Jaccard, rank-biased overlap), as a heatmap.
- **People**: the directors, actors, writers and producers a cohort rates highest.
- **Activity**: a member's feed (with the people they follow) and a cohort's weekly digest.
- **For you**: a member's recommendations with "because you liked …", a variety toggle, film search and
  "similar to this"; Save and Like record feedback in raw.feedback.
"""
)

cols = st.columns(3)
cols[0].metric("Cohorts", len(cat.cohorts))
cols[1].metric("Strategies", len(cat.strategies))
cols[2].metric("Lists and slates", len(cat.lists))
st.caption(
    "Strategies: "
    + ", ".join(cat.strategies or ("none yet",))
    + ". Recommendation models: "
    + ", ".join(cat.recommendation_models or ("none yet",))
    + "."
)
