from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from python_jobs.api import errors
from python_jobs.api.deps import ServiceDep, View, answer, known_cohort
from python_jobs.api.params import PAGE_MAX
from python_jobs.api.schemas import PeopleList
from python_jobs.serve import queries
from python_jobs.serve.cache import cohort_key

router = APIRouter(prefix="/cohorts", tags=["people"], responses=errors.ERROR_RESPONSES)


@router.get(
    "/{cohort_id}/people",
    response_model=PeopleList,
    summary="The directors (actors, writers, producers) the cohort rates highest",
    description="By person_stats.weighted_score, the person-level Bayesian mean of the cohort's ratings.",
)
async def cohort_people(
    svc: ServiceDep,
    cohort_id: str,
    role: Literal["director", "actor", "writer", "producer"] = "director",
    min_ratings: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 20,
) -> Response:
    def handle(v: View) -> Response:
        known_cohort(v, cohort_id)
        key = cohort_key(
            cohort_id, None, {"resource": "people", "role": role, "min_ratings": min_ratings, "limit": limit}
        )

        def compute() -> PeopleList:
            rows = queries.people(v.conn, cohort_id, role, min_ratings, limit)
            return PeopleList(cohort_id=cohort_id, role=role, items=rows)

        return v.cached(key, compute)

    return await answer(svc, handle)
