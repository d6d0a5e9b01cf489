"""The HTTP API (FastAPI) over the marts: `python -m python_jobs.api` serves it on 127.0.0.1:8000."""
