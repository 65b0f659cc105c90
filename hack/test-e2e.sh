#!/usr/bin/env bash
# Brings the local cluster up (building kube-apiserver and etcd on first use),
# runs the e2e suite against it, and stops everything it started.
# Extra arguments go to `go test` (e.g. -run TestInstall). With NODE=1 (as
# root) it starts the local node of hack/node-up.sh too, so the node's tests
# run instead of skipping.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export CLUSTER_DIR="${CLUSTER_DIR:-${ROOT}/_output/cluster}"
# kube-controller-manager and kube-scheduler run with the suite (garbage
# collection, namespace deletion, as in a real cluster); CLUSTER_CONTROLLERS=0
# leaves them out.
export CLUSTER_CONTROLLERS="${CLUSTER_CONTROLLERS:-1}"

if [[ "${NODE:-}" == 1 ]]; then
  trap '"${ROOT}/hack/node-down.sh"' EXIT
  "${ROOT}/hack/node-up.sh"
else
  "${ROOT}/hack/cluster-up.sh"
  trap '"${ROOT}/hack/cluster-down.sh"' EXIT
fi
# shellcheck source=/dev/null
source "${CLUSTER_DIR}/env"

cd "${ROOT}"
go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/... "$@"
