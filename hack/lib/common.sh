#!/usr/bin/env bash
# Shared settings and helpers for the local e2e cluster scripts.
# Source this file; it does not change shell options of the caller.

# Absolute path of the repository root (two levels above this file).
WASM_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Versions. The etcd default is the release that k8s.io/apiserver of the
# chosen Kubernetes version depends on.
KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"

# State directory of a running cluster (certificates, logs, pids, kubeconfig).
CLUSTER_DIR="${CLUSTER_DIR:-${WASM_REPO_ROOT}/_output/cluster}"

cluster::log() {
  printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

cluster::die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

cluster::require_cmd() {
  local c
  for c in "$@"; do
    command -v "${c}" >/dev/null 2>&1 || cluster::die "required command '${c}' not found in PATH"
  done
}

# Directory that caches built tool binaries across clones and runs.
# It lives next to the Go build cache unless WASM_APISERVER_TOOLS is set.
cluster::tools_dir() {
  if [[ -n "${WASM_APISERVER_TOOLS:-}" ]]; then
    printf '%s\n' "${WASM_APISERVER_TOOLS}"
    return
  fi
  local gocache
  gocache="$(go env GOCACHE)"
  [[ -n "${gocache}" && "${gocache}" != "off" ]] || cluster::die "go env GOCACHE is empty/off; set WASM_APISERVER_TOOLS"
  printf '%s/wasm-apiserver-tools\n' "$(dirname "${gocache}")"
}

cluster::kube_apiserver_path() {
  cluster::kube_component_path kube-apiserver
}

# cluster::kube_component_path NAME: cached binary of k8s.io/kubernetes/cmd/NAME.
cluster::kube_component_path() {
  printf '%s/%s/%s\n' "$(cluster::tools_dir)" "${KUBE_VERSION}" "$1"
}

cluster::etcd_path() {
  printf '%s/etcd-%s/etcd\n' "$(cluster::tools_dir)" "${ETCD_VERSION}"
}

# Prints the last lines of a log file, indented, to stderr.
cluster::tail_log() {
  local file="$1" lines="${2:-40}"
  if [[ -f "${file}" ]]; then
    printf -- '--- last %s lines of %s ---\n' "${lines}" "${file}" >&2
    tail -n "${lines}" "${file}" | sed 's/^/    /' >&2
    printf -- '---\n' >&2
  fi
}
