from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from python_jobs.api import errors
from python_jobs.api.deps import ServiceDep, View, answer, no_nul, pick_model
from python_jobs.api.params import MAX_BIGINT, PAGE_MAX, SEARCH_MAX
from python_jobs.api.schemas import FilmDetail, SearchResult, SimilarList
from python_jobs.serve import queries
from python_jobs.serve.cache import slice_key

router = APIRouter(prefix="/films", tags=["films"], responses=errors.ERROR_RESPONSES)

FilmId = Annotated[int, Path(ge=1, le=MAX_BIGINT)]


# declared before /films/{film_id}, so "search" is never read as a film id
@router.get(
    "/search",
    response_model=SearchResult,
    summary="Films whose title contains q (any case; % and _ are literal)",
)
async def search(
    svc: ServiceDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Part of a title.")],
    limit: Annotated[int, Query(ge=1, le=SEARCH_MAX)] = 20,
) -> Response:
    no_nul("q", q)
    text = q.strip()
    if not text:
        raise errors.invalid("q", "q must contain something besides spaces.")
    key = slice_key("search", "films", "q", None, {"resource": "search", "q": text.casefold(), "limit": limit})

    def handle(v: View) -> Response:
        return v.cached(key, lambda: SearchResult(q=text, items=queries.search_films(v.conn, text, limit)))

    return await answer(svc, handle)


def _film(v: View, film_id: int) -> dict:
    row = queries.film(v.conn, film_id)
    if row is None:
        raise errors.not_found(
            f"Film {film_id} is not in the catalogue; find one with GET /films/search?q=.", "film_id"
        )
    return row


@router.get("/{film_id}", response_model=FilmDetail, summary="One film of the catalogue")
async def get_film(svc: ServiceDep, film_id: FilmId) -> Response:
    return await answer(svc, lambda v: v.fresh(FilmDetail(**_film(v, film_id))))


@router.get("/{film_id}/similar", response_model=SimilarList, summary="'Similar to this'")
async def similar(
    svc: ServiceDep,
    film_id: FilmId,
    model: Annotated[str | None, Query(max_length=100, description="A model of GET /catalogue (default ease).")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 10,
) -> Response:
    no_nul("model", model)

    def handle(v: View) -> Response:
        name = pick_model(v.catalogue.similar_models, model, "similar films")
        key = slice_key("film", film_id, "model", name, {"resource": "similar", "limit": limit})

        def compute() -> SimilarList:
            film = _film(v, film_id)
            rows = queries.similar_films(v.conn, film_id, name, limit)
            return SimilarList(film_id=film_id, title=film["title"], model=name, items=rows)

        return v.cached(key, compute)

    return await answer(svc, handle)
