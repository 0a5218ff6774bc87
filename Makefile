# The clinic app. `make run` and `make test` do all setup on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench install lint check audit clean

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "The clinic app needs Python 3.11 or newer (set PYTHON=python3.11)."; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

# `make run` serves the app as production does (the clinic's own error pages,
# its content security policy, compressed static files), over plain HTTP on this
# machine, with a secret key kept in var/secret_key. `make run RUN_DEBUG=1` shows
# Django's debug pages instead.
RUN_DEBUG ?= 0
SECRET_KEY_FILE := var/secret_key
run: export DEBUG = $(RUN_DEBUG)
run: export SECURE_SSL_REDIRECT ?= 0
run: export SESSION_COOKIE_SECURE ?= 0
run: export CSRF_COOKIE_SECURE ?= 0
run: export SECURE_HSTS_SECONDS ?= 0
run: export CLINIC_BASE_URL ?= http://$(HOST):$(PORT)
run: export CLINIC_ADDRESS ?= 1 Example Street, London N1 0AA

## Serve the app with demo data: web, Celery worker and Celery beat, until Ctrl-C.
# The worker runs its tasks in threads: Ctrl-C (a signal to the whole process
# group) then stops it in seconds, where forked pool processes signalled along
# with it could leave it waiting for them for good.
run: install
	@mkdir -p var
	@test -s $(SECRET_KEY_FILE) || (umask 077; $(BIN)/python -c \
		'import secrets; print(secrets.token_urlsafe(50))' > $(SECRET_KEY_FILE))
	@export SECRET_KEY="$$(cat $(SECRET_KEY_FILE))"; set -e; \
	$(BIN)/python manage.py migrate --noinput; \
	$(BIN)/python manage.py collectstatic --noinput --verbosity=0; \
	$(BIN)/python manage.py seed_demo; \
	echo; \
	echo "  The clinic app is starting at http://$(HOST):$(PORT)/ (Ctrl-C stops everything)."; \
	echo "  Emails are written to var/mail/."; \
	echo; \
	trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	( set +e; while true; do $(BIN)/celery -A clinic worker --loglevel=INFO --pool=threads --concurrency=2; \
		case $$? in 0|130|143) break;; esac; \
		echo "  The Celery worker stopped: starting it again in 5 s."; sleep 5; done ) & \
	$(BIN)/celery -A clinic beat --loglevel=INFO & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## The whole test suite (SQLite by default; PostgreSQL/Redis when DATABASE_URL/CELERY_BROKER_URL point there).
test: install
	$(BIN)/pytest

## Benchmarks: one `name: value` line per figure.
bench: install
	$(BIN)/python -m bench

## Known vulnerabilities in the pinned packages (asks PyPI's advisory data online).
audit:
	test -d .venv-audit || $(PYTHON) -m venv .venv-audit
	.venv-audit/bin/pip install --quiet --disable-pip-version-check pip-audit==2.10.1
	.venv-audit/bin/pip-audit --strict --no-deps --disable-pip -r requirements.txt

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .venv-audit var
