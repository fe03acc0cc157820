# cnnviz — `make run` starts the app, `make test` runs every test. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEBIAN_PACKAGES := dataset-fashion-mnist chromium fonts-dejavu-core haproxy postgresql
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT   ?= 8501
REPLICAS ?= $(shell nproc 2>/dev/null || echo 1)

.PHONY: run class test system bench train train-blur train-shift remedies screenshots clean

# Your own model: make run MODEL=path/to/net.py:Net WEIGHTS=path/to/net.pt (README: "Your own model")
run: $(VENV)/.installed
	$(if $(MODEL),CNNVIZ_MODEL=$(MODEL)) $(if $(WEIGHTS),CNNVIZ_WEIGHTS=$(WEIGHTS)) \
	  $(PY) -m streamlit run app.py --server.port $(PORT)

# A class: REPLICAS identical servers (default one per core) on the ports after PORT, HAProxy in front on PORT,
# sticky by cookie; Ctrl-C stops them all, trainings saved (README: "Running it for a class").
class: DEBIAN_PACKAGES := haproxy
class: system $(VENV)/.installed
	$(PY) -m deploy.class_server --replicas $(REPLICAS) --port $(PORT)

test: system $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# Debian packages the tests need: the real Fashion-MNIST, a browser for the end-to-end suite, HAProxy for the
# class server's tests (`make class` installs only HAProxy), and PostgreSQL (the class store's tests start a
# throwaway cluster with its initdb/pg_ctl; no server is set up or left running).
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

# Two remedies for translation (issue 13), fine-tuned for one epoch from the shipped network with its recipe
# (flips, SGD 0.9, weight decay 5e-4, batch 128, one-cycle) at a peak learning rate of 0.02; each then
# measures its row of the table (accuracy, consistency k = 1..4, zero fill and circular) into its metadata.
REMEDY_FT := --init checkpoints/fashion_compact.pt --epochs 1 --lr 0.02 --momentum 0.9 --batch-size 128 \
  --schedule onecycle --weight-decay 5e-4 --augment --seed 0 --threads 2
# Anti-aliased pooling: max-pool with stride 1, then a binomial blur with stride 2 (cnnviz/blurpool.py).
train-blur: $(VENV)/.installed
	$(PY) -m cnnviz.train --arch compact_blur $(REMEDY_FT) --out checkpoints/fashion_compact_blur.pt
	$(PY) -m cnnviz.shift --threads 2 --store blur=checkpoints/fashion_compact_blur.pt

# Random shifts of the training images by up to 3 pixels (zero fill).
train-shift: $(VENV)/.installed
	$(PY) -m cnnviz.train $(REMEDY_FT) --translate 3 --out checkpoints/fashion_compact_shift.pt
	$(PY) -m cnnviz.shift --threads 2 --store shift=checkpoints/fashion_compact_shift.pt

# The table of the three shipped networks on the 10,000 test images (seeded).
remedies: $(VENV)/.installed
	$(PY) -m cnnviz.shift --threads 2

clean:
	rm -rf $(VENV) .pytest_cache screenshots
