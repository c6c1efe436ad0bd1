# One entry point for newcomers and CI. `make demo` and `make test` install everything they need themselves:
# a virtualenv with requirements-dev.txt, and (from the npm registry) a supported Node.js plus the pinned aws-cdk CLI.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# jsii (inside aws-cdk-lib) and the CDK CLI run on this Node, not on whatever the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1

.PHONY: setup demo test test-fast lint synth diff deploy bootstrap bench clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	# The shared model and the release tool as importable packages (editable: the checkout is the code).
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## The main job, offline: synthesize the stack into cdk.out and summarize it.
demo: setup
	$(BIN)/python scripts/demo.py

## Everything CI runs: lint, then the whole test suite (slow tests included).
test: setup lint
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## The CDK CLI with this project's Node and virtualenv first on PATH (cdk.json runs `python3 app.py`).
synth: setup
	cdk synth --quiet

## Once per account and region: the CDK CLI builds the app first, so it needs this project's Python on PATH.
bootstrap: setup
	cdk bootstrap

# With stages (README, Stages): `make diff STAGE=staging`, `make deploy STAGE=staging` act on that stage's stack only.
# The exact stack name, computed in the recipe (a glob like "*-us" would also match production-us): STAGE_CHECK stops
# the recipe (exit 2, with what to do) when the stage is not declared, before any cdk command; STAGE_STACK then names it.
STAGE ?=
STAGE_NAME_COMMAND := $(BIN)/python -m bluegreen.stages stack-name '$(STAGE)'
STAGE_CHECK := $(if $(STAGE),$(STAGE_NAME_COMMAND) >/dev/null,)
STAGE_STACK := $(if $(STAGE),"$$($(STAGE_NAME_COMMAND))",)

diff: setup
	$(STAGE_CHECK)
	cdk diff --no-color $(STAGE_STACK)

## The pre-flight first (scripts/release/preflight.py): exit 2 with the fix when the account's Lambda concurrency
## cannot hold the stack's reservations or the region is not CDK-bootstrapped, instead of a failed `cdk deploy`.
deploy: setup
	$(STAGE_CHECK)
	$(BIN)/python scripts/deploy.py preflight $(if $(STAGE),--stage '$(STAGE)',)
	cdk deploy --require-approval never --progress events $(STAGE_STACK)

## Benchmarks print figures (never timed assertions). The bundle benchmark compares with AWS CLI v1's `aws deploy push`.
bench: setup
	$(BIN)/pip install --quiet --disable-pip-version-check awscli
	$(BIN)/python benchmarks/synth_time.py --runs 5
	PYTHONPATH=lambdas $(BIN)/python benchmarks/drain_latency.py
	$(BIN)/python benchmarks/bundle_upload.py --aws $(BIN)/aws
	PYTHONPATH=scripts $(BIN)/python benchmarks/fast_rollback.py
	$(BIN)/python benchmarks/powertools_footprint.py

clean:
	rm -rf $(VENV) node_modules cdk.out demo-output

## Integration kit (integ/README.md). `integ-check`, offline: the integration stack synthesizes without credentials
## and matches its committed snapshot (also run by `make test`). `integ-snapshot`: rewrite that snapshot after a change
## to the stack, then review `git diff integ/` and commit it. `integ`: against a real AWS account (AWS_REGION and
## credentials; costs money, about an hour): deploy a throwaway stack, release, fail a release, scale, destroy, report.
.PHONY: integ integ-check integ-snapshot
integ-check: setup
	$(BIN)/python integ/snapshot.py check

integ-snapshot: setup
	$(BIN)/python integ/snapshot.py update

integ: setup
	$(BIN)/python -m integ.kit run
