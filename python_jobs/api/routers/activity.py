from __future__ import annotations

import base64
import binascii
from datetime import date, datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from python_jobs.api import errors
from python_jobs.api.deps import ServiceDep, View, answer, known_cohort
from python_jobs.api.params import MAX_BIGINT, PAGE_MAX
from python_jobs.api.schemas import ActivityPage, BurstPage, DigestPage
from python_jobs.serve import queries
from python_jobs.serve.cache import cohort_key

router = APIRouter(tags=["activity"], responses=errors.ERROR_RESPONSES)


def encode_cursor(event_at: datetime, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{event_at.isoformat()}|{event_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not event_id or "\x00" in event_id:
            raise ValueError(cursor)
        return when, event_id
    except (ValueError, UnicodeError, binascii.Error):
        raise errors.invalid(
            "cursor", "cursor must be a next_cursor this API returned; leave it out for the newest events."
        ) from None


@router.get(
    "/users/{user_id}/activity",
    response_model=ActivityPage,
    summary="A member's feed, newest first (keyset on event time), with the busy days it covers",
    description=(
        "include_follows adds the events of the people the member follows (marts.user_follows). bursts: the "
        "(member, day) pairs of the page's events that were busy days of that member (marts.member_bursts)."
    ),
)
async def user_activity(
    svc: ServiceDep,
    user_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)],
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page.")] = None,
    include_follows: bool = False,
) -> Response:
    before = decode_cursor(cursor) if cursor is not None else None

    def handle(v: View) -> Response:
        # not cached: user_follows is a view of the live follow graph
        rows = queries.activity(v.conn, user_id, limit + 1, before, include_follows)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        busy = queries.event_day_bursts(v.conn, [(e["user_id"], utc_day(e)) for e in rows])
        page = ActivityPage(
            user_id=user_id,
            include_follows=include_follows,
            items=rows,
            bursts=busy,
            next_cursor=encode_cursor(last["event_at"], last["event_id"]) if more and last else None,
        )
        return v.fresh(page)

    return await answer(svc, handle)


def utc_day(event: dict) -> date:
    return event["event_at"].astimezone(timezone.utc).date()


def encode_burst_cursor(day: date, user_id: int) -> str:
    return base64.urlsafe_b64encode(f"{day.isoformat()}|{user_id}".encode()).decode()


def decode_burst_cursor(cursor: str) -> tuple[date, int]:
    try:
        day, user_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        member = int(user_id)
        if not 1 <= member <= MAX_BIGINT:
            raise ValueError(cursor)
        return date.fromisoformat(day), member
    except (ValueError, UnicodeError, binascii.Error):
        raise errors.invalid(
            "cursor", "cursor must be a next_cursor this API returned; leave it out for the newest busy days."
        ) from None


@router.get(
    "/users/{user_id}/bursts",
    response_model=BurstPage,
    summary="A member's unusually busy days, newest first (keyset on day and member)",
    description=(
        "Days with at least 5 events and 3 times the member's median active day (marts.member_bursts); "
        "include_follows adds the people the member follows."
    ),
)
async def user_bursts(
    svc: ServiceDep,
    user_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)],
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 20,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page.")] = None,
    include_follows: bool = False,
) -> Response:
    before = decode_burst_cursor(cursor) if cursor is not None else None

    def handle(v: View) -> Response:
        # not cached: user_follows is a view of the live follow graph
        rows = queries.bursts(v.conn, user_id, limit + 1, before, include_follows)
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more and rows else None
        page = BurstPage(
            user_id=user_id,
            include_follows=include_follows,
            items=rows,
            next_cursor=encode_burst_cursor(last["activity_day"], last["user_id"]) if last else None,
        )
        return v.fresh(page)

    return await answer(svc, handle)


@router.get(
    "/cohorts/{cohort_id}/digest",
    response_model=DigestPage,
    summary="The cohort's weekly digest, newest week first (keyset on week_start)",
)
async def cohort_digest(
    svc: ServiceDep,
    cohort_id: str,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 12,
    before_week: Annotated[date | None, Query(description="next_before_week of the previous page.")] = None,
) -> Response:
    def handle(v: View) -> Response:
        known_cohort(v, cohort_id)
        key = cohort_key(cohort_id, None, {"resource": "digest", "limit": limit, "before_week": before_week})

        def compute() -> DigestPage:
            rows = queries.digest(v.conn, cohort_id, limit + 1, before_week)
            more = len(rows) > limit
            rows = rows[:limit]
            return DigestPage(
                cohort_id=cohort_id, items=rows, next_before_week=rows[-1]["week_start"] if more else None
            )

        return v.cached(key, compute)

    return await answer(svc, handle)
