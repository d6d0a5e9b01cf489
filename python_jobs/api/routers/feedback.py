from __future__ import annotations

from fastapi import APIRouter, Response

from python_jobs.api import errors
from python_jobs.api.deps import ServiceDep, View, answer, known_cohort, no_nul
from python_jobs.api.schemas import FeedbackIn, FeedbackOut
from python_jobs.serve import queries

router = APIRouter(tags=["feedback"], responses=errors.ERROR_RESPONSES)


@router.post(
    "/feedback",
    response_model=FeedbackOut,
    status_code=201,
    summary="Record a save or like click as implicit feedback (raw.feedback, batch-stamped)",
)
async def post_feedback(svc: ServiceDep, body: FeedbackIn) -> Response:
    def handle(v: View) -> Response:
        no_nul("cohort_id", body.cohort_id)
        if body.cohort_id is not None:
            known_cohort(v, body.cohort_id)
        if not queries.feedback_table_ready(v.conn):
            raise errors.unavailable(
                "Feedback is not recorded yet: this database has no raw.feedback table the API may insert into and "
                "read its ids back from (grant it as the README's section \"The app\" shows)."
            )
        if queries.film(v.conn, body.film_id) is None:
            raise errors.invalid(
                "film_id", f"film_id {body.film_id} is not in the catalogue; send a film the API listed."
            )
        row = queries.record_feedback(v.conn, body.user_id, body.film_id, body.action, body.surface, body.cohort_id)
        out = FeedbackOut(**row, user_id=body.user_id, film_id=body.film_id, action=body.action)
        return v.fresh(out, status_code=201)

    return await answer(svc, handle)
