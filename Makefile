# userops: the retail user-operations playbook. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := all

PYTHON      ?= python3.11
VENV        := .venv
BIN         := $(VENV)/bin
STAMPS      := .stamps
DEMO_DIR    := data/demo
WAREHOUSE   := data/warehouse.duckdb
DEMO_USERS  ?= 20000
DEMO_MONTHS ?= 12
DEMO_SEED   ?= 7
MONTH       ?=
PARAMS      ?= params/default.yaml
PYTEST_ARGS ?=
REPORT_LANG ?=

ifeq ($(shell command -v $(PYTHON) 2>/dev/null),)
PYTHON := python3
endif

.PHONY: all help install run demo test test-spark lint format lab bench clean triggers lock

all: run ## Install what is missing, build the demo warehouse, run the playbook for its last complete month

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 20

$(STAMPS)/system:
	@mkdir -p $(STAMPS)
	bash scripts/ensure-system-packages.sh
	@touch $@

# requirements.lock pins every transitive dependency with its hashes (what CI tested); regenerate it
# with `make lock` after editing requirements.txt (the human list of direct dependencies). The lock is
# installed by uv (itself pinned by hash in the lock), or by pip where uv cannot be installed.
$(STAMPS)/venv: requirements.lock pyproject.toml scripts/install-venv.sh
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	bash scripts/install-venv.sh $(BIN)/python requirements.lock
	@touch $@

$(STAMPS)/kernel: $(STAMPS)/venv scripts/install_kernel.py
	$(BIN)/python scripts/install_kernel.py
	@touch $@

install: $(STAMPS)/system $(STAMPS)/venv $(STAMPS)/kernel ## Create .venv, install pinned packages, Debian packages and the Jupyter kernel

$(DEMO_DIR)/planted.json: $(STAMPS)/venv lib/userops/demo.py lib/userops/_demo_catalog.py
	$(BIN)/userops demo --users $(DEMO_USERS) --months $(DEMO_MONTHS) --seed $(DEMO_SEED) --out $(DEMO_DIR)

$(WAREHOUSE): $(DEMO_DIR)/planted.json $(PARAMS) lib/userops/load.py lib/userops/load_notices.py lib/userops/mapping.py lib/userops/contract.py $(wildcard lib/userops/sql/warehouse/*.sql)
	$(BIN)/userops load $(DEMO_DIR) --warehouse $(WAREHOUSE) --params $(PARAMS)

demo: $(WAREHOUSE) ## Generate the demo data (data/demo) and load it into data/warehouse.duckdb

run: install $(WAREHOUSE) ## Run the playbook (MONTH=YYYY-MM, PARAMS=file, REPORT_LANG=zh|en) into outputs/<month>/; keeps going past a failing notebook
	$(BIN)/userops run --keep-going --params $(PARAMS) $(if $(MONTH),--month $(MONTH)) $(if $(REPORT_LANG),--lang $(REPORT_LANG))

DATE        ?=

triggers: install $(WAREHOUSE) ## The day's CRM trigger lists (DATE=YYYY-MM-DD) into outputs/triggers/<date>/
	@test -n "$(DATE)" || { echo "usage: make triggers DATE=YYYY-MM-DD" >&2; exit 2; }
	$(BIN)/userops triggers --date $(DATE) --params $(PARAMS) --warehouse $(WAREHOUSE)

test: install ## Lint, then run the test suite (unit, planted effects, end to end)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

lint: $(STAMPS)/venv ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMPS)/venv ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-spark: install ## The Spark engine: every metric SQL file on local Spark equal to DuckDB (differential), then the six notebooks
	USEROPS_SPARK_FULL=1 $(BIN)/pytest tests/spark tests/unit/test_spark_sql.py $(PYTEST_ARGS)

BENCH_USERS   ?= 20000 200000
BENCH_ENGINES ?= duckdb spark
BENCH_ARGS    ?=

bench: install ## Time demo, load and the playbook per engine at several scales (BENCH_USERS="20000 1000000", BENCH_ENGINES="duckdb spark", BENCH_ARGS="--warehouse W --parquet P --work DIR": a loaded warehouse)
	$(BIN)/python bench/bench.py --users $(BENCH_USERS) --engines $(BENCH_ENGINES) $(BENCH_ARGS)

lab: install $(WAREHOUSE) ## Open JupyterLab on notebooks/ with the project kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# optional extras left out of the lock (scripts/lock-drop.awk says why): installs are --no-deps from the lock
LOCK_DROP := rfc3987-syntax lark

lock: ## Re-pin requirements.lock (every transitive dependency, with hashes) from requirements.txt
	rm -rf /tmp/userops-lock-venv && $(PYTHON) -m venv /tmp/userops-lock-venv
	/tmp/userops-lock-venv/bin/python -m pip install --quiet pip-tools
	/tmp/userops-lock-venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple --output-file requirements.lock requirements.txt
	awk -v drop="$(LOCK_DROP)" -f scripts/lock-drop.awk requirements.lock >requirements.lock.tmp && mv requirements.lock.tmp requirements.lock
	rm -rf /tmp/userops-lock-venv

clean: ## Remove generated data, warehouse (and killed loads' temp files), outputs, caches and the venv
	rm -rf $(VENV) $(STAMPS) $(DEMO_DIR) $(WAREHOUSE) $(WAREHOUSE).wal outputs .pytest_cache .ruff_cache
	rm -rf $(WAREHOUSE).*.tmp $(WAREHOUSE).*.tmp.wal $(WAREHOUSE).*.tmp.rejects.csv $(dir $(WAREHOUSE)).locks
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
