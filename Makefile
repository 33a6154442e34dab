# Every target creates .venv if it is missing; nothing else needs to be set up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck format migrations-check clean demo e2e bench soak docs

$(STAMP): requirements-dev.txt setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) run_tests.py

# The example site against a fake Canvas on loopback; Ctrl-C stops everything.
demo: $(STAMP)
	$(PY) example/run_demo.py

# Browser tests (Playwright driving /usr/bin/chromium); `make test` leaves them out.
# Needs Debian's Chromium first: apt-get install chromium.
e2e: $(STAMP)
	@test -x /usr/bin/chromium || echo "e2e: needs Debian's Chromium at /usr/bin/chromium: apt-get install chromium"
	CANVAS_OAUTH_E2E=1 $(PY) -m pytest -p no:cacheprovider tests/e2e

# Benchmarks on SQLite and the PostgreSQL of BENCH_PG_URL (default postgres@127.0.0.1:5432);
# writes bench/RESULTS.md. Needs wrk (apt-get install -y wrk) for the throughput part.
bench: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	@command -v wrk >/dev/null || echo "bench: wrk is missing (apt-get install -y wrk); using the slower bench/loadgen.py"
	$(PY) bench/run_all.py

# Issue #12's soak: gunicorn on PostgreSQL (BENCH_PG_URL) and SQLite while the fake Canvas
# fails 10% of refreshes; about 4 minutes. RECORD=before|after writes bench/RESULTS.md.
# `make soak SOAK_ARGS=--quick` is a 15 s smoke run per database.
soak: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	PYTHONPATH=. $(PY) -m bench.soak $(if $(RECORD),--record $(RECORD)) $(SOAK_ARGS)

migrations-check: $(STAMP)
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) -m django makemigrations --check --dry-run

# The documentation site (Sphinx + MyST, docs/); warnings are errors.
docs: $(STAMP)
	$(PY) -m pip install --quiet -r docs/requirements.txt
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: built docs/_build/html/index.html"

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# mypy --strict over canvas_oauth/ with django-stubs; configured in pyproject.toml.
typecheck: $(STAMP)
	$(PY) -m mypy

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .coverage .coverage.* htmlcov *.egg-info e2e-artifacts docs/_build
