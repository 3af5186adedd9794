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

# One algorithm or more of every family; `recbench compare` alone runs every available one.
DEMO_ALGOS ?= random,popularity,baseline,content,user-knn,svd,als,ease,hybrid

demo: $(STAMP)
	$(BIN)/recbench compare --algos $(DEMO_ALGOS) --k 10

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check recbench tests benchmarks
	$(BIN)/ruff format --check recbench tests benchmarks
	$(BIN)/mypy recbench

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache
