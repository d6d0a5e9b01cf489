from __future__ import annotations

from fastapi import APIRouter, Response

from python_jobs.api.deps import ServiceDep, View, answer
from python_jobs.api.errors import ERROR_RESPONSES
from python_jobs.api.schemas import CatalogueOut, Health, ListOut
from python_jobs.serve.cache import InProcessCache

router = APIRouter(tags=["catalogue"], responses=ERROR_RESPONSES)


@router.get("/health", response_model=Health, summary="The marts version the answers are read at")
async def health(svc: ServiceDep) -> Response:
    store = svc.cache.cache
    entries = len(store) if isinstance(store, InProcessCache) else None

    def handle(v: View) -> Response:
        return v.fresh(
            Health(status="ok", marts_version=v.version.version, writing=v.version.writing, cache_entries=entries)
        )

    return await answer(svc, handle)


@router.get("/catalogue", response_model=CatalogueOut, summary="What strategies, genres, lists and models exist")
async def catalogue(svc: ServiceDep) -> Response:
    def handle(v: View) -> Response:
        cat = v.catalogue
        return v.fresh(
            CatalogueOut(
                strategies=list(cat.strategies),
                genres=list(cat.genres),
                languages=list(cat.languages),
                release_year_min=cat.release_years[0],
                release_year_max=cat.release_years[1],
                lists=[ListOut(**info.__dict__) for info in cat.lists.values()],
                recommendation_models=list(cat.recommendation_models),
                similar_models=list(cat.similar_models),
                overlap_depths=list(cat.overlap_depths),
                person_roles=list(cat.person_roles),
            )
        )

    return await answer(svc, handle)
