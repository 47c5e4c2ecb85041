# The two README commands:
#   make demo   - create/refresh .venv, install the suite, run the main job (regenerates reports/)
#   make test   - create/refresh .venv, install the suite with test extras, run the test suite
# Only python3 (3.10+) and git are needed; PYTHON picks the interpreter.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo tables test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and exact: the CPU wheel; a looser requirement would pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[hf,dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: the parameter census, the inference-time table and one accuracy table,
# end to end (sweep -> W&B offline -> report), on 2 CPU cores in minutes.
demo: $(STAMP)
	$(VENV)/bin/bench-census

# Every paper table at the tiny profile (longer; see README).
tables: $(STAMP)
	$(VENV)/bin/bench-census

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench.bench_encoder

lint: $(STAMP)
	$(VENV)/bin/ruff check bench lightning_modules tests

clean:
	rm -rf $(VENV) outputs multirun .cache
