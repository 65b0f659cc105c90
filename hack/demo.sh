#!/usr/bin/env bash
# make demo: brings up the local cluster (hack/cluster-up.sh), installs
# wasm-apiserver into it with artifacts/ behind the aggregator, deploys the
# configmap-replicator example and shows it reconcile, printing each kubectl
# command and its output. `hack/demo.sh down` (make demo-down) removes it all.
#
# The local cluster has no kubelet, so the StatefulSet's pod never starts: the
# server runs on this machine instead, as the StatefulSet would run it (its
# ServiceAccount, its serving certificate, delegated authentication), and the
# Service's EndpointSlice points at it.
#
# Everything lives in DEMO_DIR (default _output/demo), the cluster too, apart
# from the e2e suite's _output/cluster.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# Paths are shown relative to the repository.
cd "${ROOT}"
DEMO_DIR="${DEMO_DIR:-_output/demo}"
export CLUSTER_DIR="${DEMO_DIR}/cluster"
source "${ROOT}/hack/lib/common.sh"
source "${ROOT}/hack/lib/certs.sh"
source "${ROOT}/hack/lib/cluster.sh"
GO="${GO:-go}"
BIN="${BIN:-_output/bin/wasm-apiserver}"
server_pid="${DEMO_DIR}/wasm-apiserver.pid"

say() {
  if [[ -t 1 ]]; then
    printf '\n\033[1m# %s\033[0m\n' "$*"
  else
    printf '\n# %s\n' "$*"
  fi
}
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# show prints a kubectl command as it would be typed, then runs it.
show() {
  local arg line='$ kubectl'
  for arg in "$@"; do
    if [[ "${arg}" =~ ^[-A-Za-z0-9_./=:,@%+]+$ ]]; then
      line+=" ${arg}"
    else
      line+=" '${arg}'"
    fi
  done
  printf '%s\n' "${line}"
  kubectl "$@"
}

# waitfor polls a command until it succeeds, for at most $1 seconds.
waitfor() {
  local timeout="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "${what}: not within ${timeout}s (server log: ${DEMO_DIR}/wasm-apiserver.log)"
    sleep 1
  done
}

stop_server() {
  if [[ -s "${server_pid}" ]]; then
    local pid
    pid="$(cat "${server_pid}")"
    if kill -0 "${pid}" 2>/dev/null && [[ "$(cat "/proc/${pid}/comm" 2>/dev/null)" == wasm-apiserver* ]]; then
      kill -TERM "${pid}"
      local i
      for ((i = 0; i < 60; i++)); do
        kill -0 "${pid}" 2>/dev/null || break
        sleep 1
      done
    fi
    rm -f "${server_pid}"
  fi
}

down() {
  stop_server
  if [[ -d "${CLUSTER_DIR}" ]]; then
    "${ROOT}/hack/cluster-down.sh" --purge
  fi
  rm -rf "${DEMO_DIR}"
  echo "demo removed"
}

up() {
  command -v kubectl >/dev/null || die "kubectl is required on PATH"
  mkdir -p "${DEMO_DIR}"

  say "A local kube-apiserver and etcd (built on first use, then cached)"
  "${ROOT}/hack/cluster-up.sh" >/dev/null
  # shellcheck source=/dev/null
  source "${CLUSTER_DIR}/env"
  show get --raw /readyz
  echo

  say "Install wasm-apiserver with artifacts/ (a serving certificate generated for it)"
  rm -rf "${DEMO_DIR}/artifacts"
  cp -R artifacts "${DEMO_DIR}/artifacts"
  "${ROOT}/hack/gen-serving-cert.sh" "${DEMO_DIR}/artifacts/certs" >/dev/null
  show apply -k "${DEMO_DIR}/artifacts"

  say "No kubelet here: run the server on this machine, as its ServiceAccount, and point the Service at it"
  [[ -x "${BIN}" ]] || "${GO}" build -o "${BIN}" ./cmd/wasm-apiserver
  cp "${BIN}" "${DEMO_DIR}/wasm-apiserver"
  local token port sa="${DEMO_DIR}/wasm-apiserver.kubeconfig"
  token="$(kubectl create token wasm-apiserver -n wasm-system --duration=24h)"
  kubectl config view --minify --flatten --raw >"${sa}.tmp"
  KUBECONFIG="${sa}.tmp" kubectl config set-credentials demo-sa --token="${token}" >/dev/null
  KUBECONFIG="${sa}.tmp" kubectl config set-context --current --user=demo-sa >/dev/null
  KUBECONFIG="${sa}.tmp" kubectl config view --minify --flatten --raw >"${sa}"
  rm -f "${sa}.tmp"
  chmod 600 "${sa}"
  port="$(cluster::free_ports 1)"
  stop_server
  mkdir -p "${DEMO_DIR}/state"
  nohup "${DEMO_DIR}/wasm-apiserver" --bind-address=127.0.0.1 --secure-port="${port}" \
    --state-dir="${DEMO_DIR}/state" \
    --tls-cert-file="${DEMO_DIR}/artifacts/certs/tls.crt" --tls-private-key-file="${DEMO_DIR}/artifacts/certs/tls.key" \
    --kubeconfig="${sa}" --authentication-kubeconfig="${sa}" --authorization-kubeconfig="${sa}" \
    >"${DEMO_DIR}/wasm-apiserver.log" 2>&1 &
  echo $! >"${server_pid}"
  # The aggregator refuses loopback IPs as endpoints, but takes them as FQDNs.
  printf '$ kubectl apply -f - <<EOF (an EndpointSlice for 127.0.0.1:%s)\n' "${port}"
  kubectl apply -f - <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: wasm-apiserver-host
  namespace: wasm-system
  labels:
    kubernetes.io/service-name: wasm-apiserver
addressType: FQDN
endpoints:
- addresses: ["127.0.0.1"]
  conditions: {ready: true}
ports:
- name: https
  port: ${port}
  protocol: TCP
YAML
  show wait --for=condition=Available apiservice/v1alpha1.controllers.wasm.io --timeout=2m
  show api-resources --api-group=controllers.wasm.io

  say "Deploy the configmap-replicator example: its module in a ConfigMap, its RBAC, its WasmController"
  GO="${GO}" "${ROOT}/test/guests/build.sh" configmap-replicator >/dev/null
  gzip -9 -c _output/guests/configmap-replicator.wasm >"${DEMO_DIR}/configmap-replicator.wasm.gz"
  show -n default create configmap configmap-replicator-module \
    --from-file=module.wasm.gz="${DEMO_DIR}/configmap-replicator.wasm.gz"
  show apply -f examples/configmap-replicator/rbac.yaml
  show apply -f examples/configmap-replicator/wasmcontroller.yaml
  waitfor 120 "configmap-replicator loaded" loaded
  show -n default get wasmcontrollers

  say "Reconcile: a labelled ConfigMap is copied into every namespace that asks for it"
  show create namespace team-a
  show label namespace team-a wasm.io/replicate-configmaps=true
  show -n default create configmap shared-settings --from-literal=color=blue
  show -n default label configmap shared-settings wasm.io/replicate=true
  waitfor 60 "the copy in team-a" kubectl -n team-a get configmap shared-settings
  show -n team-a get configmap shared-settings -L wasm.io/replicated-from
  show -n team-a get configmap shared-settings -o 'jsonpath={.data}{"\n"}'
  show -n default patch configmap shared-settings --type=merge -p '{"data":{"color":"green"}}'
  waitfor 60 "the copy updated" copy_is green
  show -n team-a get configmap shared-settings -o 'jsonpath={.data}{"\n"}'
  show -n default get wasmcontrollers -o wide
  show -n default get events --field-selector involvedObject.kind=WasmController

  say "Done. Try it yourself, then remove everything with: make demo-down"
  echo "export KUBECONFIG=${CLUSTER_DIR}/kubeconfig"
  echo "kubectl describe wasmcontroller configmap-replicator"
}

# loaded says whether the example's guest is loaded and waits for work.
loaded() {
  local phase
  phase="$(kubectl -n default get wasmcontroller configmap-replicator -o 'jsonpath={.status.phase}')"
  [[ "${phase}" == Active || "${phase}" == Suspended ]]
}

copy_is() {
  [[ "$(kubectl -n team-a get configmap shared-settings -o 'jsonpath={.data.color}')" == "$1" ]]
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 [up|down]" ;;
esac
