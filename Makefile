PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Interlock needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/interlock serve --dev --load examples

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest

# the statechart engine against its peers (~1 min), then the durable runtime against DBOS (~4 min), then
# on PostgreSQL: events/s at 1, 2 and 4 processes next to pgbench -N, the workflow against DBOS on the same
# server, latency at 1,000 vs 1,000,000 instances, statements per workflow and event (~6 min), then the
# HTTP server against Restate and a DBOS endpoint, and its live fan-out (~5 min; npm installs Restate into
# bench/.cache)
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null 2>&1; } \
		|| echo "note: wrk is not installed (apt-get install wrk); bench.server falls back to an aiohttp client"
	$(BIN)/python -m bench
	$(BIN)/python -m bench.durable
	$(BIN)/python -m bench.postgres
	$(BIN)/python -m bench.server

clean:
	rm -rf $(VENV) build dist src/*.egg-info
