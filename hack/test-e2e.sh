#!/usr/bin/env bash
# Brings the local cluster up (building kube-apiserver and etcd on first use),
# runs the e2e suite against it, and stops everything it started.
# Extra arguments go to `go test` (e.g. -run TestInstall).
#
# The local node of hack/node-up.sh starts too when this runs as root on a
# host with the node's packages (hack/lib/node-check.sh), after the server's
# image is built for the host's platform (named E2E_IMAGE) and imported, so the node's tests (the install from
# artifacts/ among them) run. NODE=0 leaves the node out and NODE=1 demands
# it; without it (not root, packages missing, or another node on the
# bridge), its tests skip and say why.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export CLUSTER_DIR="${CLUSTER_DIR:-${ROOT}/_output/cluster}"
# kube-controller-manager and kube-scheduler run with the suite (garbage
# collection, namespace deletion, as in a real cluster); CLUSTER_CONTROLLERS=0
# leaves them out.
export CLUSTER_CONTROLLERS="${CLUSTER_CONTROLLERS:-1}"
# shellcheck source=lib/node-check.sh
source "${ROOT}/hack/lib/node-check.sh"

demanded="${NODE:-}"
reason=""
case "${demanded}" in
  0) reason="NODE=0" ;;
  1 | "") reason="$(node::unmet)" ;;
  *)
    echo "error: NODE must be 0, 1 or unset, not ${NODE}" >&2
    exit 1
    ;;
esac
[[ -n "${reason}" ]] || reason="$(node::busy "${CLUSTER_DIR}/node")"
if [[ -n "${reason}" && "${demanded}" == 1 ]]; then
  echo "error: NODE=1 but the local node cannot run here: ${reason}" >&2
  exit 1
fi

if [[ -z "${reason}" ]]; then
  export NODE=1
  trap '"${ROOT}/hack/node-down.sh"' EXIT
  # The server's image for the node, under a name of its own: the install
  # test names it in an overlay, as an administrator would.
  export E2E_IMAGE="${E2E_IMAGE:-localhost/wasm-apiserver/wasm-apiserver:e2e}"
  image_dir="${ROOT}/_output/e2e-image"
  make -C "${ROOT}" --no-print-directory image IMAGE="${E2E_IMAGE}" IMAGE_DIR="${image_dir}" \
    IMAGE_PLATFORMS="linux/$(go env GOARCH)"
  if ! NODE_IMAGES="${image_dir}/wasm-apiserver.oci.tar" "${ROOT}/hack/node-up.sh"; then
    # Another run's node took the bridge first: go on without one, unless
    # it was demanded.
    reason="$(node::busy "${CLUSTER_DIR}/node")"
    [[ -n "${reason}" && "${demanded}" != 1 ]] || exit 1
    export NODE="${demanded}"
  fi
  export WASM_APISERVER_IMAGE="${E2E_IMAGE}"
fi
if [[ -n "${reason}" ]]; then
  echo "local node not started, its tests skip: ${reason}"
  export NODE_SKIP_REASON="${reason}"
  "${ROOT}/hack/cluster-up.sh"
  trap '"${ROOT}/hack/cluster-down.sh"' EXIT
fi
# shellcheck source=/dev/null
source "${CLUSTER_DIR}/env"

cd "${ROOT}"
go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/... "$@"
