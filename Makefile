# The two commands: `make run` (the product on SQLite with demo data) and `make test`.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint install browser-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $$(scripts/find-python) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(BIN)/firstline run $${FIRSTLINE_BIND:-127.0.0.1:8000}

lint: $(STAMP)
	$(BIN)/ruff check firstline tests bench
	DEBUG=1 DATABASE_URL=sqlite:///:memory: $(BIN)/firstline makemigrations --check --dry-run

# Chromium for the browser test comes from Debian; Playwright's own download does not work
# on closed networks. Installed only when missing and when we may (root, apt-get present).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not found: the browser test will be skipped"; fi; }

test: $(STAMP) browser-deps lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var
