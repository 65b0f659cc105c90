#!/usr/bin/env bash
# Runs wasm-apiserver on loopback with its embedded etcd and a generated
# credential (make run). When the current kubeconfig context reaches a
# cluster, the WasmControllers run against it, as that context's user;
# otherwise the server serves the API alone and says in one line how to get
# a cluster.
#
# Environment: BIN (the server binary), STATE_DIR, SECURE_PORT; KUBECONFIG
# and the current context as kubectl reads them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BIN="${BIN:-${ROOT}/_output/bin/wasm-apiserver}"
STATE_DIR="${STATE_DIR:-${ROOT}/_output/state}"
SECURE_PORT="${SECURE_PORT:-8443}"

mkdir -p "${STATE_DIR}"
target="${STATE_DIR}/target.kubeconfig"
args=(--standalone --bind-address=127.0.0.1 "--secure-port=${SECURE_PORT}" "--state-dir=${STATE_DIR}")

# The server's own kubeconfig, written under STATE_DIR, must never be taken
# for the target cluster: it points at the server itself.
own="$(cd "${STATE_DIR}" && pwd -P)/kubeconfig"
context="$(kubectl config current-context 2>/dev/null || true)"
if [[ -n "${context}" ]] && [[ ":${KUBECONFIG:-}:" != *":${own}:"* ]] &&
  kubectl get --raw /readyz --request-timeout=5s >/dev/null 2>&1; then
  # The context as it is now, credentials included, so that switching
  # contexts later does not move the controllers.
  (umask 077 && kubectl config view --minify --flatten --raw >"${target}.tmp")
  mv -f "${target}.tmp" "${target}"
  args+=("--kubeconfig=${target}")
  echo "Running controllers against the cluster of kubeconfig context \"${context}\"." >&2
else
  rm -f "${target}"
  echo "No reachable cluster in the current kubeconfig context: serving the API only, WasmControllers will fail with NoTargetCluster (for a local cluster: make cluster-up && source _output/cluster/env && make run; or make demo)." >&2
fi
exec "${BIN}" "${args[@]}" "$@"
