# wasm-apiserver — run `make help` for the targets.

SHELL := /usr/bin/env bash
GO ?= go
OUTPUT := _output
BIN := $(OUTPUT)/bin
STATE_DIR ?= $(OUTPUT)/state
SECURE_PORT ?= 8443
GIT_VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
GIT_COMMIT := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X github.com/wasm-apiserver/wasm-apiserver/pkg/version.gitVersion=$(GIT_VERSION)

# The server's image: its name (the one artifacts/kustomization.yaml names),
# platforms and labels. The commit's time is the image's creation time and
# every file's, so a commit gives one digest.
IMAGE ?= ghcr.io/wasm-apiserver/wasm-apiserver:dev
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_SOURCE ?= https://github.com/wasm-apiserver/wasm-apiserver
IMAGE_DIR ?= $(OUTPUT)/image
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

# The Go modules besides the server's (the root): the guest SDK, its
# controller-runtime adapter, each example controller and the test guests,
# each with its own go.mod and dependencies.
SUBMODULES := sdk sdk/controllerruntime $(patsubst %/go.mod,%,$(wildcard examples/*/go.mod)) test/guests test/guests/bundle10

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the wasm-apiserver binary into _output/bin.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/wasm-apiserver ./cmd/wasm-apiserver

.PHONY: run
run: build ## Serve on 127.0.0.1:8443 (embedded etcd, generated credential); controllers run against the current kubeconfig context if it is reachable.
	BIN=$(BIN)/wasm-apiserver STATE_DIR=$(STATE_DIR) SECURE_PORT=$(SECURE_PORT) hack/run.sh

.PHONY: demo
demo: build ## Local cluster, wasm-apiserver installed behind the aggregator, an example reconciling (kubectl output shown).
	GO=$(GO) BIN=$(BIN)/wasm-apiserver hack/demo.sh up

.PHONY: demo-down
demo-down: ## Remove everything make demo started and wrote.
	GO=$(GO) hack/demo.sh down

# FUZZTIME bounds each fuzz target `make test` runs on untrusted input.
FUZZTIME ?= 30s
# Fuzz targets over what tenants and guests send: module bytes and request envelopes.
FUZZ_TARGETS := ./pkg/runtime:FuzzLoad ./pkg/proxy:FuzzCheckRequest

.PHONY: image
image: ## Build the multi-arch image (IMAGE_PLATFORMS) without Docker into _output/image: an OCI layout tar and a docker-archive per platform.
	@set -e; platforms=; for p in $(IMAGE_PLATFORMS); do \
	  bin=$(IMAGE_DIR)/bin/$${p/\//_}/wasm-apiserver; \
	  echo "go build $$p"; \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -buildvcs=false \
	    -ldflags "-s -w $(LDFLAGS) -X github.com/wasm-apiserver/wasm-apiserver/pkg/version.gitCommit=$(GIT_COMMIT)" \
	    -o $$bin ./cmd/wasm-apiserver; \
	  platforms="$$platforms --platform=$$p=$$bin"; \
	done; \
	$(GO) run ./hack/tools/image build --image=$(IMAGE) --version=$(GIT_VERSION) --revision=$(GIT_COMMIT) \
	  --source=$(IMAGE_SOURCE) --epoch=$(SOURCE_DATE_EPOCH) --out=$(IMAGE_DIR) $$platforms

.PHONY: image-push
image-push: image ## Build the image and push it to IMAGE (credentials from docker login's config).
	$(GO) run ./hack/tools/image push --from=$(IMAGE_DIR)/wasm-apiserver.oci.tar --image=$(IMAGE)

.PHONY: test
test: ## Unit and integration tests of every module (race detector on; the server runs in-process with its embedded etcd), the fuzz targets for FUZZTIME each, then test-arm64.
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) test-modules
	$(MAKE) fuzz
	$(MAKE) test-arm64

.PHONY: test-modules
test-modules: ## Unit tests of the sdk, example and test-guest modules (on the development machine, race detector on).
	@set -e; for m in $(SUBMODULES); do \
	  echo "go test ./... in $$m"; \
	  $(GO) -C $$m test -race -count=1 ./...; \
	done

# test-arm64 runs arm64 test binaries under qemu user emulation. Emulation is
# slow, so it runs what differs between architectures: the guest runtime
# (wazero's arm64 compiler, memory, interrupts, snapshots, the ABI) and one
# controller that loads a guest and reconciles through the host.
QEMU_AARCH64 ?= $(or $(shell command -v qemu-aarch64-static),$(shell command -v qemu-aarch64),qemu-aarch64-static)
ARM64_RUNTIME_TESTS := TestInstance_Reconcile|TestInstance_Failures|TestInstance_SleepObeysTheDeadline|TestABI_.*|TestLimitedMemory|TestInjectInterruptChecks_.*|TestSnapshot_RestoreKeepsState|TestSpare_TakenByTheNextWake
ARM64_HOST_TESTS := TestController_Snapshots

.PHONY: test-arm64
test-arm64: ## The guest runtime's tests and a guest reconcile, built for linux/arm64 and run under qemu-user-static.
	GO=$(GO) QEMU_AARCH64=$(QEMU_AARCH64) hack/test-arm64.sh \
	  './pkg/runtime/:$(ARM64_RUNTIME_TESTS)' './pkg/host/:$(ARM64_HOST_TESTS)'

.PHONY: fuzz
fuzz: ## Fuzz module loading and guests' request envelopes for FUZZTIME each (default 30s).
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

.PHONY: test-e2e
test-e2e: ## End-to-end tests: a real kube-apiserver, controller manager, scheduler and etcd on loopback, wasm-apiserver behind the aggregator, real kubectl; as root also the local node and the install from artifacts/ (NODE=0 leaves it out).
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
bench-system: ## Side by side on a real local cluster: memory (one process, three sharded replicas), wake latency, the chain of 100, API server load (BENCH_SYSTEM_N=10,100).
	$(GO) run ./test/benchsystem

.PHONY: bench-fixed-cost
bench-fixed-cost: ## Memory (PSS) of the server with no controller, idle, by where its pages come from (FIXED_COST_FLAGS, e.g. -bin=A -bin=B -kubeconfig=FILE).
	$(GO) run ./test/fixedcost $(FIXED_COST_FLAGS)

.PHONY: bench-failover
bench-failover: ## Failover of three host-run replicas: kill -9 one, time until its controllers reconcile elsewhere, p50/p99 (E2E_FAILOVER_TRIES=10).
	E2E_FAILOVER_TRIES=$${E2E_FAILOVER_TRIES:-10} hack/test-e2e.sh -run 'TestReplicas_FailoverFigure$$'

.PHONY: verify
verify: ## gofmt, go vet, go mod tidy (in every module) and generated code are clean.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	@set -e; for m in $(SUBMODULES); do \
	  echo "go vet, go mod tidy -diff in $$m"; \
	  $(GO) -C $$m vet ./...; \
	  GOOS=wasip1 GOARCH=wasm $(GO) -C $$m vet ./...; \
	  $(GO) -C $$m mod tidy -diff; \
	done
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
test-e2e-node: ## As root: the local node's e2e tests (pods Ready on the bridge, the install from artifacts/, garbage collection) on a node started and stopped for them.
	NODE=1 hack/test-e2e.sh -run 'TestNode_|TestControllerManager_'

.PHONY: node-down
node-down: ## Stop the node and the cluster, leaving no process, mount, bridge or iptables rule of the node behind.
	hack/node-down.sh
