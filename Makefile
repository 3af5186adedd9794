# recbench developer entry points. Every target creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-scale bench-knn venv clean browser bytecode readme-tables docs

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,deep,scale,docs,mlflow]'
	touch $(STAMP)

# recbench's own bytecode, as pip writes it when it installs a package (an editable install
# does not, and where PYTHONDONTWRITEBYTECODE is set Python compiles every module at every
# start): each command starts about 0.4 s sooner. Only changed modules are compiled again.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q recbench

# One algorithm or more of every family; `recbench compare` alone runs every available one.
DEMO_ALGOS ?= random,popularity,baseline,content,user-knn,svd,als,ease,hybrid

demo: bytecode
	$(BIN)/recbench compare --algos $(DEMO_ALGOS) --k 10

test: bytecode browser
	$(BIN)/python -m pytest -q tests

# Headless Chromium for the report's browser test (Debian's package; only as root with apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
	  echo "note: chromium not installed; the report browser test will be skipped"

# The documentation site (mkdocs-material; docs/, mkdocs.yml) into site/, warnings as errors; the
# CLI reference and the algorithm table are generated from the code while it builds.
# NO_MKDOCS_2_WARNING / DISABLE_MKDOCS_2_WARNING: silence the plugins' banner about MkDocs 2.
docs: $(STAMP)
	@t0=$$(date +%s.%N) && \
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(BIN)/mkdocs build --strict --quiet && \
	t1=$$(date +%s.%N) && \
	awk -v a=$$t0 -v b=$$t1 'BEGIN { printf "docs: site/ built with mkdocs build --strict in %.1f s\n", b - a }'

lint: $(STAMP)
	$(BIN)/ruff check recbench tests benchmarks
	$(BIN)/ruff format --check recbench tests benchmarks
	$(BIN)/mypy recbench

# recbench limits BLAS to one thread itself, only around implicit (threadpoolctl), so the demo
# and the tests run with the user's BLAS threads; the benchmarks' published figures were
# measured with one OpenBLAS thread everywhere, and keep that setting.
bench bench-scale bench-knn: export OPENBLAS_NUM_THREADS ?= 1

bench: bytecode
	$(BIN)/python benchmarks/run.py

# Scale section of issue 12 (synthetic data; minutes to hours, see the README): ranking speed,
# --workers 2 vs serial, ML-25M shape.  SCALE_ARGS="--only ranking" runs one part.
bench-scale: bytecode
	$(BIN)/python benchmarks/scale_bench.py $(SCALE_ARGS)

# Blockwise item-kNN on the 7.6M shape: dense vs blockwise in 1 and 2 threads (a few minutes).
bench-knn: bytecode
	$(BIN)/python benchmarks/knn_bench.py

clean:
	rm -rf $(VENV) dist build site .pytest_cache .ruff_cache
	find recbench -name __pycache__ -type d -prune -exec rm -rf {} +

# The tables of the README and the docs (Quick start demo, Surprise parity, the statistics
# example; which file holds which: TARGETS in benchmarks/readme_tables.py) rerun and
# rewritten between their <!-- readme-tables:NAME --> markers; ml-100k from ../shared (skipped
# with a message when absent). A few minutes.  READMETABLES_ARGS="--only stats" runs one block.
readme-tables: bytecode
	$(BIN)/python benchmarks/readme_tables.py $(READMETABLES_ARGS)

# Graph CF and linear baselines on LightGCN's Gowalla split (../shared/datasets/gowalla-lightgcn,
# never committed; skipped with a message when absent): Recall/NDCG@20 with 95% intervals, fit and
# score seconds, peak memory per model (minutes). GOWALLA_ARGS="--only gf-cf" runs one model.
# bench-ease: EASE's in-place float32 Cholesky fit against the former float64 LU path.
.PHONY: bench-gowalla bench-ease
bench-gowalla bench-ease: export OPENBLAS_NUM_THREADS ?= 1

bench-gowalla: bytecode
	$(BIN)/python benchmarks/gowalla_bench.py $(GOWALLA_ARGS)

bench-ease: bytecode
	$(BIN)/python benchmarks/ease_bench.py

# Next-item models on S3-Rec's LastFM and SASRec's Amazon Games files (leave-one-out, full and
# sampled ranking, epoch time against RecBole's 77-117 s); skips a file that is absent.
.PHONY: bench-seq
bench-seq: bytecode
	$(BIN)/python benchmarks/seq_bench.py $(SEQ_ARGS)
