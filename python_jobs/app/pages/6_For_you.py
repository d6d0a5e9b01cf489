"""For you: a member's recommendations with their reasons, a variety toggle, search and "similar to this".

Save and Like record a feedback row (raw.feedback, batch-stamped) through the query layer's insert.
"""

from __future__ import annotations

import streamlit as st

from python_jobs.app import data, ui

# The variety toggle: queries.recommendations picks the SHOWN films from the member's whole stored list (the
# recommend job keeps 10) by maximal marginal relevance on the catalogue's genres, each pick weighing its
# score (normalised) against its genre similarity to the films already picked, half and half.
VARIETY = 0.5
SHOWN = 5

ui.page("For you", "A member's recommendations, with the film they liked that contributed most.")
cat = ui.catalogue_or_stop()
if not cat.recommendation_models:
    st.info("No recommendations yet: run `python -m python_jobs recommend` and a build.")
    st.stop()

member = ui.member_picker(cat, "foryou-member")
model = cat.recommendation_models[0]
if len(cat.recommendation_models) > 1:
    model = st.selectbox("Model", cat.recommendation_models, key="foryou-model")
variety = st.toggle(
    "More variety",
    key="foryou-variety",
    help="Re-ranks the member's list so each next film also brings genres not shown yet (maximal marginal "
    "relevance on the catalogue's genres); off keeps the model's order.",
)
ui.feedback_message()

recs = data.read("recommendations", member, model, SHOWN, diversity=VARIETY if variety else 0.0)
st.subheader(f"Recommended for member {member}")
st.caption(
    f"The model's top {SHOWN}, or with More variety the {SHOWN} of its stored list that best trade score for "
    "genres not shown yet."
)
if not recs:
    st.info(f"Member {member} has no recommendations from {model}; pick another member.")
for rec in recs:
    reason = rec["explanation"] or (
        f"Because you liked {rec['because_film_title']}"
        if rec["because_film_title"]
        else "Popular with members like you"
    )
    genres = ", ".join(rec["genres"] or ())
    ui.film_row(
        rec,
        user_id=member,
        surface="recommendations",
        detail=f"score {rec['score']:.2f} · {ui.md(genres)}  \n_{ui.md(reason)}_",
    )

st.subheader("Find a film")
q = st.text_input("Title contains", key="foryou-search", placeholder="e.g. winter")
if q.strip():
    found = data.read("search_films", q.strip(), 10)
    if not found:
        st.info(f"No title contains “{q.strip()}”; try fewer letters.")
    for hit in found:
        with st.container(border=True):
            text_col, open_col = st.columns([4, 2], vertical_alignment="center")
            year = f" ({hit['release_year']})" if hit["release_year"] else ""
            text_col.markdown(f"**{ui.md(hit['title'])}**{year}  \n{ui.md(', '.join(hit['genres'] or ()))}")
            if open_col.button("Similar films", key=f"similar-to-{hit['film_id']}", width="stretch"):
                st.session_state["similar_to"] = hit["film_id"]

film_id = st.session_state.get("similar_to")
if film_id is not None and cat.similar_models:
    film = data.read("film", film_id)
    similar = data.read("similar_films", film_id, cat.similar_models[0], 10)
    st.subheader(f"Similar to {film['title'] if film else film_id}")
    if not similar:
        st.info("No similar films stored for this one (too few ratings when the similar job ran).")
    for position, sim in enumerate(similar, start=1):
        ui.film_row(
            {**sim, "rank": position},
            user_id=member,
            surface="similar",
            detail=f"similarity {sim['score']:.2f} · {ui.md(', '.join(sim['genres'] or ()))}",
        )
