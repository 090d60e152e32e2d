# The README's commands. Each one sets up .venv from scratch when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export MPLBACKEND := agg

# Debian packages the tests use as independent references (rrdtool), to build
# benchmarks (gcc for stream.c in `workbench run`), to make
# a self-signed certificate (openssl), for
# benchmarks (sysstat's sadc/sar), to open the rendered reports in a real
# browser (chromium, tests/test_browser.py), and for the lab's guests (QEMU,
# User-mode Linux, a Debian kernel to boot: without recommends, the kernel package
# would pull in initramfs-tools and build an unused 31 MB image). Installed once, when missing.
SYSTEM_PACKAGES := rrdtool sysstat openssl gcc libc6-dev chromium qemu-system-x86 user-mode-linux linux-image-amd64
SYSTEM_COMMANDS := rrdtool sadf openssl gcc chromium qemu-system-x86_64 linux.uml
ROUNDS ?= 3

# make lab: where JupyterLab listens (only this machine by default), extra
# arguments (`make lab ARGS="--port=9999 --no-browser"`), and --allow-root when
# run as root (Jupyter refuses root otherwise).
LAB_IP   ?= 127.0.0.1
ARGS     ?=
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: report test lab lab-run clean system-deps nbstrip

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## make report: set up and render the default reports into reports/
# The library compiled once here rather than by each report's kernel (with
# PYTHONDONTWRITEBYTECODE set, every kernel compiled it again: ~0.15 s each).
report: $(STAMP)
	$(BIN)/python -m compileall -q workbench
	$(BIN)/workbench report

system-deps:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	ls /boot/vmlinuz-* >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $(SYSTEM_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      $(SYSTEM_PACKAGES) >/dev/null; \
	  else \
	    echo "error: the tests need the Debian packages: $(SYSTEM_PACKAGES) (sudo apt-get install --no-install-recommends $(SYSTEM_PACKAGES))"; exit 1; \
	  fi; \
	fi

## make test: set up, lint (ruff, rules in pyproject.toml) and run the test suite
test: $(STAMP) system-deps
	$(BIN)/ruff check workbench tests bench
	$(BIN)/python -m pytest

## make nbstrip: notebooks are committed without outputs (a git clean filter,
## see .gitattributes and workbench/nbstrip.py; the file on disk keeps them)
nbstrip:
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git config filter.nbstrip.clean "$(PYTHON) workbench/nbstrip.py" && \
	  git config filter.nbstrip.smudge cat; \
	fi

## make lab: JupyterLab on notebooks/ with the package importable (ARGS= passed on)
lab: $(STAMP) nbstrip
	$(BIN)/python -m pip install --quiet -e '.[lab]'
	$(BIN)/jupyter lab --notebook-dir=notebooks --ip=$(LAB_IP) $(LAB_ROOT) $(ARGS)

## make lab-run: the virtualization lab (data/plans/lab.toml) with ROUNDS rounds (default 3) into runs/;
## reports which environments (KVM) cannot run here and leaves them out
lab-run: $(STAMP) system-deps
	$(BIN)/workbench lab run data/plans/lab.toml --rounds $(ROUNDS) -o runs/lab-$$(date -u +%Y%m%dT%H%M%SZ)

clean:
	rm -rf $(VENV) reports/*.html reports/*.ipynb
