# Two entry points, each doing all set-up on a fresh machine:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup system demo test lint

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	# CPU torch from the local wheel first; a GPU machine keeps its own CUDA build (pyproject only asks torch>=2.6)
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# Debian packages some tests need (a real Slurm and munge; chromium for the report). Needs root; without it the
# tests that need them are skipped with the reason (in CI, where CI=true, they fail instead).
system:
	@bash .ci/install-system || echo "make: system packages not installed (not root?): Slurm/browser tests will skip"

demo: setup
	$(VENV)/bin/hala demo

lint: setup
	$(VENV)/bin/ruff check .

test: setup system
	$(VENV)/bin/python -m pytest -q
