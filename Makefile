# Everything runs in .venv, made from python3 on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test clean

# Reinstall when the project's dependencies change.
$(VENV)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

test: $(VENV)/.installed-test
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build src/*.egg-info
	find src -name __pycache__ -prune -exec rm -rf {} +
