from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from python_jobs.api import errors
from python_jobs.api.deps import ServiceDep, View, answer, known_cohort
from python_jobs.api.params import PAGE_MAX
from python_jobs.api.schemas import DivergenceList
from python_jobs.serve import queries
from python_jobs.serve.cache import cohort_key

router = APIRouter(prefix="/cohorts", tags=["divergences"], responses=errors.ERROR_RESPONSES)


@router.get(
    "/{cohort_id}/divergences",
    response_model=DivergenceList,
    summary="Films the cohort rates far from everyone (or from another cohort)",
    description=(
        "Without versus: the cohort against the mart's global average (site or everyone). With versus: the "
        "cohort against that cohort, on the films both rated at least min_ratings times. direction loves = "
        "the cohort rates higher, hates = lower, both = by the size of the gap. flagged (without versus): only "
        "the films cohort_divergence flags as loves / hates."
    ),
)
async def cohort_divergences(
    svc: ServiceDep,
    cohort_id: str,
    versus: Annotated[str | None, Query(max_length=200, description="Another cohort of GET /cohorts.")] = None,
    direction: Literal["loves", "hates", "both"] = "both",
    min_ratings: Annotated[int, Query(ge=1, le=1_000_000, description="Ratings the film needs in each cohort.")] = 5,
    flagged: Annotated[bool, Query(description="Only the mart's loves / hates flags (against everyone only).")] = False,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
) -> Response:
    def handle(v: View) -> Response:
        known_cohort(v, cohort_id)
        if versus is not None:
            known_cohort(v, versus, "versus")
            if versus == cohort_id:
                raise errors.conflict("versus", "versus must name another cohort than the one compared.")
            if flagged:
                raise errors.conflict("flagged", "flagged applies against everyone only; leave it out with versus.")
        params = {
            "resource": "divergences",
            "versus": versus,
            "direction": direction,
            "min_ratings": min_ratings,
            "flagged": flagged,
            "limit": limit,
        }

        def compute() -> DivergenceList:
            rows = queries.divergences(
                v.conn,
                cohort_id,
                versus=versus,
                direction=direction,
                min_ratings=min_ratings,
                flagged=flagged,
                limit=limit,
            )
            return DivergenceList(cohort_id=cohort_id, versus=versus, direction=direction, items=rows)

        return v.cached(cohort_key(cohort_id, None, params), compute)

    return await answer(svc, handle)
