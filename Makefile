# bnlab: two commands do all the set-up on a fresh machine.
#   make lab    installs everything and opens the lessons in JupyterLab
#   make test   installs everything (Chromium, JupyterHub's proxy for the hub test, PostgreSQL for the
#               gradebook tests) and runs every test
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PORT ?= 8888

.PHONY: lab test setup browser postgres build bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# The CPU build of PyTorch first: a plain `torch` would pull a CUDA build of several GB.
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# As root (a container, a teaching VM), Jupyter needs --allow-root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. --port=$(PORT) $(ALLOW_ROOT) lessons/

browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@command -v bwrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; }
	@# The hub round (tests/test_hub.py): JupyterHub's proxy from npm (Node >= 20), PAM logins, useradd.
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	@command -v useradd >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq passwd >/dev/null; }
	@test -x deploy/hub/node_modules/.bin/configurable-http-proxy || \
		npm ci --prefix deploy/hub --no-audit --no-fund --loglevel=error

# The PostgreSQL gradebook tests start their own server from Debian's package (tests/test_postgres.py).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

test: setup browser postgres
	$(PYTHON) -m pytest

build: setup
	$(VENV)/bin/bnlab build

bench: setup
	$(PYTHON) benchmarks/lessons.py
	$(PYTHON) benchmarks/grading.py
