# Two commands: `make run` and `make test`. Both create .venv and install on first use.
# `make test-reliability` runs the long runs — tests/reliability/ and every test marked `reliability` (CI runs it
# after `make test`);
# `make test-random` runs the suite in a random order; it prints the seed, and `make test-random SEED=N` repeats it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

# make test: one pytest-xdist worker per core (2), then the tests marked `serial`, alone (pytest's exit
# status 5, "no test selected", is fine there). A test has 120 s (pyproject); the reliability run 10 minutes.
PYTEST_WORKERS ?= 2
RELIABILITY_SECONDS ?= 600

.PHONY: run test test-reliability test-random install install-dev lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(PY) -m bot run

lint: install-dev
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache

test: install-dev
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not reliability and not serial" --durations=15
	$(PY) -m pytest -p no:xdist -m "serial and not reliability" || test $$? -eq 5

test-reliability: install-dev
	timeout --kill-after=30 $(RELIABILITY_SECONDS) $(PY) -m pytest -n $(PYTEST_WORKERS) tests -m reliability \
		--hypothesis-profile=reliability --hypothesis-show-statistics --timeout=$(RELIABILITY_SECONDS)

test-random: install-dev
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not reliability and not serial" \
		--random-order-bucket=global $(if $(SEED),--random-order-seed=$(SEED))
	$(PY) -m pytest -p no:xdist -m "serial and not reliability" --random-order-bucket=global \
		$(if $(SEED),--random-order-seed=$(SEED)) || test $$? -eq 5

# make bench: every figure of the performance table (README), each next to its in-run baseline. A few minutes.
bench: install-dev
	$(PY) bench/cli_startup.py
	$(PY) bench/charts.py
	$(PY) bench/corr_latency.py
	$(PY) bench/telegram_latency.py --duration 20
	$(PY) bench/fanout.py --runs 1000@300 2000@30
	$(PY) bench/refresh.py
	$(PY) bench/scale_out.py

clean:
	rm -rf $(VENV) var charts .pytest_cache .ruff_cache
