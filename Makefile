# Everything runs in .venv, made from python3 on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ASV := $(VENV)/bin/asv

# The asv subset CI runs once each (--quick): one parameter combination of
# every benchmark, enough to show that each still runs (asv check has
# imported them all); asv forks a process for each (asv.conf.json).
# No spaces inside a pattern (make splits on them): \s stands for one.
BENCH_CHECK := "Import" "Startup\.\w+\('(max_pool|numba\salone)'\)" \
	"Convolve\.\w+\(3,\s'numba'\)" \
	"Correlate\.\w+\(3,\s1,\s'float64'\)" \
	"CorrelateLarge\.\w+\(3,\s1\)" "CorrelateLargeKernel" \
	"CorrelateBatch\.\w+\(3,\s2\)" "CorrelateStrided\.\w+\(3,\s2\)" \
	"CorrelateMemory(Strided)?\.\w+\(3,\s'512x512'\)" \
	"Dask\.\w+\('max_pool\s4x4'," "Loops\.\w+\('mean_pool\s4/4'," \
	"Pool\.\w+\('max',\s3,\s1,\s'float32'\)" \
	"PoolLarge\.\w+\('max',\s3,\s1\)" "PoolBatch\.\w+\('max',\s2,\s2\)" \
	"PoolStrided\.\w+\('max',\s2,\s1\)" \
	"PoolMemory(Strided)?\.\w+\('max',\s3,\s1,\s'512x512'\)" \
	"PoolReductions\.\w+\('max',\s2,\s1," "SmallInput\.\w+\('max'\)" \
	"PoolLayout\.\w+\('HWC',\s'mean\s3/1'\)" "CorrelateLayout\.\w+\('HWC',\s1\)" \
	"PoolPadded\.\w+\('mean\s5/1',\s'same'\)" "CorrelatePadded\.\w+\('same',\s2\)" \
	"PoolMissing\.\w+\('mean\s15/1',\s'omit\smin_count'\)" \
	"Conv\.\w+\(16,\s3,\s1,\s'1'\)" "Grad\.\w+\(16,\s3,\s2,\s'depthwise'\)"

.PHONY: demo test bench-check bench bench-html compare clean

# One stamp per set of extras; reinstall when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$*]"
	touch $@

# The teaching walk-through on the built-in astronaut image: figures, a
# report and a loop-versus-vectorised timing table in windowkit-demo/, and
# a CNN trained from scratch on scikit-learn's digits.
demo: $(VENV)/.installed-plot
	$(VENV)/bin/windowkit demo --cnn --out windowkit-demo

# The whole test suite, after checking that every benchmark still runs, on
# one pytest-xdist worker per core: nearly all of its time is Numba
# compiling, which one process does on one core.
test: bench-check
	$(PY) -m pytest -n auto

# asv finds and checks every benchmark, then runs the subset once in .venv.
bench-check: $(VENV)/.installed-test $(VENV)/.installed-bench
	$(ASV) machine --yes > /dev/null
	$(ASV) check --python=same
	$(ASV) run --quick --python=same --dry-run --show-stderr $(foreach b,$(BENCH_CHECK),-b $(b))

# The full suite on the latest commit of main, in an environment asv builds.
bench: $(VENV)/.installed-bench
	$(ASV) machine --yes > /dev/null
	$(ASV) run "main^!"

bench-html: $(VENV)/.installed-bench
	$(ASV) publish
	@echo "open .asv/html/index.html in a browser"

clean:
	rm -rf $(VENV) .asv .pytest_cache .hypothesis build src/*.egg-info windowkit-demo
	find src benchmarks -name __pycache__ -prune -exec rm -rf {} +

# windowkit against numpy, scikit-image, scipy, OpenCV and PyTorch (where
# installed): rewrites docs/comparison.* and the table in README.md.
compare: $(VENV)/.installed-compare
	$(PY) -m benchmarks.compare
