# Developer entry points. `make test` works on a fresh Debian 12 machine as root:
# it installs what the tests need (apt packages, a virtualenv, mediamtx) and runs pytest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
CACHE ?= $(HOME)/.cache/nvr-dev
MEDIAMTX_VERSION := v1.20.1
MEDIAMTX := $(CACHE)/bin/mediamtx-$(MEDIAMTX_VERSION)
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO := $(CACHE)/bin/minio-$(MINIO_VERSION)
# Points at the build of the installed ffmpeg's version (packaging/dev/build-ffmpeg-rec.sh).
FFMPEG_REC := $(CACHE)/bin/ffmpeg-rec
VENV_STAMP := $(VENV)/.installed-$(shell cat pyproject.toml tools/pyproject.toml | sha256sum | cut -c1-12)
PYTEST_ARGS ?=

export NVR_MEDIAMTX_BIN := $(MEDIAMTX)
export NVR_MINIO_BIN := $(MINIO)
export NVR_FFMPEG_REC_BIN := $(FFMPEG_REC)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: all deps apt mediamtx minio ffmpeg-rec venv rootfs vm-image test lint format demo bench clean

all: test

deps: apt mediamtx minio ffmpeg-rec venv vm-image

apt:
	@bash packaging/dev/install-deps.sh

mediamtx: $(MEDIAMTX)

$(MEDIAMTX):
	@MEDIAMTX_VERSION=$(MEDIAMTX_VERSION) NVR_DEV_CACHE=$(CACHE) bash packaging/dev/build-mediamtx.sh

minio: $(MINIO)

$(MINIO):
	@MINIO_VERSION=$(MINIO_VERSION) NVR_DEV_CACHE=$(CACHE) bash packaging/dev/build-minio.sh

# The recording-only ffmpeg nvr-backup runs (4.2 MB per camera instead of 12.5): built
# from Debian's source of the installed ffmpeg, 2-4 min cold; the script returns at once
# when the installed version is built already.
ffmpeg-rec: apt
	@NVR_DEV_CACHE=$(CACHE) bash packaging/dev/build-ffmpeg-rec.sh

# The Debian 12 VM image of the power-cut tests (tests/appliance/test_powercut.py), cached
# under $(CACHE)/vm/ by its package list and build script.
vm-image: apt
	@NVR_DEV_CACHE=$(CACHE) bash packaging/dev/build-vm-image.sh powercut >/dev/null

venv: $(VENV_STAMP)

# The box's distribution (nvr) and the tools around it (nvr-tools: simulator, demo, head office).
$(VENV_STAMP): pyproject.toml tools/pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q -e '.[dev]' -e ./tools
	@rm -f $(VENV)/.installed-* && touch $@
	@echo "virtualenv: $(VENV) ready"

# The Debian 12 trees of tests/appliance/: the guest systemd-nspawn boots and the container
# image's base (each 1.5-2.5 min cold, a stat when cached in $(CACHE)/rootfs/).
rootfs: apt
	@NVR_DEV_CACHE=$(CACHE) bash packaging/dev/build-rootfs.sh appliance >/dev/null
	@NVR_DEV_CACHE=$(CACHE) bash packaging/dev/build-rootfs.sh container >/dev/null

test: deps rootfs
	@set +e; $(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [[ $$rc -eq 5 ]]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

lint: venv
	$(VENV)/bin/ruff check daemons tools tests
	$(VENV)/bin/ruff format --check daemons tools tests
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format daemons tools tests
	$(VENV)/bin/ruff check --fix daemons tools tests

# The whole suite on simulated cameras under supervisord (run/demo/); Ctrl-C stops it.
demo: deps
	$(VENV)/bin/python -m nvr_demo $(DEMO_ARGS)

# Benchmarks write tests/bench/results/*.json and *.md; kept out of `make test` and CI.
BENCH_ARGS ?=
# Every benchmark runs, even after one misses its target; the misses are named at the end.
bench: deps
	@failed=""; for script in tests/bench/bench_*.py; do \
	  echo "== $$script"; $(VENV)/bin/python $$script $(BENCH_ARGS) || failed="$$failed $$script"; \
	done; if [ -n "$$failed" ]; then echo "missed a target or failed:$$failed" >&2; exit 1; fi

clean:
	rm -rf $(VENV) run build .pytest_cache .mypy_cache .ruff_cache

# The Debian package (packaging/deb/build.sh, plain dpkg-deb): $(DEB_OUT)/nvr_<version>-1_<arch>.deb.
DEB_OUT ?= dist
.PHONY: deb
deb: venv ffmpeg-rec
	@bash packaging/deb/build.sh $(DEB_OUT)
