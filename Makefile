# The two commands a newcomer needs are `make dev` and `make test`; everything else here is what
# they call. Every target installs what it needs itself: nothing depends on a hand-installed tool.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
TOOLS := $(CURDIR)/.tools/bin
HELM_VERSION := v3.19.5
TOFU_VERSION := v1.12.6
# kind's own node-image tag (kindest/node:v1.32.x) must be one this kind version was released with.
KIND_VERSION := v0.33.0
LOCATIONS := candidates jobs matching
PACKAGES := shared_lib tooling $(addprefix code_locations/,$(LOCATIONS))
STAMP := $(VENV)/.installed
# Encodings tiktoken would otherwise download on first use (talent_shared/llm/encodings.py seeds them).
export TIKTOKEN_CACHE_DIR := $(CURDIR)/.tools/tiktoken
export PATH := $(TOOLS):$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup tools dev test test-shared test-tooling test-hostile test-faults-soak test-candidates test-jobs test-matching test-platform lint schemas bench e2e e2e-plan docker docker-down images k8s-bin kind-bin constraints clean

help:
	@echo "make dev    run the platform locally (embedded Postgres, daemon, webserver, 3 code servers)"
	@echo "make test   run every test suite"
	@echo "make lint   the git hooks over every file: ruff, mypy, import contracts, shellcheck, helm lint, tofu fmt"
	@echo "make bench  benchmarks, written to .bench/results.json"

## setup: the virtualenv with every package pinned by constraints.txt (quick when nothing changed)
setup: $(STAMP) $(TIKTOKEN_CACHE_DIR)/.seeded

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(UV): $(VENV)/bin/python
	$(PY) -m pip install --quiet --disable-pip-version-check --constraint constraints-tools.txt uv

$(STAMP): $(UV) constraints.txt requirements-dev.txt shared_lib/pyproject.toml tooling/pyproject.toml $(addsuffix /pyproject.toml,$(addprefix code_locations/,$(LOCATIONS)))
	$(UV) pip install --quiet --python $(PY) --constraints constraints.txt \
		$(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	@touch $@

$(TIKTOKEN_CACHE_DIR)/.seeded: $(STAMP)
	$(PY) -m talent_shared.llm.encodings seed "$(TIKTOKEN_CACHE_DIR)"
	@touch $@

## tools: pinned command-line tools the tests use, in .tools/bin (helm, tofu and kind built from their Go modules)
tools: $(TOOLS)/helm $(TOOLS)/tofu $(TOOLS)/checkov $(TOOLS)/kind prometheus

$(TOOLS)/helm:
	GOBIN=$(TOOLS) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

## kind-bin: the kind CLI, built from its Go module into .tools/bin
kind-bin: $(TOOLS)/kind

# kind from its module (the binary names its version: a pin change rebuilds through the versioned stamp).
$(TOOLS)/kind: $(TOOLS)/.kind-$(KIND_VERSION)
$(TOOLS)/.kind-$(KIND_VERSION):
	GOBIN=$(TOOLS) go install sigs.k8s.io/kind@$(KIND_VERSION)
	rm -f $(TOOLS)/.kind-* && touch $@

# OpenTofu's go.mod has replace directives, which `go install pkg@version` refuses: build it from
# the downloaded module instead (about 9 minutes on 2 cores the first time; cached after).
$(TOOLS)/tofu:
	go mod download github.com/opentofu/opentofu@$(TOFU_VERSION)
	cd "$$(go env GOMODCACHE)/github.com/opentofu/opentofu@$(TOFU_VERSION)" && GOBIN=$(TOOLS) GOFLAGS=-mod=mod go install ./cmd/tofu

# checkov's HCL parser (bc-python-hcl2) installs the same `hcl2` package as python-hcl2, which the
# Terraform tests use, so checkov lives in its own venv.
$(TOOLS)/checkov: constraints-tools.txt $(UV)
	rm -rf .tools/checkov
	$(UV) venv --quiet --python $(PYTHON) .tools/checkov
	$(UV) pip install --quiet --python .tools/checkov/bin/python --constraints constraints-tools.txt checkov
	mkdir -p $(TOOLS) && ln -sf ../checkov/bin/checkov $(TOOLS)/checkov

# Debian's prometheus package brings the server and promtool; the metrics tests start their own server.
prometheus:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null && \
		{ systemctl disable --now prometheus 2>/dev/null; service prometheus stop 2>/dev/null; pkill -x prometheus; true; }; }

## dev: the whole platform on this machine; Ctrl-C stops everything
dev: setup
	$(VENV)/bin/talent dev

## test: every suite; servers they need are started and stopped by the tests themselves
test: setup tools
	$(PY) -m pytest

test-shared: setup
	$(PY) -m pytest shared_lib/tests

test-tooling: setup
	$(PY) -m pytest tooling/tests

# The property tests of hostile input with >= 10,000 generated inputs per entity (make test runs ~1,000).
test-hostile: setup
	TALENT_HYPOTHESIS_PROFILE=thorough $(PY) -m pytest shared_lib/tests/test_hostile_input.py -s

# The fault suite as a soak (issue 18): ten runs in a row with synchronous_commit on (production's
# setting), then one with it off, where a killed PostgreSQL loses its last commits and the
# reconciler must heal what they held. Stops at the first failing run and says which.
SOAK_RUNS ?= 10
test-faults-soak: setup
	@for i in $$(seq 1 $(SOAK_RUNS)); do \
	  echo "==> faults, synchronous_commit on, run $$i of $(SOAK_RUNS)"; \
	  TALENT_EMBEDDED_SYNCHRONOUS_COMMIT=on $(PY) -m pytest tests/platform/test_faults.py -q -p no:cacheprovider || { echo "faults failed on run $$i (synchronous_commit on)"; exit 1; }; \
	done
	@echo "==> faults, synchronous_commit off"
	TALENT_EMBEDDED_SYNCHRONOUS_COMMIT=off TALENT_FAULTS_PROVE_LOSS=1 $(PY) -m pytest tests/platform/test_faults.py -q -p no:cacheprovider

test-candidates test-jobs test-matching: test-%: setup
	$(PY) -m pytest code_locations/$*/tests

test-platform: setup tools
	$(PY) -m pytest tests

lint: setup $(TOOLS)/helm $(TOOLS)/tofu
	$(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

## schemas: both charts' values.schema.json, generated from the pydantic models in helm/schema
schemas: setup
	cd helm/schema && $(CURDIR)/$(PY) -m chart_schema

bench: setup
	$(PY) -m benchmarks

## e2e: the end-to-end on a kind cluster (tests/e2e/kind.py; every step: make e2e-plan). KIND_NODE=auto
## (default): kind's official node image and the official Python base where Docker can pull them,
## else both built here (no image registry needed). KIND_NODE=official or local chooses. The run is
## pytest (tests/e2e/test_e2e.py): E2E_ARGS="--keep-cluster", "--reuse-cluster -k webhook", ...
KIND_NODE ?= auto
e2e-plan: setup
	TALENT_KIND_NODE=$(KIND_NODE) $(PY) tests/e2e/kind.py plan

e2e: setup tools docker k8s-bin
	TALENT_KIND_NODE=$(KIND_NODE) $(PY) tests/e2e/kind.py run $(E2E_ARGS)

## docker: a Docker daemon for the image builds and the cluster (started here when none answers)
docker:
	tests/e2e/docker.sh up

docker-down:
	tests/e2e/docker.sh down

## images: the four product images and the e2e Postgres, built here (tests/e2e/images)
images: docker
	tests/e2e/images/build.sh

## k8s-bin: kubectl, and the Kubernetes binaries of the local kind node image, from their Go
## modules into .tools/k8s/bin (a stamp makes a second call instant)
k8s-bin:
	tests/e2e/kind/k8s-binaries.sh

## constraints: re-pin every version from a fresh venv after changing a dependency list (keeps the
## current pins for what did not change: uv prefers the versions already named in constraints.txt)
constraints: $(UV)
	rm -rf .tools/repin && $(PYTHON) -m venv .tools/repin
	$(UV) pip install --quiet --python .tools/repin/bin/python --constraints constraints.txt \
		$(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	{ sed -n '1,2p' constraints.txt; $(UV) pip freeze --python .tools/repin/bin/python | grep -v -e '^-e' -e '^talent-'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .tools/repin

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .mypy_cache
