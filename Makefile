# The two commands a new user runs are `make demo` and `make test`; both build .venv from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[terraform,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# Two workers: the suite mostly waits on the processes it starts (servers, Terraform, the provider).
# The 25 slowest tests are listed at the end, so a slow new test shows up in the first CI run.
# The sources are compiled first: the suite starts hundreds of server, CLI and provider processes, and where
# PYTHONDONTWRITEBYTECODE is set none of them would keep the bytecode it compiles (90 ms per server process).
test: $(STAMP)
	$(BIN)/python -m compileall -q service provider rules proto
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --durations=25 tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -p no:cacheprovider tests/unit

lint: $(STAMP)
	$(BIN)/ruff check service provider rules tests

# Regenerates docs/index.md, docs/resources/ and docs/data-sources/ from the provider schema and
# examples/terraform/; `make test` fails when the committed docs differ from what this writes.
docs: $(STAMP)
	$(BIN)/python -m vaultguard.provider.docs

bench: $(STAMP)
	@status=0; for b in tests/bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || status=1; done; exit $$status

clean:
	rm -rf $(VENV) build *.egg-info
