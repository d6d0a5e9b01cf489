from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from python_jobs.api import errors
from python_jobs.api.deps import ServiceDep, View, answer, known_cohort, known_strategy, no_nul
from python_jobs.api.params import MAX_INT, PAGE_MAX, YEAR_MAX, YEAR_MIN
from python_jobs.api.schemas import RankingFilters, RankingPage
from python_jobs.serve import queries
from python_jobs.serve.cache import cohort_key

router = APIRouter(prefix="/cohorts", tags=["rankings"], responses=errors.ERROR_RESPONSES)


def ranking_slice(
    v: View,
    release_year_min: int | None,
    release_year_max: int | None,
    decade: int | None,
    genre: str | None,
    language: str | None,
    list_id: str | None,
) -> queries.RankingSlice:
    """The filters checked against each other and the catalogue (names as the marts spell them)."""
    for name, value in (("genre", genre), ("language", language), ("list_id", list_id)):
        no_nul(name, value)
    if release_year_min is not None and release_year_max is not None and release_year_min > release_year_max:
        raise errors.conflict(
            "release_year_min",
            f"release_year_min ({release_year_min}) must not be above release_year_max ({release_year_max}).",
        )
    if decade is not None and decade % 10:
        raise errors.invalid("decade", f"decade must be a multiple of 10 such as 1990 (got {decade}).")
    cat = v.catalogue
    if genre is not None:
        spelled = cat.genre(genre)
        if spelled is None:
            raise errors.invalid(
                "genre", f"genre must be one of {errors.allowed(cat.genres, 30)} (got {errors.shown(genre)})."
            )
        genre = spelled
    if language is not None and language not in cat.languages:
        if not cat.languages:
            raise errors.invalid(
                "language", "language cannot filter: no film in the catalogue has an original language."
            )
        raise errors.invalid(
            "language", f"language must be one of {errors.allowed(cat.languages, 30)} (got {errors.shown(language)})."
        )
    if list_id is not None and list_id not in cat.lists:
        raise errors.invalid(
            "list_id", f"list_id {errors.shown(list_id)} is not a list in the marts; GET /catalogue lists them."
        )
    return queries.RankingSlice(release_year_min, release_year_max, decade, genre, language, list_id)


@router.get(
    "/{cohort_id}/rankings",
    response_model=RankingPage,
    summary="A page of a cohort's ranking by one strategy, filtered, keyset on rank",
    description=(
        "Films that pass every filter, in the order of their rank in the cohort (the filters apply before the "
        "top N is taken). Next page: pass the answer's next_after_rank as after_rank."
    ),
)
async def cohort_rankings(
    svc: ServiceDep,
    cohort_id: str,
    strategy: Annotated[str, Query(max_length=100, description="A strategy of GET /catalogue.")] = "bayesian",
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="Page size.")] = 50,
    after_rank: Annotated[int, Query(ge=0, le=MAX_INT, description="Only films ranked below this rank (keyset).")] = 0,
    release_year_min: Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)] = None,
    release_year_max: Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX)] = None,
    decade: Annotated[int | None, Query(ge=YEAR_MIN, le=YEAR_MAX, description="Release decade, e.g. 1990.")] = None,
    genre: Annotated[str | None, Query(max_length=100, description="A genre of GET /catalogue (any case).")] = None,
    language: Annotated[
        str | None, Query(max_length=100, description="An original language of GET /catalogue.")
    ] = None,
    list_id: Annotated[str | None, Query(max_length=200, description="Only films on this list or slate.")] = None,
) -> Response:
    def handle(v: View) -> Response:
        known_cohort(v, cohort_id)
        known_strategy(v, cohort_id, strategy)
        slice_ = ranking_slice(v, release_year_min, release_year_max, decade, genre, language, list_id)
        filters = slice_.params()
        params = {"resource": "rankings", "limit": limit, "after_rank": after_rank, **filters}

        def compute() -> RankingPage:
            rows = queries.rankings(v.conn, cohort_id, strategy, limit + 1, after_rank, slice_)
            more = len(rows) > limit
            rows = rows[:limit]
            return RankingPage(
                cohort_id=cohort_id,
                strategy=strategy,
                filters=RankingFilters(**filters),
                limit=limit,
                after_rank=after_rank,
                items=rows,
                next_after_rank=rows[-1]["rank"] if more else None,
            )

        return v.cached(cohort_key(cohort_id, strategy, params), compute)

    return await answer(svc, handle)
