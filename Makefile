# film_cohorts: two commands on a fresh machine — `make demo` and `make test`.
# Everything runs in .venv; with PGHOST unset the project starts its own PostgreSQL in .warehouse/.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DB ?= film_cohorts_test
JOBS := $(BIN)/python -m python_jobs

.PHONY: install demo demo-synthetic test lint dbt-test pytest bench bench-scale api app bench-api env stop clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing film_cohorts (first time: about a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
	@$(BIN)/python -m pip install --quiet --progress-bar off -e '.[dev]' 2>&1 | { grep -v '^WARNING: Location' || true; } || \
		{ echo "error: pip could not install the project; see the messages above"; exit 1; }
	@touch $(STAMP)

demo: install  ## load ML-100K, build everything, run the jobs, print a report
	@$(JOBS) demo

demo-synthetic: install  ## the same on generated Letterboxd-style data (database film_cohorts_synthetic)
	@$(JOBS) demo --dataset synthetic

test: install lint dbt-test pytest  ## sqlfluff, dbt build (models, data and unit tests) and pytest, on a real server

lint: install
	@echo "==> sqlfluff lint"
	@$(BIN)/sqlfluff lint models $(wildcard analyses) --disable-progress-bar --nocolor
	@echo "==> ruff"
	@$(BIN)/ruff check python_jobs tests bench

dbt-test: install
	@echo "==> dbt build on a fresh database $(TEST_DB) with ML-100K"
	@PGDATABASE=$(TEST_DB) $(JOBS) reset
	@PGDATABASE=$(TEST_DB) $(JOBS) load movielens --from-pypi
	@PGDATABASE=$(TEST_DB) $(JOBS) build

pytest: install
	@echo "==> pytest"
	@$(BIN)/pytest -q --durations=25

bench: install  ## timings on ML-100K (generator, recommenders, API latency after make demo) into bench/report.md
	@$(BIN)/python bench/run.py

bench-scale: SIZE ?= full
bench-scale: KEEP ?= 1
bench-scale: install  ## ML-25M-size generate + builds into bench/report.md (SIZE=tiny|small|medium|full, KEEP=0 drops the db)
	@$(BIN)/python bench/bench_scale.py --size $(SIZE) --keep $(KEEP)

api: install  ## the HTTP API on 127.0.0.1:8000 (OpenAPI at /openapi.json, docs at /docs); DB=name picks the database
	@$(BIN)/python -m python_jobs.api $(if $(DB),--db $(DB))

app: PORT ?= 8501
app: install  ## the Streamlit app on 127.0.0.1:8501 (headless); DB=name picks the database, PORT=n the port
	@FILM_COHORTS_DB=$(DB) $(BIN)/streamlit run python_jobs/app/Home.py --server.address 127.0.0.1 \
		--server.port $(PORT) --server.headless true --browser.gatherUsageStats false

bench-api: install  ## API latency on loopback: p50/p95/p99 and requests/s per endpoint (DB=film_cohorts)
	@$(BIN)/python bench/bench_api.py --db $(or $(DB),film_cohorts)

env: install  ## print the libpq variables for psql, dbt, BI tools: eval "$$(make -s env)"
	@$(JOBS) env

stop:  ## stop the embedded PostgreSQL
	@test -x $(BIN)/python && $(JOBS) server stop || true

clean: stop
	rm -rf .warehouse target logs
