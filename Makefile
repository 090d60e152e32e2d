# The README's commands. Each one sets up .venv from scratch when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export MPLBACKEND := agg

.PHONY: report test lab clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## make report: set up and render the default reports into reports/
report: $(STAMP)
	$(BIN)/workbench report

## make test: set up and run the test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## make lab: JupyterLab on notebooks/ with the package importable
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf $(VENV) reports/*.html reports/*.ipynb
