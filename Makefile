# Framelog: `make demo` runs the product, `make test` runs every test. Both set the machine up first if needed.
SHELL := /bin/bash
SWIFT ?= swift
FRAMELOG := .build/release/framelog

.PHONY: setup deps demo test lint build bench broker format clean

## setup: apt packages, .venv (librdkafka 2.16, Tansu, playwright), release build. Idempotent.
setup:
	@scripts/setup.sh

## deps: setup without the release build (what `make test` needs).
deps:
	@scripts/setup.sh --no-build

build: deps
	$(SWIFT) build -c release --product framelog

## demo: the product on the embedded local broker.
demo: setup
	$(FRAMELOG) demo

## broker: a local Tansu broker in the foreground (Ctrl-C stops it).
broker: setup
	$(FRAMELOG) broker

## test: lint (swift format, node --check), the web player's unit tests (node --test), then every Swift test
## (Swift Testing) against a real local broker and librdkafka's mock cluster. One Swift test at a time:
## several use real-time encoders, Chromium and timing bounds, and 2 cores are shared.
test: deps lint
	node --test Tests/web/*.test.mjs
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

## lint: swift format's rules (.swift-format) and a syntax check of the web UI's modules.
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift
	@for f in Sources/FramelogOrigin/Web/*.mjs; do node --check "$$f" || exit 1; done

## bench: every benchmark in BENCHMARKS.md (about 2 hours; writes nothing: copy figures there).
bench: setup
	@scripts/setup.sh --bench-tools
	$(FRAMELOG) bench kafka
	.venv/bin/python bench/ingest_vs_seed.py --seconds 60
	.venv/bin/python bench/latency.py --minutes 2 --target 400 --drift-minutes 10
	.venv/bin/python bench/serve_vs_nginx.py
	.venv/bin/python bench/blocking_clients.py --clients 2000
	.venv/bin/python bench/transcode.py --seconds 60 --rounds 3
	.venv/bin/python bench/transcode.py --seconds 60 --rounds 3 --size 1920x1080 --bitrate 6M
	.venv/bin/python bench/transcode_latency.py --seconds 120
	.venv/bin/python bench/transcode_density.py --counts 3,4,5 --seconds 60
	.venv/bin/python bench/rung_latency.py --rounds 2 --seconds 30
	.venv/bin/python bench/glass.py --seconds 60
	.venv/bin/python bench/glass.py --seconds 60 --source rtmp
	.venv/bin/python bench/chunk_cost.py --seconds 30 --rounds 2
	.venv/bin/python bench/kafka_settings.py --seconds 60 --rounds 3
	.venv/bin/python bench/kafka_settings.py --source pattern --seconds 40 --rounds 2
	.venv/bin/python bench/kafka_settings.py --source pattern --seconds 40 --rounds 2 --producer linger.ms=1,0,5,20
	.venv/bin/python bench/kafka_settings.py --source pattern --seconds 40 --rounds 2 --consumer fetch.wait.max.ms=5,1,20,100
	.venv/bin/python bench/analyze.py --seconds 60 --rounds 3
	.venv/bin/python bench/analyze_density.py --counts 8,10,12 --moderation off,on

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

clean:
	rm -rf .build
