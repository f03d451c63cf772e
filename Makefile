# The two commands of the README: `make demo` and `make test`.
.PHONY: setup demo test unit integration lint services-up services-down clean

VENV := .venv/bin

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(VENV)/support-kpi demo

## The whole suite: lint, type check, unit, integration and e2e tests.
## The integration tests start their own Kafka and Redis on free loopback ports.
test: setup lint
	@mkdir -p .cache && (git status --porcelain 2>/dev/null || true) > .cache/tree-before
	$(VENV)/python -m pytest
	@(git status --porcelain 2>/dev/null || true) | diff .cache/tree-before - >/dev/null || \
	  { echo "make test changed the working tree:"; git status --porcelain; exit 1; }

unit: setup
	$(VENV)/python -m pytest tests/unit

integration: setup
	$(VENV)/python -m pytest tests/integration

lint:
	$(VENV)/ruff check .
	$(VENV)/mypy

services-up: setup
	$(VENV)/support-kpi services up

services-down:
	$(VENV)/support-kpi services down

clean:
	rm -rf .cache .pytest_cache .mypy_cache .ruff_cache
