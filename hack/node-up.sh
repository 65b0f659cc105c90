#!/usr/bin/env bash
# Starts a local node that runs pods, on top of the cluster of
# hack/cluster-up.sh (started first if it is not running, with
# CLUSTER_CONTROLLERS=1: kube-controller-manager and kube-scheduler):
# containerd, a kubelet and kube-proxy, with pod networking on a bridge
# created here; kube-apiserver then also listens on the bridge's address and
# pods reach it through the "kubernetes" Service. Must run as root. The pause image and
# a small test image (localhost/wasm-apiserver/agent:1, an HTTP server with
# /healthz) are built from this repository and imported: nothing is pulled.
# Stop everything with hack/node-down.sh.
#
# Environment:
#   NODE_NAME         node name (default local-node)
#   NODE_BRIDGE       bridge to create (default wasmnode0); it also names the
#                     CNI network and the kubelet's cgroup root (/NODE_BRIDGE)
#   NODE_POD_CIDR     pods' subnet, /24 or larger (default 10.244.0.0/24);
#                     its first address is the bridge's and the node's
#                     A second node on the same host needs its own
#                     NODE_BRIDGE and NODE_POD_CIDR.
#   NODE_CNI_BIN_DIR  where the CNI plugins are (default /usr/lib/cni or
#                     /opt/cni/bin)
#   NODE_IMAGES       image tarballs to import besides pause and agent (space
#                     separated; default: the server's image that `make image`
#                     wrote to _output/image/wasm-apiserver.oci.tar, if any)
#   KUBELET_VERBOSITY, KUBE_PROXY_VERBOSITY, KUBE_CONTROLLER_MANAGER_VERBOSITY,
#   KUBE_SCHEDULER_VERBOSITY   --v of each (default 1)
#   plus everything hack/cluster-up.sh reads.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${HACK_DIR}/lib/common.sh"

((EUID == 0)) || cluster::die "the node runs containers: run $0 as root"
cluster::require_cmd containerd runc ctr ip iptables iptables-save sysctl kubectl curl openssl

mkdir -p "${CLUSTER_DIR}"
CLUSTER_DIR="$(cd "${CLUSTER_DIR}" && pwd)"
source "${HACK_DIR}/lib/build.sh"
source "${HACK_DIR}/lib/certs.sh"
source "${HACK_DIR}/lib/cluster.sh"
source "${HACK_DIR}/lib/controllers.sh"
source "${HACK_DIR}/lib/node.sh"
source "${HACK_DIR}/lib/node-net.sh"
source "${HACK_DIR}/lib/node-proxy.sh"

# Pods reach kube-apiserver through the "kubernetes" Service, whose
# endpoint is the bridge's address.
CLUSTER_CONTROLLERS=1 CLUSTER_ADVERTISE_ADDRESS="$(node::gateway_ip)" "${HACK_DIR}/cluster-up.sh" >/dev/null

url="$(sed -n 's/^export KUBE_APISERVER_URL=//p' "${CLUSTER_DIR}/env")"
[[ -n "${url}" ]] || cluster::die "no KUBE_APISERVER_URL in ${CLUSTER_DIR}/env"

if cluster::pid_alive node/kubelet && cluster::pid_alive node/containerd && cluster::pid_alive node/kube-proxy; then
  cluster::log "node ${NODE_NAME} already running"
  exit 0
fi
if node::bridge_is_foreign; then
  cluster::die "bridge ${NODE_BRIDGE} belongs to another node (alias \"$(node::bridge_owner)\"); set NODE_BRIDGE and NODE_POD_CIDR for a second node"
fi
# Leftovers of a half-started node.
"${HACK_DIR}/node-down.sh" --keep-cluster

cluster::build_kube_component kubelet
mkdir -p "${NODE_DIR}"
node::build_images

started_ok=0
cleanup_on_failure() {
  if ((started_ok == 0)); then
    cluster::log "node start-up failed, tearing it down (logs stay in ${NODE_DIR})"
    "${HACK_DIR}/node-down.sh" --keep-cluster || true
  fi
}
trap cleanup_on_failure EXIT

node::save_sysctls
node::create_bridge
node::write_cni_config
node::start_containerd
server_image="${WASM_REPO_ROOT}/_output/image/wasm-apiserver.oci.tar"
[[ -f "${server_image}" ]] || server_image=""
# shellcheck disable=SC2086 # NODE_IMAGES is a list of paths.
node::import_images "${NODE_DIR}/images/pause.tar" "${NODE_DIR}/images/agent.tar" ${NODE_IMAGES-${server_image}}
node::start_kubelet "${url}"
node::start_kube_proxy "${url}"
started_ok=1

cluster::log "node ${NODE_NAME} Ready (pods in ${NODE_POD_CIDR} on bridge ${NODE_BRIDGE})"
echo "source ${CLUSTER_DIR}/env"
