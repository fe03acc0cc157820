# cnnviz — `make run` starts the app, `make test` runs every test. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEBIAN_PACKAGES := dataset-fashion-mnist chromium fonts-dejavu-core
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 8501

.PHONY: run test system bench train screenshots clean

run: $(VENV)/.installed
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: system $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# Debian packages the tests need: the real Fashion-MNIST and a browser for the end-to-end suite.
system:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

bench: $(VENV)/.installed
	$(PY) bench/run_all.py

# The README's screenshots, taken by the real-browser tests.
screenshots: system $(VENV)/.installed
	CNNVIZ_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q tests/e2e

# Retrain the shipped network (about 7 minutes on 2 cores).
train: $(VENV)/.installed
	$(PY) -m cnnviz.train --epochs 12 --lr 0.1 --momentum 0.9 --batch-size 128 --schedule onecycle \
	  --weight-decay 5e-4 --augment --seed 0 --threads 2 --out checkpoints/fashion_compact.pt --samples

clean:
	rm -rf $(VENV) .pytest_cache screenshots
