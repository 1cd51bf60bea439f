# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export GX_ANALYTICS_ENABLED := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test lint install clean bench bench-baseline bench-quick bench-detection bench-detection-quick browser

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade "pip>=24"
	$(PY) -m pip install -qq -c constraints.txt -e ".[dev,dask]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/modsweep demo

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n 2 --dist loadfile

# Headless Chromium for the report test (Debian's package; the test skips, saying why, where it cannot be had).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
		echo "chromium not installed: the report rendering test will be skipped"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf .modsweep tests/artifacts

# Sweep benchmark (bench/sweep.py): figures to stdout and bench/RESULTS.md. The 10M run takes many minutes.
# BASELINE_REF=<git ref> also runs that commit's flow beside this tree's, per size (make bench-baseline: 1M only).
BASELINE_REF ?=
bench: $(STAMP)
	$(PY) -m bench.sweep --sizes 100000,1000000,10000000 --overhead-at 1000000 --command "make bench" \
		$(if $(BASELINE_REF),--baseline-ref $(BASELINE_REF))

bench-baseline: $(STAMP)
	$(PY) -m bench.sweep --sizes 1000000 --overhead-at 0 --naive-items 0 --skip-side --repeat 2 \
		--baseline-ref $(or $(BASELINE_REF),c1cef94) --command "make bench-baseline BASELINE_REF=$(or $(BASELINE_REF),c1cef94)"

bench-quick: $(STAMP)
	$(PY) -m bench.sweep --sizes 100000,1000000 --overhead-at 1000000 --command "make bench-quick"

# Detection quality on the shared labelled data (bench/detection.py): a benchmark, not a test. Per data set
# validation macro-F1, ROC-AUC, precision at the removal threshold, recall at the review threshold and items/s,
# against a tuned TF-IDF baseline; figures to stdout (latest in bench/DETECTION.md). Data: ../shared/datasets,
# or MODSWEEP_SHARED_DATASETS. The full run takes about 9 minutes on 2 idle cores; bench-detection-quick caps training rows (3,000 per data set, ~1-2 minutes).
# Then bench/stream.py: the whole default pack over the mixed validation stream (every validation split + ordinary
# tweets at 10% violating) beside a pooled TF-IDF baseline and alt-profanity-check (installed if missing).
BENCH_MODEL := $(shell mktemp -d -u /tmp/modsweep-bench-model-XXXXXX)
bench-detection: $(STAMP)
	@$(PY) -c "import profanity_check" 2>/dev/null || $(PY) -m pip install --quiet --no-deps alt-profanity-check==1.9.1
	$(PY) -m bench.detection --save-model $(BENCH_MODEL) $(BENCH_DETECTION_ARGS)
	$(PY) -m bench.stream --model-dir $(BENCH_MODEL)

bench-detection-quick: $(STAMP)
	@$(PY) -c "import profanity_check" 2>/dev/null || $(PY) -m pip install --quiet --no-deps alt-profanity-check==1.9.1
	$(PY) -m bench.detection --quick --featurise-rows 20000 --save-model $(BENCH_MODEL) $(BENCH_DETECTION_ARGS)
	$(PY) -m bench.stream --model-dir $(BENCH_MODEL)
