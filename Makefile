# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export GX_ANALYTICS_ENABLED := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test lint install clean bench browser

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,dask]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/modsweep demo

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

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
bench: $(STAMP)
	$(PY) -m bench.sweep --sizes 100000,1000000,10000000 --overhead-at 1000000 --command "make bench"

bench-quick: $(STAMP)
	$(PY) -m bench.sweep --sizes 100000,1000000 --overhead-at 1000000 --command "make bench-quick"
