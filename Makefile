# The two commands a new user needs: `make tour` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The exact, tested set of every distribution but torch (written by `make lock`, never by hand).
LOCK := requirements.lock
# torch first, pinned, so nothing later can swap it for a CUDA build (a GPU machine sets TORCH=...).
TORCH := torch==2.13.0
EXTRAS := all,dev
UV := uv==0.13.9

.PHONY: setup tour test bench lock upgrade-check clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	rm -rf $(VENV)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH)
	# --no-deps: the lock is complete, so pip installs exactly it and resolves nothing new
	$(PY) -m pip install -q --no-deps -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	touch $(STAMP)

tour: setup
	$(VENV)/bin/lmlearn tour

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/throughput.py

# Re-resolve the newest releases within pyproject.toml's ranges into $(LOCK), against torch's CPU
# build (its wheel lies in /opt/wheels here). Run it to upgrade on purpose, then `make test`.
lock:
	python3 -m venv .venv-lock
	.venv-lock/bin/pip install -q $(UV)
	.venv-lock/bin/uv pip compile pyproject.toml --extra all --extra dev \
	    --constraint constraints.txt --find-links /opt/wheels --python-version 3.11 \
	    --no-emit-package torch --no-header --output-file $(LOCK)

# The suite on today's newest releases, in a separate venv, so the next break shows here first.
# Writes runs/upgrade-check/{freeze.txt,pytest.txt}; the lock and .venv are untouched.
upgrade-check:
	rm -rf .venv-upgrade runs/upgrade-check
	mkdir -p runs/upgrade-check
	python3 -m venv .venv-upgrade
	.venv-upgrade/bin/pip install -q $(TORCH)
	.venv-upgrade/bin/pip install -q --upgrade --upgrade-strategy eager -c constraints.txt -e '.[$(EXTRAS)]'
	.venv-upgrade/bin/pip freeze --exclude-editable > runs/upgrade-check/freeze.txt
	.venv-upgrade/bin/pip check
	LMLEARN_UPGRADE_CHECK=1 .venv-upgrade/bin/python -m pytest -q -p no:cacheprovider 2>&1 | tee runs/upgrade-check/pytest.txt; \
	    exit $${PIPESTATUS[0]}

clean:
	rm -rf $(VENV) .venv-lock .venv-upgrade runs
