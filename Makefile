# Quorum: `make run` starts the bot, `make check` runs every check and the whole test suite.
# Both create ./.venv and install what they need on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export LITELLM_LOCAL_MODEL_COST_MAP ?= True
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run check test lint typecheck contracts format install clean bench bench-node

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build first so nothing else can pull a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/quorum run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP)
	$(BIN)/python -m pytest

check: lint typecheck contracts test

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench.consensus_quality
	$(BIN)/python -m bench.consensus_speed
	$(BIN)/python -m bench.consensus_file_speed
	$(BIN)/python -m bench.embedder_memory
	$(BIN)/python -m bench.panel_overhead
	$(BIN)/python -m bench.slack_load
	$(BIN)/python -m bench.runner_throughput
	$(BIN)/python -m bench.cli_start
	$(BIN)/python -m bench.bot_memory

# promptfoo for bench.runner_throughput, in bench/node/ (ignored by git). 0.120.0 is the
# last release for Node 20; its package misplaces its migrations, hence the drizzle link.
bench-node:
	mkdir -p bench/node
	test -f bench/node/package.json || echo '{"name": "quorum-bench-node", "private": true}' > bench/node/package.json
	cd bench/node && npm install --no-audit --no-fund promptfoo@0.120.0
	ln -sfn dist/drizzle bench/node/node_modules/promptfoo/drizzle

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
