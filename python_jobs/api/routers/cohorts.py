from __future__ import annotations

from fastapi import APIRouter, Response

from python_jobs.api.deps import ServiceDep, View, answer, known_cohort
from python_jobs.api.errors import ERROR_RESPONSES
from python_jobs.api.schemas import CohortList, CohortOut, StrategyOut

router = APIRouter(prefix="/cohorts", tags=["cohorts"], responses=ERROR_RESPONSES)


def _cohort(cohort_id: str, strategies: dict[str, int]) -> CohortOut:
    return CohortOut(
        cohort_id=cohort_id,
        ranked_films=max(strategies.values(), default=0),
        strategies=[StrategyOut(strategy=s, ranked_films=n) for s, n in sorted(strategies.items())],
    )


@router.get("", response_model=CohortList, summary="Every cohort in the marts with its strategies")
async def list_cohorts(svc: ServiceDep) -> Response:
    def handle(v: View) -> Response:
        return v.fresh(CohortList(cohorts=[_cohort(c, s) for c, s in sorted(v.catalogue.cohorts.items())]))

    return await answer(svc, handle)


@router.get("/{cohort_id}", response_model=CohortOut, summary="One cohort")
async def get_cohort(svc: ServiceDep, cohort_id: str) -> Response:
    def handle(v: View) -> Response:
        known_cohort(v, cohort_id)
        return v.fresh(_cohort(cohort_id, v.catalogue.cohorts[cohort_id]))

    return await answer(svc, handle)
