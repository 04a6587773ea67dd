# rasd — make run | make test | make eval | make bench | make bench-extract
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
INPUT     ?= data/sample
WAREHOUSE ?= warehouse
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 180
export GX_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: run test test-fast eval bench bench-extract venv lock clean

venv: $(STAMP)

# The environment is created from the committed lock, then rasd itself is installed without deps.
$(STAMP): requirements.lock pyproject.toml setup.py rasd/_acscan.c rasd/_casscan.c \
          rasd/extract/events.py rasd/extract/dates.py rasd/extract/event_types.py rasd/extract/actors.py \
          rasd/extract/places.py rasd/extract/casualties.py rasd/extract/numbers.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/rasd run --input $(INPUT) --warehouse $(WAREHOUSE)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# Accuracy on the shared dev corpora (../shared), one line per set. EVAL_MODE=full runs the whole pipeline
# (ingest → … → publish, in-process) into a temporary warehouse and scores the published tables;
# EVAL_MODE=fast runs ingest + extraction only (quicker while tuning rules).
EVAL_MODE ?= full
eval: $(STAMP)
	RASD_EVAL_NO_PREFECT=1 $(BIN)/python -m rasd.evaluate --mode $(EVAL_MODE) $(if $(CORPUS),--corpus $(CORPUS)) $(if $(GOLD),--gold $(GOLD))

# End-to-end benchmark on a generated corpus (docs/benchmarks.md): make bench | make bench SIZE=100000
SIZE ?= 10000
bench: $(STAMP)
	$(BIN)/python bench/run_bench.py --size $(SIZE)

# BENCH_CORPUS=.bench/corpus-s7-n10000/part-0000 also times one pass over generated articles (after make bench)
BENCH_CORPUS ?=
bench-extract: $(STAMP)
	$(BIN)/python bench/bench_extract.py --seconds 5 $(if $(BENCH_CORPUS),--corpus $(BENCH_CORPUS) --limit 1000)

# Re-resolve the pins after changing dependencies in pyproject.toml.
lock:
	rm -rf /tmp/rasd-lock && $(PYTHON) -m venv /tmp/rasd-lock
	/tmp/rasd-lock/bin/pip install -q -e '.[dev]'
	/tmp/rasd-lock/bin/pip freeze --exclude-editable | grep -v '^rasd' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build
	rm -f rasd/_*.so rasd/extract/_*.so
