# Two commands on a fresh machine with only Python 3.11+:
#   make run    create .venv, install, migrate, load the demo tenant, serve on :8000
#   make test   ruff, makemigrations --check and the whole pytest suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint migrate demo worker beat stream clean

$(VENV)/.base: requirements/base.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/base.txt
	touch $@

$(VENV)/.dev: $(VENV)/.base requirements/dev.txt
	$(PY) -m pip install -q -r requirements/dev.txt
	touch $@

install: $(VENV)/.base
install-dev: $(VENV)/.dev

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py demo --base-url http://$(HOST):$(PORT)

run: migrate
	$(PY) manage.py demo --base-url http://$(HOST):$(PORT)
	$(PY) manage.py runserver $(HOST):$(PORT)

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

test: lint
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

worker: install
	$(VENV)/bin/celery -A config worker -l info

beat: install
	$(VENV)/bin/celery -A config beat -l info

# Alpaca's trade-update stream (fills flowing back), one process per installation.
stream: install
	$(PY) manage.py trade_stream

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
