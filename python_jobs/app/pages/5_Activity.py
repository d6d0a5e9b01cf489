"""Activity: a member's feed (marts.user_activity) with their busy days (marts.member_bursts), and a cohort's weekly
digest (marts.activity_digest)."""

from __future__ import annotations

from datetime import timezone

import pandas as pd
import streamlit as st

from python_jobs.app import data, ui

ui.page("Activity", "What members rated, liked, logged and rewatched, and each cohort's week.")
cat = ui.catalogue_or_stop()

feed_tab, digest_tab = st.tabs(["Feed", "Weekly digest"])
with feed_tab:
    user_id = st.number_input("Member id", min_value=1, value=1, step=1, key="activity-member")
    with_follows = st.toggle("Include the people they follow", value=True, key="activity-follows")
    events = data.read("activity", int(user_id), 50, None, with_follows)
    busy = data.read("bursts", int(user_id), 20, None, with_follows)
    if events:
        frame = pd.DataFrame(events)
        busy_days = {(b["user_id"], b["activity_day"]) for b in busy}
        days = zip(frame["user_id"], frame["event_at"], strict=True)
        frame["busy_day"] = [(u, at.astimezone(timezone.utc).date()) in busy_days for u, at in days]
        st.dataframe(
            frame[["event_at", "user_id", "event_type", "title", "rating", "is_rewatch", "busy_day"]],
            hide_index=True,
            key="activity-table",
        )
    else:
        st.info(f"No activity for member {user_id}" + (" or the people they follow." if with_follows else "."))
    if busy:
        st.subheader("Busy days")
        st.caption("Days with at least 5 events and 3 times the member's usual active day, newest first.")
        st.dataframe(
            pd.DataFrame(busy)[["activity_day", "user_id", "events", "ratings", "diary_logs", "times_median"]],
            hide_index=True,
            key="bursts-table",
        )

with digest_tab:
    _, cohort = ui.cohort_picker(cat, "digest", allow_follows=False)
    weeks = data.read("digest", cohort, 12)
    if weeks:
        frame = pd.DataFrame(weeks)
        st.line_chart(frame.set_index("week_start")[["active_members", "ratings_count", "likes_count"]])
        st.dataframe(
            frame[
                [
                    "week_start",
                    "active_members",
                    "ratings_count",
                    "logs_count",
                    "rewatches_count",
                    "likes_count",
                    "most_rated_title",
                    "most_liked_title",
                    "longest_streak_days",
                ]
            ],
            hide_index=True,
            key="digest-table",
        )
    else:
        st.info(f"No week of activity for {cohort}.")
