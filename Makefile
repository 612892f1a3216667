# Clearlist tasks. `make demo` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3.11
VENV := .venv
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
RUN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install browser demo test test-fast lint fix build ui clean

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(UV) || { $(PYTHON) -m venv $(UV_HOME) && $(UV_HOME)/bin/pip install --quiet uv==0.13.8; }
	$(UV) sync --locked --python $(PYTHON)
	$(RUN)/dbt parse --project-dir dbt_project --profiles-dir dbt_project --quiet
	@touch $@

install: $(VENV)/.installed ## Create the environment from the lock file.

demo: install ## Generate demo data, ingest, build, gate and export every segment.
	$(RUN)/clearlist demo

build: install ## Build and test the dbt models on the current home.
	$(RUN)/clearlist build

ui: install ## Open the Dagster UI on the current home.
	$(RUN)/clearlist ui

lint: install ## ruff and sqlfluff, as CI runs them.
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	@mkdir -p dbt_project/target
	CLEARLIST_WAREHOUSE=dbt_project/target/lint.duckdb $(RUN)/sqlfluff lint --processes 0 dbt_project/models

fix: install ## Apply ruff and sqlfluff fixes.
	$(RUN)/ruff check --fix .
	$(RUN)/ruff format .
	@mkdir -p dbt_project/target
	CLEARLIST_WAREHOUSE=dbt_project/target/lint.duckdb $(RUN)/sqlfluff fix --processes 0 dbt_project/models

# The audit lineage report is checked in Debian's headless Chromium (no download of
# its own: the browser comes from the system's packages).
browser: ## Install Debian's chromium for the browser check, if missing.
	@test -x /usr/bin/chromium || { \
		SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

test: lint browser ## Lint, then every test.
	$(RUN)/pytest

test-fast: install ## Skip the slow end-to-end tests.
	$(RUN)/pytest -m "not slow"

clean: ## Remove the default home and build products.
	rm -rf clearlist-home dbt_project/target dbt_project/logs
