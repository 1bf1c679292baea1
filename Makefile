# Each target is the only command a fresh machine needs: it creates .venv and installs
# what it uses from pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
WORKDIR ?= runs/dcgan_digits

.PHONY: demo test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(PY) -m gan_jax.main --config=experiments/dcgan_digits.py --workdir=$(WORKDIR)

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(PY) -m ruff check gan_jax experiments tests benchmarks
	$(PY) -m ruff format --check gan_jax experiments tests benchmarks

format: $(STAMP)
	$(PY) -m ruff check --fix gan_jax experiments tests benchmarks
	$(PY) -m ruff format gan_jax experiments tests benchmarks

clean:
	rm -rf $(VENV) runs
