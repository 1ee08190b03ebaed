# Thin wrappers around scripts/; see each script's header for details.
.PHONY: setup demo test lint format build e2e unit-tests kernel-tests floor-tests net-tests slow-tests janus-tests bench-janus screenshot soak clean

PY := .venv/bin/python

setup:
	bash scripts/setup.sh

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

lint: setup
	.venv/bin/ruff check $(wildcard src tests benchmarks)
	.venv/bin/ruff format --check $(wildcard src tests benchmarks)
	if [ "$${NBRTC_MYPY:-1}" != 0 ]; then .venv/bin/mypy; fi
	npm run lint
	npm run typecheck

format: setup
	.venv/bin/ruff check --fix $(wildcard src tests benchmarks)
	.venv/bin/ruff format $(wildcard src tests benchmarks)

build: setup
	npm run build

e2e:
	NBRTC_LINT=0 bash scripts/test.sh tests/e2e

unit-tests:  ## pure functions and objects: no peer, no event loop, no network (seconds)
	NBRTC_LINT=0 bash scripts/test.sh tests/unit

kernel-tests:  ## the kernel side against a fake page: real aiortc peers on loopback
	NBRTC_LINT=0 bash scripts/test.sh tests/kernel

floor-tests: setup  ## every unit and kernel test at the oldest versions pyproject.toml claims (.venv-floor)
	NBRTC_FLOOR_ALL=1 bash scripts/test-floor.sh

net-tests:  ## the real-network scenarios alone (namespaces, nftables, coturn; root)
	NBRTC_LINT=0 bash scripts/test.sh tests/net

slow-tests:  ## the slowest scenarios (marker slow: long blackouts, 15 s watchdog gaps, multi-tab rooms, Janus timeouts)
	NBRTC_LINT=0 NBRTC_SLOW=1 bash scripts/test.sh tests

janus-tests:  ## every test against a real Janus (marker janus: kernel and JupyterLab; root)
	NBRTC_LINT=0 NBRTC_FLOOR=0 bash scripts/test.sh -m janus tests/kernel tests/e2e

bench-janus: setup  ## issue 13's rows: viewers direct vs through Janus, then a 6-member Room mesh vs Janus
	$(PY) benchmarks/janus.py
	$(PY) benchmarks/janus_room.py

soak: setup  ## 10 minutes of a camera with stalled consumers and a slow process(): RSS, latency
	$(PY) benchmarks/soak.py --minutes 10

clean:
	rm -rf .venv .venv-floor node_modules src/nbrtc/static test-artifacts .pytest_cache .ruff_cache .mypy_cache build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

screenshot:  ## retake docs/img/quickstart.png (the README's picture) with the e2e suite
	NBRTC_UPDATE_SCREENSHOT=1 NBRTC_LINT=0 bash scripts/test.sh tests/e2e/test_streams.py -k quickstart_jupyterlab
