# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test unit integration lint bench-smoke services-up services-down clean

VENV := .venv/bin

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(VENV)/support-kpi demo

# pytest processes of `make test`: most tests wait on Kafka, Redis and worker processes,
# not on the CPU, so more processes than cores finish sooner (README, "Tests")
TEST_PROCESSES ?= 4

## The whole suite: lint, type check, unit, integration and e2e tests, in parallel.
## The tests start one Kafka and one Redis on free loopback ports, shared by every test
## process (each test has its own topics and key prefix), and stop them at the end.
test: setup lint
	@mkdir -p .cache && (git status --porcelain 2>/dev/null || true) > .cache/tree-before
	$(VENV)/python -m pytest -n $(TEST_PROCESSES) --dist worksteal
	@(git status --porcelain 2>/dev/null || true) | diff .cache/tree-before - >/dev/null || \
	  { echo "make test changed the working tree:"; git status --porcelain; exit 1; }

unit: setup
	$(VENV)/python -m pytest tests/unit

integration: setup
	$(VENV)/python -m pytest tests/integration

## The benchmark suite's --quick run end to end (no timing asserted; minutes)
bench-smoke: setup
	$(VENV)/python -m pytest -m bench_smoke tests/e2e/test_bench_quick.py

lint:
	$(VENV)/ruff check .
	$(VENV)/mypy

services-up: setup
	$(VENV)/support-kpi services up

services-down:
	$(VENV)/support-kpi services down

clean:
	rm -rf .cache .pytest_cache .mypy_cache .ruff_cache
