# The README's two commands: `make demo` (set up, then run the demo) and `make test` (set up
# everything the tests need, then run the whole suite). `.ci/run` calls `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the integration tests drive for real (started on 127.0.0.1 by the fixtures).
DEBS   := haproxy prometheus nginx
# The suite on 3 workers, a test file each at a time (its module fixtures start servers once):
# most tests wait on real HAProxy / nginx / Prometheus processes, so 3 beat 2 on 2 cores.
# `make test PYTEST_ARGS=` runs it in one process.
PYTEST_ARGS ?= -n 3 --dist loadfile

.PHONY: demo test check lint format typecheck screenshots bench system-deps clean docs docs-check

demo: $(BIN)/.installed
	$(BIN)/bluegreen demo $(ARGS)

# Static checks first (seconds), then the suite (minutes): a lint error fails fast.
test: system-deps $(BIN)/.installed-test lint typecheck docs-check
	$(BIN)/pytest $(PYTEST_ARGS)

# The documentation (mkdocs.yml): strict, so a warning (a broken link or anchor) is an error.
# NO_MKDOCS_2_WARNING: mkdocs-material 9.7+ prints a banner on every build (its end of life is
# May 2027; Zensical reads the same mkdocs.yml); it is no build warning, just noise in `make test`.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

docs: $(BIN)/.installed-test
	$(MKDOCS) build --strict --clean --site-dir site

# What `make test` runs: the same build into a throwaway directory. (Not --quiet: it would drop
# the warnings before --strict counts them, and the build would pass with a broken link.)
docs-check: $(BIN)/.installed-test
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	$(MKDOCS) build --strict --site-dir "$$out"

# ruff lint and ruff's formatter (check only: `make format` rewrites).
lint: $(BIN)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# [tool.mypy] in pyproject.toml: strict on backends/ and console/model.py.
typecheck: $(BIN)/.installed-test
	$(BIN)/mypy

check: test

screenshots: $(BIN)/.installed-test
	$(BIN)/python -m tests.support.screenshots --out screenshots

bench: $(BIN)/.installed
	$(BIN)/python bench/console_load.py --out docs/benchmarks.md

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e .
	touch $@

$(BIN)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'  # the test extra includes docs
	touch $@ $(BIN)/.installed

# Installs only what is missing; the packages' own service scripts are stopped again because the
# fixtures start their own processes on free ports.
system-deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		$(SUDO) service prometheus stop >/dev/null 2>&1 || true; \
		$(SUDO) service haproxy stop >/dev/null 2>&1 || true; \
		$(SUDO) service nginx stop >/dev/null 2>&1 || true; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache site
