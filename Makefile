# wasm-apiserver — run `make help` for the targets.

SHELL := /usr/bin/env bash
GO ?= go
OUTPUT := _output
BIN := $(OUTPUT)/bin
STATE_DIR ?= $(OUTPUT)/state
SECURE_PORT ?= 8443
GIT_VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
LDFLAGS := -X github.com/wasm-apiserver/wasm-apiserver/pkg/version.gitVersion=$(GIT_VERSION)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the wasm-apiserver binary into _output/bin.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/wasm-apiserver ./cmd/wasm-apiserver

.PHONY: run
run: build ## Run locally on 127.0.0.1:8443 with embedded etcd and a generated credential; prints how to use kubectl.
	$(BIN)/wasm-apiserver --standalone --bind-address=127.0.0.1 --secure-port=$(SECURE_PORT) --state-dir=$(STATE_DIR)

# FUZZTIME bounds each fuzz target `make test` runs on untrusted input.
FUZZTIME ?= 30s
# Fuzz targets over what tenants and guests send: module bytes and request envelopes.
FUZZ_TARGETS := ./pkg/runtime:FuzzLoad ./pkg/proxy:FuzzCheckRequest

.PHONY: test
test: ## Unit and integration tests (race detector on; the server runs in-process with its embedded etcd), then the fuzz targets for FUZZTIME each.
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz

.PHONY: fuzz
fuzz: ## Fuzz module loading and guests' request envelopes for FUZZTIME each (default 30s).
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

.PHONY: test-e2e
test-e2e: ## End-to-end tests: a real kube-apiserver and etcd on loopback, wasm-apiserver behind the aggregator, real kubectl.
	hack/test-e2e.sh

.PHONY: cluster-up
cluster-up: ## Build (cached) and start kube-apiserver and etcd on 127.0.0.1; writes _output/cluster/env.
	hack/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## Stop the processes cluster-up started.
	hack/cluster-down.sh

.PHONY: guests
guests: ## Build the example controllers and test guests into _output/guests (GOOS=wasip1).
	GO=$(GO) test/guests/build.sh

.PHONY: bench
bench: ## Benchmarks of the hot paths.
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: bench-system
bench-system: ## Side by side on a real local cluster: memory, wake latency, the chain of 100, API server load (BENCH_SYSTEM_N=10,100).
	$(GO) run ./test/benchsystem

.PHONY: verify
verify: ## gofmt, go vet, go mod tidy and generated code are clean.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	hack/verify-codegen.sh

.PHONY: codegen
codegen: ## Regenerate deepcopy, conversion, defaults, OpenAPI and the typed client.
	hack/update-codegen.sh

.PHONY: clean
clean: ## Remove build output and local state.
	rm -rf $(OUTPUT)

# --- Local node (hack/node-up.sh): kubelet, containerd, kube-controller-manager, kube-scheduler.

.PHONY: node-up
node-up: ## As root: start the cluster plus a node that runs pods (containerd, kubelet, kube-controller-manager, kube-scheduler; bridge networking, images built locally).
	hack/node-up.sh

.PHONY: test-e2e-node
test-e2e-node: ## As root: the local node's e2e tests (pods Ready on the bridge, garbage collection) on a node started and stopped for them.
	NODE=1 hack/test-e2e.sh -run 'TestNode_|TestControllerManager_'

.PHONY: node-down
node-down: ## Stop the node and the cluster, leaving no process, mount, bridge or iptables rule of the node behind.
	hack/node-down.sh
