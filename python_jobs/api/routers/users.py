from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from python_jobs.api import errors
from python_jobs.api.deps import ServiceDep, View, answer, known_cohort, no_nul, pick_model
from python_jobs.api.params import MAX_BIGINT, PAGE_MAX
from python_jobs.api.schemas import FollowsTopFilms, RecommendationList
from python_jobs.serve import follows, queries
from python_jobs.serve.cache import slice_key

router = APIRouter(prefix="/users", tags=["users"], responses=errors.ERROR_RESPONSES)

UserId = Annotated[int, Path(ge=1, le=MAX_BIGINT)]


@router.get(
    "/{user_id}/recommendations",
    response_model=RecommendationList,
    summary="A member's recommendations with score and 'because you liked …'",
    description=(
        "The list `python -m python_jobs recommend` stored (cohort_id: the list restricted to that cohort's films, "
        "from `recommend --cohort`). diversity in [0, 1) re-ranks it by genre (maximal marginal relevance); 0 keeps "
        "the model's order."
    ),
)
async def user_recommendations(
    svc: ServiceDep,
    user_id: UserId,
    model: Annotated[str | None, Query(max_length=100, description="A model of GET /catalogue (default ease).")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 10,
    diversity: Annotated[float, Query(ge=0.0, lt=1.0)] = 0.0,
    cohort_id: Annotated[str | None, Query(max_length=200, description="The cohort-restricted list.")] = None,
) -> Response:
    no_nul("model", model)

    def handle(v: View) -> Response:
        name = pick_model(v.catalogue.recommendation_models, model, "recommendations")
        if cohort_id is not None:
            known_cohort(v, cohort_id)
        params = {"resource": "recommendations", "limit": limit, "diversity": diversity, "cohort_id": cohort_id}

        def compute() -> RecommendationList:
            rows = queries.recommendations(v.conn, user_id, name, limit, cohort_id, diversity)
            if not rows:  # raised, not cached: a 404 costs its query each time
                scope = f" restricted to cohort {errors.shown(cohort_id)}" if cohort_id is not None else ""
                raise errors.not_found(
                    f"User {user_id} has no recommendations from model {name!r}{scope}; "
                    f"pick a member with ratings or run `python -m python_jobs recommend` for them.",
                    "user_id",
                )
            return RecommendationList(user_id=user_id, model=name, cohort_id=cohort_id, diversity=diversity, items=rows)

        return v.cached(slice_key("user", user_id, "model", name, params), compute)

    return await answer(svc, handle)


@router.get(
    "/{user_id}/follows/top-films",
    response_model=FollowsTopFilms,
    summary="The top films of 'me + the people I follow' (bayesian), computed on demand",
)
async def follows_top_films(
    svc: ServiceDep,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = follows.DEFAULT_TOP_N,
) -> Response:
    def handle(v: View) -> Response:
        # not cached: user_follows is a view of the live follow graph
        films = follows.top_films(v.conn, user_id, limit)
        if not films:
            raise errors.not_found(
                f"Neither user {user_id} nor anyone they follow has rated a film; pick another member.", "user_id"
            )
        return v.fresh(FollowsTopFilms(user_id=user_id, strategy=follows.STRATEGY, items=[asdict(f) for f in films]))

    return await answer(svc, handle)
