# recbench developer entry points. Every target creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test lint bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,deep]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/recbench compare --algos random,popularity,baseline,svd,als --k 10

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check recbench tests benchmarks
	$(BIN)/ruff format --check recbench tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache
