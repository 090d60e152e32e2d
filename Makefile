# The README's commands. Each one sets up .venv from scratch when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export MPLBACKEND := agg

# Debian packages the tests use as independent references (rrdtool), to build
# benchmarks (gcc for stream.c in `workbench run`), to make
# a self-signed certificate (openssl) or for
# benchmarks (sysstat's sadc/sar). Installed once, when missing.
SYSTEM_PACKAGES := rrdtool sysstat openssl gcc libc6-dev
SYSTEM_COMMANDS := rrdtool sadf openssl gcc

.PHONY: report test lab clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## make report: set up and render the default reports into reports/
report: $(STAMP)
	$(BIN)/workbench report

system-deps:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "error: the tests need the Debian packages: $(SYSTEM_PACKAGES) (sudo apt-get install $(SYSTEM_PACKAGES))"; exit 1; \
	  fi; \
	fi

## make test: set up, lint (ruff, rules in pyproject.toml) and run the test suite
test: $(STAMP) system-deps
	$(BIN)/ruff check workbench tests bench
	$(BIN)/python -m pytest

## make lab: JupyterLab on notebooks/ with the package importable
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf $(VENV) reports/*.html reports/*.ipynb
