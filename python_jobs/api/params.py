"""Parameter bounds shared by the routers (FastAPI validates them; the OpenAPI document states them)."""

from __future__ import annotations

MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1
YEAR_MIN, YEAR_MAX = 1870, 2100  # the first films to the generator's far future
PAGE_MAX = 250  # the app's largest Top N
SEARCH_MAX = 50
