# The two README commands:
#   make demo   - create/refresh .venv, install the suite, run the main job (regenerates reports/, see demo:)
#   make test   - create/refresh .venv, install the suite with test extras, run the test suite
# Only python3 (3.10+) and git are needed; PYTHON picks the interpreter.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo tables tables-report test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and exact: the CPU wheel; a looser requirement would pull a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[hf,onnx,dev]'
	touch $(STAMP)

install: $(STAMP)

# Parallel jobs of a sweep (joblib launcher): one torch thread each, as many jobs as cores.
N_JOBS ?= 2
# Idle OpenMP threads must sleep, not spin, when jobs share the cores (spinning made fits ~10x slower);
# a lone timing job keeps the default policy (passive waiting costs ~25% latency at batch size 1).
SWEEP_ENV := OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE BENCH_N_JOBS=$(N_JOBS)
ALL_EXPERIMENTS := $(sort $(basename $(notdir $(wildcard conf/experiment/*.yaml))))
# the accuracy tables at the tiny profile (the timing jobs and the released checkpoints' GPU runs apart),
# cheapest first (docs/notes/tables-cost.md), so that a sitting ends with whole tables to commit
TABLES_BY_COST := wwm_chinese roberta_masking bert_scaling roberta_batch_size distilbert_glue roberta_data_steps \
  roberta_nsp albert_width albert_embedding_size albert_depth albert_sharing
# A job two tables share runs once, in the earlier one (`runs.also_from` in the later table's report spec):
# albert_sharing's not-shared and all-shared rows are albert_embedding_size's jobs, the same but for the
# experiment's name. <experiment>:<sweep override>, read by the cost benchmark too (bench/benchmarks/tables_runs.py).
TABLE_ARGS := albert_sharing:model.sharing=attention,ffn
TABLES := $(filter $(ALL_EXPERIMENTS),$(TABLES_BY_COST)) $(filter-out $(TABLES_BY_COST) distilbert_speed inference_backends %_released,$(ALL_EXPERIMENTS))

# The main job (README): the parameter census, the inference-time tables and one accuracy table
# end to end (sweep -> W&B offline -> report), on 2 CPU cores in minutes. Regenerates reports/ but the
# accuracy table, whose one-seed demo goes to outputs/demo/.
demo: $(STAMP)
	$(VENV)/bin/bench-census
	$(VENV)/bin/bench-run experiment=distilbert_speed
	$(PY) -m bench.benchmarks.inference_backends --out reports
	$(SWEEP_ENV) $(VENV)/bin/bench-run experiment=roberta_masking hydra/launcher=joblib hydra.sweeper.params.seed=0
	$(VENV)/bin/bench-report experiment=distilbert_speed export=reports/runs
	# one seed: written beside the committed 3-seed table (reports/roberta_masking.md), never over it, and not
	# published (W&B report runs are those of the committed tables)
	$(VENV)/bin/bench-report experiment=roberta_masking out=outputs/demo publish=false

# Every paper table at the tiny profile (hours on 2 cores; resumable: finished jobs are skipped, the
# pretrainings reused from the checkpoint store, an interrupted job resumes from its last checkpoint).
# The store, the job dirs and the W&B runs live in TABLES_CACHE, outside the clone, so that a later
# sitting (or a fresh clone) continues where the last one stopped.
TABLES_CACHE ?= $(or $(BENCH_CACHE_DIR),$(HOME)/.cache/bert-family-bench)
TABLES_REPORT = $(VENV)/bin/bench-report experiment=all runs=$(TABLES_CACHE)/multirun export=reports/runs
tables: $(STAMP)
	$(VENV)/bin/bench-census
	BENCH_CACHE_DIR=$(TABLES_CACHE) $(VENV)/bin/bench-run experiment=distilbert_speed \
	  hydra.sweep.dir=$(TABLES_CACHE)/multirun/distilbert_speed
	# a failed job does not stop the other tables (the reports list it); a stop signal (exit >= 128) does
	status=0; for e in $(TABLES); do \
	  args=$$(for a in $(TABLE_ARGS); do case $$a in $$e:*) echo "$${a#$$e:}";; esac; done); \
	  BENCH_CACHE_DIR=$(TABLES_CACHE) $(SWEEP_ENV) $(VENV)/bin/bench-run experiment=$$e hydra/launcher=joblib \
	    hydra.sweep.dir=$(TABLES_CACHE)/multirun/$$e $$args || { rc=$$?; [ $$rc -ge 128 ] && exit $$rc; status=1; }; \
	done; \
	$(TABLES_REPORT) || status=1; exit $$status

# The reports of whatever the tables run has finished so far (at the end of a sitting, to commit them)
tables-report: $(STAMP)
	$(TABLES_REPORT)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench.benchmarks.encoder

lint: $(STAMP)
	$(VENV)/bin/ruff check bench lightning_modules tests

clean:
	rm -rf $(VENV) outputs multirun .cache
