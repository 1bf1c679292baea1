# Each target is the only command a fresh machine needs: it creates .venv and installs
# what it uses from pyproject.toml (the demo needs the core packages only; the tests also
# need TensorFlow Datasets and the PyTorch reference implementations).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CKSUM := $(shell cksum pyproject.toml | cut -d' ' -f1)
CORE := $(VENV)/.core-$(CKSUM)
FULL := $(VENV)/.full-$(CKSUM)
WORKDIR ?= runs/dcgan_digits

.PHONY: demo test lint format clean

# --no-compile: bytecode is written on first import instead, only for the modules used.
# An environment that sets PYTHONDONTWRITEBYTECODE would make every Python process of the
# tests compile jax, TensorFlow and torch from source again (~10 s a process on 2 cores).
unexport PYTHONDONTWRITEBYTECODE
PIP := $(PY) -m pip install -q --no-compile

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(CORE): pyproject.toml | $(PY)
	$(PIP) -e .
	rm -f $(VENV)/.core-* && touch $@

# One resolve for everything the tests use (the core packages included).
$(FULL): pyproject.toml | $(PY)
	$(PIP) -e ".[test,tfds,reference]"
	rm -f $(VENV)/.core-* $(VENV)/.full-* && touch $(CORE) $@

demo: $(CORE)
	$(PY) -m gan_jax.main --config=experiments/dcgan_digits.py --workdir=$(WORKDIR)

test: $(FULL)
	GAN_JAX_REQUIRE_EXTRAS=1 $(PY) -m pytest -n 2 -q --durations=25

lint: $(FULL)
	$(PY) -m ruff check gan_jax experiments tests benchmarks
	$(PY) -m ruff format --check gan_jax experiments tests benchmarks

format: $(FULL)
	$(PY) -m ruff check --fix gan_jax experiments tests benchmarks
	$(PY) -m ruff format gan_jax experiments tests benchmarks

clean:
	rm -rf $(VENV) runs
