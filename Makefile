# The two commands (see README): `make demo` runs the main job, `make test` runs the tests.
# Each installs what it needs into .venv first; a fresh machine needs only Python 3.11+,
# a JDK 21+ and Maven (for the one-time Elasticsearch download) and the package registries.
# `make test` also needs Debian's redis-server (the fleet tests start their own on a free
# port); as root it installs the package when it is missing. Likewise Debian's chromium for
# the browser tests of `raqib web`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install test lint demo bench clean redis-server chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[web,test,bench]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

test: $(STAMP) redis-server chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (pyflakes, import order, pyupgrade) and mypy (strict on the modules pyproject.toml
# lists); the import contract itself is tests/test_architecture.py.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The fleet tests run a real Redis; they fail rather than skip without one.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing Debian's redis-server for the fleet tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null; }; \
	  fi; \
	  command -v redis-server >/dev/null 2>&1 || { \
	    echo "make: the tests need redis-server and it could not be installed here: run" \
	         "'apt-get install redis-server' as root (or put a redis-server on PATH), then make test again" >&2; \
	    exit 1; }; }

# The web tests drive Debian's chromium through Playwright (never its downloaded browsers).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing Debian's chromium for the web tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	  fi; \
	  test -x /usr/bin/chromium || { \
	    echo "make: the web tests need Debian's chromium at /usr/bin/chromium and it could not be installed" \
	         "here: run 'apt-get install chromium' as root, then make test again" >&2; \
	    exit 1; }; }

demo: $(STAMP)
	$(BIN)/raqib demo

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache bench/results/*.tmp
