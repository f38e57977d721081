# loadstack: everyday commands. `make help` lists them.
#
#   make demo      install what is missing, start the local services, run the `shop` DAG
#   make test      install what is missing, run the test suite (all but the `long` end-to-end runs)
#   make test-long the end-to-end runs of whole stacks (minutes each; .ci/run runs both)
#
# Variables: DAG=shop  CONF='{"key": "value"}'  TIMEOUT=1800  (demo);  PYTEST_ARGS=... (test);
#            BENCH_ARGS=... (bench).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
ENV    := source scripts/env.sh &&
DAG     ?= shop
CONF    ?= {}
TIMEOUT ?= 1800
PARSE_TIMEOUT ?= 120

.PHONY: help bootstrap up demo down status restart up-distributed demo-distributed down-distributed status-distributed test test-long test-unit fuzz bench validate freeze clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-18s %s\n", $$1, $$2 }'

bootstrap: ## apt packages, Terraform check, .venv (quick when nothing changed)
	@bash scripts/bootstrap.sh

up: bootstrap ## start moto, ZooKeeper and Airflow on 127.0.0.1 (reuses running ones)
	@bash scripts/services.sh up

demo: up ## bootstrap, start the services, build missing snapshots, run the DAG (DAG=shop) and follow it
	@$(ENV) $(PY) scripts/demo.py --first loadstack_snapshots --dag-id '$(DAG)' --conf '$(CONF)' --timeout '$(TIMEOUT)' --parse-timeout '$(PARSE_TIMEOUT)'

down: ## stop every service `up` started
	@bash scripts/services.sh down

status: ## what is running, health, log files
	@bash scripts/services.sh status || true

up-distributed: bootstrap ## Airflow on PostgreSQL + Celery (Redis), two workers (infra, load), own ports
	@bash scripts/distributed.sh up

demo-distributed: up-distributed ## the demo (DAG=shop) on the distributed profile
	@bash scripts/distributed.sh demo --first loadstack_snapshots --dag-id '$(DAG)' --conf '$(CONF)' --timeout '$(TIMEOUT)' --parse-timeout '$(PARSE_TIMEOUT)'

down-distributed: ## stop every service `up-distributed` started
	@bash scripts/distributed.sh down

status-distributed: ## what of the distributed profile is running
	@bash scripts/distributed.sh status || true

restart: ## down, then up
	@bash scripts/services.sh down
	@bash scripts/services.sh up

test: bootstrap ## the test suite but the long end-to-end runs (fails if no test ran)
	@bash scripts/pytest.sh -m "not long" $(PYTEST_ARGS)

test-long: bootstrap ## the long runs: whole stacks end to end (single machine and distributed), ramps held under faults
	@# One at a time: each ramps a stack to its target QPS, and two at once on 2 cores would miss their band.
	@LOADSTACK_TEST_WORKERS=$${LOADSTACK_TEST_WORKERS:-1} bash scripts/pytest.sh -m long $(PYTEST_ARGS)

test-unit: bootstrap ## tests not marked integration
	@bash scripts/pytest.sh -m "not integration" $(PYTEST_ARGS)

fuzz: bootstrap ## fuzz spec loading with random mutations of include/stacks/*.yaml (FUZZ_EXAMPLES=1000 per test)
	@LOADSTACK_FUZZ_RANDOM=1 FUZZ_RANDOM=1 FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} bash scripts/pytest.sh tests/unit/test_spec_fuzz.py $(PYTEST_ARGS)

bench: up ## benchmarks (python -m bench): demo stack wall time, Terraform fixed cost, parse time
	@$(ENV) $(PY) -m bench $(BENCH_ARGS)

validate: bootstrap ## check every stack spec in include/stacks/
	@$(ENV) $(VENV)/bin/loadstack validate include/stacks/*.yaml

freeze: ## rewrite requirements.txt from what the venv has installed
	@{ echo "# Every package pinned to the versions resolved on Debian 12 / Python 3.11 (pip, no constraints file)."; \
	   echo "# Regenerate: make freeze"; \
	   $(PY) -m pip --disable-pip-version-check freeze --exclude-editable | grep -v '^-e '; \
	 } > requirements.txt.new && mv requirements.txt.new requirements.txt
	@echo "requirements.txt: $$(grep -vc '^#' requirements.txt) pins (git diff requirements.txt)"

clean: down down-distributed ## stop everything, then delete var/ (state, logs, Airflow DB, admin password)
	rm -rf var

distclean: clean ## clean, and delete the venv too
	rm -rf $(VENV)
