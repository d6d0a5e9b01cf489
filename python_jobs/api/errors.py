"""Errors as one sentence naming what to change: 4xx for the caller, 503 when the warehouse cannot answer.

No SQL, no driver message and no stack trace reaches a response; the server log has them.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from python_jobs.api.schemas import ErrorOut

log = logging.getLogger("python_jobs.api")

# what every route may answer besides 200 (the OpenAPI document lists them with ErrorOut)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Parameters that contradict each other."},
    404: {"model": ErrorOut, "description": "No such cohort, user, film or list in the marts."},
    422: {"model": ErrorOut, "description": "A parameter out of its allowed values."},
    503: {"model": ErrorOut, "description": "The warehouse cannot answer (marts not built, feedback table missing)."},
}


class ApiError(Exception):
    def __init__(self, status: int, detail: str, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.parameter = parameter


def not_found(detail: str, parameter: str | None = None) -> ApiError:
    return ApiError(404, detail, parameter)


def invalid(parameter: str, detail: str) -> ApiError:
    return ApiError(422, detail, parameter)


def conflict(parameter: str, detail: str) -> ApiError:
    return ApiError(400, detail, parameter)


def unavailable(detail: str) -> ApiError:
    return ApiError(503, detail)


def shown(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def allowed(values: Any, limit: int = 12) -> str:
    values = [str(v) for v in values]
    if not values:
        return "(none in the marts)"
    head = ", ".join(values[:limit])
    return head + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _parameter(loc: tuple[Any, ...]) -> str:
    if loc and loc[0] in ("query", "path", "header", "cookie"):
        return ".".join(str(p) for p in loc[1:]) or str(loc[0])
    if loc and loc[0] == "body":
        return ".".join(str(p) for p in loc[1:]) or "body"
    return ".".join(str(p) for p in loc)


def sentence(error: dict[str, Any]) -> tuple[str, str]:
    """(parameter, one sentence) for one pydantic error."""
    name = _parameter(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    got = f" (got {shown(error.get('input'))})" if "input" in error else ""
    if kind == "missing":
        return name, f"{name} is required."
    if kind == "greater_than_equal":
        return name, f"{name} must be at least {ctx.get('ge')}{got}."
    if kind == "greater_than":
        return name, f"{name} must be above {ctx.get('gt')}{got}."
    if kind == "less_than_equal":
        return name, f"{name} must be at most {ctx.get('le')}{got}."
    if kind == "less_than":
        return name, f"{name} must be below {ctx.get('lt')}{got}."
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return name, f"{name} must be a whole number{got}."
    if kind in ("float_parsing", "float_type", "finite_number"):
        return name, f"{name} must be a finite number{got}."
    if kind in ("bool_parsing", "bool_type"):
        return name, f"{name} must be true or false{got}."
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type", "date_from_datetime_inexact"):
        return name, f"{name} must be a date such as 2024-03-04{got}."
    if kind in ("literal_error", "enum"):
        return name, f"{name} must be one of {ctx.get('expected')}{got}."
    if kind == "string_too_short":
        return name, f"{name} must be at least {ctx.get('min_length')} characters long{got}."
    if kind == "string_too_long":
        return name, f"{name} must be at most {ctx.get('max_length')} characters long{got}."
    if kind == "extra_forbidden":
        return name, f"{name} is not a field of this request; leave it out."
    if kind in ("json_invalid", "model_attributes_type", "dict_type", "model_type"):
        return name, "The request body must be a JSON object with the fields the OpenAPI document lists."
    message = str(error.get("msg", "is not allowed")).rstrip(".")
    return name, f"{name}: {message}{got}."


def _body(status: int, detail: str, parameter: str | None = None, errors: list[dict[str, Any]] | None = None):
    payload = ErrorOut(detail=detail, parameter=parameter, errors=errors).model_dump(exclude_none=True)
    return JSONResponse(status_code=status, content=payload)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return _body(exc.status, exc.detail, exc.parameter)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    found = [sentence(e) for e in exc.errors()]
    if not found:
        return _body(422, "The request is not valid; see the OpenAPI document at /openapi.json.")
    errors = [{"parameter": p, "message": m} for p, m in found]
    return _body(422, found[0][1], found[0][0], errors if len(errors) > 1 else None)


async def _database_error(request: Request, exc: psycopg.Error) -> JSONResponse:
    log.error("database error on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
        return _body(503, "The marts are not built in this database: run `python -m python_jobs build` first.")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return _body(503, "The warehouse took too long to answer; narrow the request or try again.")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return _body(503, "The API's database role may not read this; grant it select on schema marts.")
    return _body(503, "The warehouse could not answer; try again, and see the API's log if it persists.")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _body(500, "The API failed on this request; its log has the details.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(psycopg.Error, _database_error)
    app.add_exception_handler(Exception, _unexpected)
