#!/usr/bin/env bash
# Brings the local cluster up (building kube-apiserver and etcd on first use),
# runs the e2e suite against it, and stops everything it started.
# Extra arguments go to `go test` (e.g. -run TestInstall).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export CLUSTER_DIR="${CLUSTER_DIR:-${ROOT}/_output/cluster}"

"${ROOT}/hack/cluster-up.sh"
trap '"${ROOT}/hack/cluster-down.sh"' EXIT
# shellcheck source=/dev/null
source "${CLUSTER_DIR}/env"

cd "${ROOT}"
go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/... "$@"
