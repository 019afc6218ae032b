# Every target runs in the project's virtual environment (.venv), made by `make setup`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export LANDSCAPE_DATA ?= $(abspath ../shared/data)

.PHONY: setup test test-fast html pdf lab book run-smoke wheelhouse bench device-peers clean

# A second `make setup` with nothing changed does nothing: the stamp is newer
# than requirements.txt and pyproject.toml.
setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name landscape --display-name "Python (landscape)" > /dev/null
	# ipykernel's own python3 kernelspec runs whichever `python` is first on PATH: only landscape stays
	rm -rf $(VENV)/share/jupyter/kernels/python3
	touch $(STAMP)

# Unit tests, every chapter on the smoke profile (glued values), nbval on the
# deterministic cells, then the HTML build with -W.
test: $(STAMP)
	$(PY) -m pytest -q

# Unit tests only (no notebooks, no book build).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not chapters"

# The HTML from the committed notebooks (no execution), warnings are errors.
html: $(STAMP)
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going --quiet

# The whole book as one PDF, _build/html/landscape.pdf (a single-page build printed by
# headless Chromium, offline); the intro links it.
pdf: $(STAMP)
	$(PY) -m landscape.publishing.takeaway pdf

# JupyterLab on runs/lab/ (a working copy of the chapters, made from book/ when absent),
# the landscape kernel only, on 127.0.0.1: exploring never changes book/.
LAB_DIR  ?= runs/lab
LAB_PORT ?= 8888
lab: $(STAMP)
	$(PY) -m landscape.publishing.lab --dir $(LAB_DIR) --port $(LAB_PORT) $(LAB_ARGS)

# Set-up, every chapter on the cpu profile published into book/, then the HTML and the PDF.
book: $(STAMP)
	$(PY) -m landscape run --profile cpu --publish
	$(MAKE) html
	-$(MAKE) pdf

run-smoke: $(STAMP)
	$(PY) -m landscape run --profile smoke

# Wheels a GPU machine that already has torch needs to run the chapters
# (papermill, a Jupyter kernel, the book's plotting stack), for a stated
# Python version and platform. Install there with
#   pip install --no-index --find-links wheelhouse -r requirements-runner.txt
WHEEL_PYTHON   ?= 3.12
WHEEL_PLATFORM ?= manylinux_2_28_x86_64
wheelhouse: $(STAMP)
	$(PY) -m pip download --dest wheelhouse --only-binary=:all: \
	  --python-version $(WHEEL_PYTHON) --implementation cp \
	  --platform $(WHEEL_PLATFORM) --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
	  -r requirements-runner.txt
	@echo "wheels for Python $(WHEEL_PYTHON) on $(WHEEL_PLATFORM) in wheelhouse/"

bench: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) bench/run.py

# PyHessian (pure Python) for bench/device.sh on a lent GPU machine, which has torch but no PyHessian:
# carry .peers/ there (git ignores it).
device-peers: $(STAMP)
	$(PY) -m pip install --quiet --no-deps --target .peers pyhessian==0.1

clean:
	rm -rf _build runs
