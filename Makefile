# PhotonCloud core services. `make up` runs the platform; `make test` tests it.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

MODULES   := proto pkg chainfire flaredb iam
# Service modules: `make build` builds every ./cmd/... of each into bin/.
SERVICE_MODULES := chainfire flaredb iam
# Server binaries that get an image (CLIs such as flaredbctl do not).
BINARIES  := chainfire flaredb flaredb-pd iam
# Compose services of the default profile, waited for by `make up`.
SERVICES  := chainfire iam flaredb-pd flaredb-1 flaredb-2 flaredb-3
CACHE     := $(CURDIR)/.cache
TOOLBIN   := $(CACHE)/bin
export PATH := $(TOOLBIN):$(PATH)

VERSION   ?= $(or $(shell git describe --tags --always --dirty 2>/dev/null),dev)
REVISION  ?= $(or $(shell git rev-parse --verify -q HEAD 2>/dev/null),unknown)
LDFLAGS   := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)
COMPOSE   ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
IMAGE_TAG ?= latest
GO_TEST_FLAGS ?=

.PHONY: tools generate check-generated lint fmt-check vet test test-unit test-compat build images up up-observability down e2e clean

## tools: install the pinned buf and protoc plugins (from tools/go.mod) into .cache/bin
tools: $(TOOLBIN)/.stamp
$(TOOLBIN)/.stamp: tools/go.mod tools/go.sum
	cd tools && GOWORK=off GOBIN=$(TOOLBIN) go install tool
	touch $@

## generate: regenerate Go code from proto/ with buf and local plugins
generate: tools
	buf generate
	cd proto && go build ./...

## check-generated: fail if committed generated code differs from a fresh generation
check-generated: tools
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	buf generate -o "$$tmp"; \
	diff -r --exclude='*.proto' --exclude=go.mod --exclude=go.sum "$$tmp/proto" proto \
		|| { echo "generated code is stale: run 'make generate' and commit the result" >&2; exit 1; }
	@echo "generated code is fresh"

## lint: buf lint, gofmt and go vet over every module
lint: tools fmt-check vet
	buf lint

fmt-check:
	@out=$$(gofmt -l $(MODULES) | grep -v -E '\.pb\.go$$|\.connect\.go$$' || true); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...); done

## test: generated code fresh, lint, every module's tests with the race detector, then the etcd
## compatibility suite (real clientv3/etcdctl against a 3-member Chainfire cluster, ~3 min)
test: check-generated lint test-unit test-compat

test-compat:
	cd chainfire/etcdcompat && GOWORK=off go vet ./...
	$(MAKE) compat

test-unit:
	@for m in $(MODULES); do echo "== $$m"; (cd $$m && go test -race -count=1 -timeout 10m $(GO_TEST_FLAGS) ./...); done

## build: static binaries in bin/
build:
	@mkdir -p bin
	@for m in $(SERVICE_MODULES); do \
		(cd $$m && CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o ../bin/ ./cmd/...); \
	done
	@ls bin

## images: FROM scratch images built from the static binaries (no registry needed)
images: build
	@mkdir -p bin/rootfs/data
	@for b in $(BINARIES); do \
		docker build -q -f deploy/Dockerfile --build-arg BINARY=$$b -t photoncloud/$$b:$(IMAGE_TAG) bin >/dev/null; \
		echo "built photoncloud/$$b:$(IMAGE_TAG)"; \
	done

## up: build the images and run the platform (default profile) until healthy
up: images
	$(COMPOSE) up -d
	deploy/wait-healthy.sh $(SERVICES)

## up-observability: the platform plus collector, Jaeger, Prometheus, Grafana (needs registry access)
up-observability: images
	OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318 $(COMPOSE) --profile observability up -d
	deploy/wait-healthy.sh $(SERVICES)

## down: stop the platform (volumes are kept; add -v by hand to drop data)
down:
	$(COMPOSE) --profile observability down --remove-orphans

## e2e: run the platform in Docker and check every service from the host
e2e: images
	deploy/e2e.sh "$(COMPOSE)"

clean:
	rm -rf bin $(CACHE)

## compat: etcd compatibility suite (real clientv3 and etcdctl) against a 3-member Chainfire cluster
## (own module, outside go.work; part of `make test`). COMPAT_TEST_FLAGS='-run TestKV -v' narrows it.
COMPAT_TEST_FLAGS ?=
.PHONY: compat compat-etcd
compat:
	cd chainfire/etcdcompat && COMPAT_IMPL=chainfire GOWORK=off go test -count=1 -timeout 10m $(COMPAT_TEST_FLAGS) ./...

## compat-etcd: the same suite against etcd v3.7.3 itself, which proves the tests right
compat-etcd:
	cd chainfire/etcdcompat && COMPAT_IMPL=etcd GOWORK=off go test -count=1 -timeout 10m $(COMPAT_TEST_FLAGS) ./...

## bench-chainfire: Chainfire vs etcd v3.7.3, 3 members each on 127.0.0.1, same clientv3 workload
## (medians of rounds; see docs/bench-chainfire.md). BENCH_FLAGS='-rounds 5 -rows put' narrows or lengthens it.
BENCH_FLAGS ?=
.PHONY: bench-chainfire
bench-chainfire:
	cd chainfire/etcdcompat && GOWORK=off go run ./cmd/bench $(BENCH_FLAGS)

## bench-flaredb: FlareDB (Chainfire + PD + 3 stores) vs etcd v3.7.3 and Chainfire (3 members each), all on
## 127.0.0.1, 64 clients, 8-byte keys, 256-byte values, 1/8/64 regions (see docs/bench-flaredb.md).
## FLAREDB_BENCH_FLAGS='-rounds 5' lengthens it; '-idle-regions 1000' measures the idle cost of regions instead.
FLAREDB_BENCH_FLAGS ?=
.PHONY: bench-flaredb
bench-flaredb:
	cd flaredb && go run ./cmd/flaredb-bench $(FLAREDB_BENCH_FLAGS)
