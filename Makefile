# The two commands: `make run` (the product on SQLite with demo data) and `make test`.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint install system-deps node-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $$(scripts/find-python) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# gunicorn beside the worker, outbox and SLA clock; DEBUG stays off unless the environment sets it.
run: $(STAMP)
	$(BIN)/firstline run $${FIRSTLINE_BIND:-127.0.0.1:8000}

lint: $(STAMP)
	$(BIN)/ruff check firstline tests bench
	DEBUG=1 DATABASE_URL=sqlite:///:memory: $(BIN)/firstline makemigrations --check --dry-run

# Debian packages the tests drive for real: Chromium (browser test; Playwright's own browser
# download does not work on closed networks) and Dovecot (the IMAP server the mail tests poll);
# systemd-analyze, nginx and pg_dump check the deploy/ files and drill backups (tests/test_ops*).
# Installed only when missing and when we may (root with apt-get).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	test -x /usr/sbin/dovecot || missing="$$missing dovecot-imapd"; \
	ldconfig -p | grep -q libpango-1.0 || missing="$$missing libpango-1.0-0"; \
	test -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || missing="$$missing fonts-dejavu-core"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	command -v pg_dump >/dev/null 2>&1 || missing="$$missing postgresql-client"; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (tests that need them are skipped)"; fi; \
	fi

# axe-core for the accessibility check in the browser tests (tests/test_a11y_axe.py), pinned
# in package-lock.json and installed from the npm registry with npm (Node 20 and npm come
# from Debian when missing and we may install them).
NODE_STAMP := node_modules/.installed-$(shell cat package-lock.json | cksum | cut -d' ' -f1)

$(NODE_STAMP): package.json package-lock.json
	@if ! command -v npm >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing nodejs npm"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --silent && rm -f node_modules/.installed-* && touch $@; \
	else echo "missing: npm (the accessibility test fails in CI without axe-core)"; fi

node-deps: $(NODE_STAMP)

test: $(STAMP) system-deps node-deps lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var node_modules
