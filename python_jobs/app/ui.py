"""Widgets the pages share: page setup, the cohort and member pickers, film rows with save and like buttons.

Nothing here computes: values come from python_jobs.app.data (the query layer), and a click on save or like is
one feedback row written by the query layer's insert, the one POST /feedback uses.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import streamlit as st

from python_jobs.app import data
from python_jobs.serve import queries

BUCKET_LABELS = tuple(b.replace("_", ".") for b in queries.BUCKETS)  # "0.5" … "5.0"
TOP_N_CHOICES = (50, 100, 250)
FOLLOWS = "Me + people I follow"
NAMED = "A named cohort"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def page(title: str, intro: str | None = None) -> None:
    """Page config (centered: one column that reads on a phone) and its title."""
    st.set_page_config(page_title=f"{title} · film_cohorts", page_icon="🎞️", layout="centered")
    st.title(title)
    if intro:
        st.caption(intro)
    dbname, role = data.source()
    st.sidebar.caption(f"Database `{dbname or 'default'}`" + (f", role `{role}`" if role else ""))


def md(text: Any) -> str:
    """text shown literally inside markdown (titles may hold *, _, % or [)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def catalogue_or_stop() -> queries.Catalogue:
    """The catalogue, or one sentence on what to run when the marts cannot be read."""
    try:
        return data.catalogue()
    except psycopg.Error as exc:
        dbname, _ = data.source()
        st.error(
            f"The marts of database {dbname or '(default)'} cannot be read ({type(exc).__name__}): build them with "
            "`make demo` or `python -m python_jobs build`, or pick another database with `make app DB=name`."
        )
        st.stop()


def cohort_order(cat: queries.Catalogue) -> list[str]:
    return sorted(cat.cohorts, key=lambda c: (c != "everyone", c))


def cohort_picker(cat: queries.Catalogue, key: str, *, allow_follows: bool = True) -> tuple[str, Any]:
    """("cohort", cohort_id), or ("follows", user_id) for a member and the people they follow (computed on demand)."""
    mode = NAMED
    if allow_follows:
        mode = st.radio("Cohort", (NAMED, FOLLOWS), horizontal=True, key=f"{key}-mode")
    if mode == FOLLOWS:
        user_id = st.number_input("Member id", min_value=1, value=1, step=1, key=f"{key}-member")
        return "follows", int(user_id)
    cohorts = cohort_order(cat)
    if not cohorts:
        st.warning("No cohort has ranked films yet: load ratings and run a build.")
        st.stop()
    label = "Cohort" if not allow_follows else "Named cohort"
    return "cohort", st.selectbox(label, cohorts, key=f"{key}-cohort")


def member_picker(cat: queries.Catalogue, key: str) -> int:
    """A member id, starting at the first member with recommendations."""
    members = data.read("recommended_members", cat.recommendation_models[0]) if cat.recommendation_models else []
    first = members[0] if members else 1
    return int(st.number_input("Member id", min_value=1, value=first, step=1, key=key))


def _feedback(user_id: int, film_id: int, title: str, action: str, surface: str) -> None:
    result = data.record_feedback(user_id, film_id, action, surface)
    if isinstance(result, str):
        st.session_state["feedback_message"] = ("error", result)
    else:
        done = {"save": "Saved", "like": "Liked"}[action]
        st.session_state["feedback_message"] = (
            "success",
            f"{done} {md(title)} for member {user_id} (feedback {result['feedback_id']}, batch {result['batch_id']}).",
        )


def feedback_message() -> None:
    """The outcome of the last save or like click on this page, once."""
    message = st.session_state.pop("feedback_message", None)
    if message:
        kind, text = message
        (st.success if kind == "success" else st.error)(text)


def film_row(film: dict, *, user_id: int | None, surface: str, detail: str = "") -> None:
    """One film: rank, title, year, detail line, and Save / Like buttons that record feedback for user_id."""
    with st.container(border=True):
        text_col, save_col, like_col = st.columns([5, 1.3, 1.3], vertical_alignment="center")
        year = f" ({film['release_year']})" if film.get("release_year") else ""
        rank = f"{film['rank']}. " if film.get("rank") else ""
        text_col.markdown(f"**{rank}{md(film['title'])}**{year}" + (f"  \n{detail}" if detail else ""))
        if user_id is None:
            return
        for col, action, label in ((save_col, "save", "Save"), (like_col, "like", "Like")):
            col.button(
                label,
                key=f"{action}-{surface}-{film['film_id']}",
                on_click=_feedback,
                args=(user_id, film["film_id"], film["title"], action, surface),
                width="stretch",
            )
