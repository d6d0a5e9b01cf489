from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from python_jobs.api import errors
from python_jobs.api.deps import ServiceDep, View, answer, known_cohort, known_strategy
from python_jobs.api.params import PAGE_MAX
from python_jobs.api.schemas import OverlapList, OverlapMatrix
from python_jobs.serve import queries
from python_jobs.serve.cache import cohort_key, slice_key

router = APIRouter(tags=["overlap"], responses=errors.ERROR_RESPONSES)

Depth = Annotated[int, Query(ge=1, le=100_000, description="List depth: one of GET /catalogue's overlap_depths.")]


def _depth(v: View, top_n: int) -> int:
    if top_n not in v.catalogue.overlap_depths:
        raise errors.invalid(
            "top_n", f"top_n must be one of {errors.allowed(v.catalogue.overlap_depths)} (got {top_n})."
        )
    return top_n


@router.get(
    "/cohorts/{cohort_id}/overlap",
    response_model=OverlapList,
    summary="The cohorts whose top-N list is most like this cohort's",
)
async def cohort_overlap(
    svc: ServiceDep,
    cohort_id: str,
    strategy: Annotated[str, Query(max_length=100)] = "bayesian",
    top_n: Depth = 100,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
) -> Response:
    def handle(v: View) -> Response:
        known_cohort(v, cohort_id)
        known_strategy(v, None, strategy)
        _depth(v, top_n)
        key = cohort_key(cohort_id, strategy, {"resource": "overlap", "top_n": top_n, "limit": limit})

        def compute() -> OverlapList:
            rows = queries.overlap(v.conn, cohort_id, strategy, top_n, limit)
            return OverlapList(cohort_id=cohort_id, strategy=strategy, top_n=top_n, items=rows)

        return v.cached(key, compute)

    return await answer(svc, handle)


@router.get("/overlap", response_model=OverlapMatrix, summary="Every cohort pair's overlap: the heatmap")
async def overlap_matrix(
    svc: ServiceDep,
    strategy: Annotated[str, Query(max_length=100)] = "bayesian",
    top_n: Depth = 100,
) -> Response:
    def handle(v: View) -> Response:
        known_strategy(v, None, strategy)
        _depth(v, top_n)
        key = slice_key("overlap", "all", "strategy", strategy, {"resource": "overlap_matrix", "top_n": top_n})

        def compute() -> OverlapMatrix:
            pairs = queries.overlap_matrix(v.conn, strategy, top_n)
            return OverlapMatrix(strategy=strategy, top_n=top_n, pairs=pairs)

        return v.cached(key, compute)

    return await answer(svc, handle)
