# One-command entry points. `make demo` and `make test` set up .venv first (once: a stamp file
# records the installed lock, so a second call installs nothing).
PYTHON ?= python3.11
VENV   ?= .venv
GPU    ?= 0
CORES  ?= 2
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-gpu$(GPU)
PLUGINS := plugins/torch plugins/fastai plugins/keras
# GPU=1 swaps tensorflow-cpu for the CUDA build of the same TensorFlow version.
TF_GPU := tensorflow[and-cuda]==$(shell sed -n 's/^tensorflow_cpu==//p' requirements.lock)

export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup tex demo test test-slow test-all lint bench bench-gpu clean-results help lock messages
help:
	@echo "make demo       set up .venv and run the whole pipeline on the default profile (digits, CPU)"
	@echo "make tex        install TeX Live for memoir.pdf (apt-get, as root; else prints the command)"
	@echo "make test       set up .venv and run the fast test suite"
	@echo "make test-slow  the slow end-to-end tests (Snakemake, DVC, real training, LaTeX, Chromium)"
	@echo "make bench      benchmark tables (data stages; seconds per epoch, each plugin vs its bare library loop)"
	@echo "make bench-gpu  the prepared GPU check (resnet50 at 224 px, fp32 and mixed, a tiny cuda pipeline)"
	@echo "make messages   merge new memoir strings into reports/i18n/es/LC_MESSAGES/memoir.po (then translate)"
	@echo "make demo GPU=1 install the CUDA build of TensorFlow (torch from the lock is CUDA-enabled)"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
ifeq ($(GPU),1)
	grep -v '^tensorflow_cpu==' requirements.lock > $(VENV)/requirements-gpu.lock
	$(BIN)/pip install --quiet -r $(VENV)/requirements-gpu.lock "$(TF_GPU)"
else
	$(BIN)/pip install --quiet -r requirements.lock
endif
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . $(addprefix -e ,$(PLUGINS))
	@rm -f $(VENV)/.installed-gpu*
	@touch $@

tex:
	@workflow/scripts/system_packages.sh tex

# The Spanish edition's catalog: new strings of report/*.py and the templates arrive empty,
# vanished ones are dropped; tests/test_i18n.py fails until each has its Spanish.
messages: setup
	$(BIN)/python -c "from dlcompare.report import i18n; print('updated', i18n.update('es'))"


demo: setup tex
	$(BIN)/snakemake --cores $(CORES) --resources gpu=$(GPU)
	@$(BIN)/python -c "from pathlib import Path; [print('memoir:', p.resolve()) for p in sorted(Path('reports/build').glob('memoir.*')) if p.suffix in ('.pdf', '.html')]"

# The core's tests, then each plugin's own tests (plugins/<lib>/tests) in a process of its own:
# one library per process, as in a pipeline (TensorFlow and torchvision do not share one well).
TESTS = tests $(addsuffix /tests,$(PLUGINS))
define run_tests
	@set -e; for dir in $(TESTS); do echo "== $$dir"; $(BIN)/pytest -q $(1) $$dir || [ $$? -eq 5 ]; done
endef

test: setup
	$(call run_tests,)

test-slow: setup
	$(call run_tests,-m slow)

test-all: setup
	$(call run_tests,-m "slow or not slow")

lint: setup
	$(BIN)/snakemake --lint

bench: setup
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_throughput.py

# On a machine with an NVIDIA GPU (make setup GPU=1 first); exits with one line when none is visible.
bench-gpu: setup
	$(BIN)/python workflow/scripts/bench_gpu.py

lock:  ## re-pin from the current .venv, then mirror the pins into environment.yml
	{ sed -n '1,2p' requirements.lock; $(BIN)/pip freeze --exclude-editable | grep -v '^dlcompare'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	$(BIN)/python workflow/scripts/write_environment.py

clean-results:
	rm -rf data results reports/build .snakemake
