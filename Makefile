# `make run` and `make test` set up everything they need on a fresh Debian or
# Ubuntu machine (apt packages, a virtual environment), then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

RUN_APT := ffmpeg
# fonts-nanum: Korean glyphs for the browser tests' screenshots; strace: the hardening tests
# record every file and connection of the server and its ffmpeg children
TEST_APT := ffmpeg espeak-ng sox chromium fonts-nanum strace

.PHONY: run test lint bench apt-run apt-test clean

run: apt-run $(VENV)/.run-installed
	$(PY) app.py $(ARGS)

# two processes, each running one test file at a time (a file's servers and models are shared by its
# tests): about half the CPU waits on servers, browsers and ffmpeg, so two keep both cores busy here.
# TEST_WORKERS=0 runs in one process; plain `pytest` does too.
TEST_WORKERS ?= 2

test: apt-test $(VENV)/.dev-installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(ARGS)

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .

# the app against the raw openai-whisper library (about 10 minutes; bench/README.md):
# `make bench ARGS="--only overhead,memory"` runs some, `ARGS=--quick` checks the scripts
bench: apt-test $(VENV)/.dev-installed
	$(PY) -m bench $(ARGS)

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if ! command -v apt-get >/dev/null 2>&1; then echo "Please install:$$missing (no apt-get here)"; exit 1; fi; \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

apt-run:
	$(call apt_install,$(RUN_APT))

apt-test:
	$(call apt_install,$(TEST_APT))

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt requirements-ray.txt | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-installed

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts
