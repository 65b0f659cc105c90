#!/usr/bin/env bash
# Stops what hack/node-up.sh started and removes what it left on the host:
# the pods (their containers, network namespaces and iptables rules),
# kube-proxy and its rules, the kubelet's and containerd's mounts and
# cgroups, the bridge, and the kernel settings it changed. Then it stops the cluster too (with
# kube-controller-manager and kube-scheduler), unless --keep-cluster is
# given. Safe to run when nothing is running.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${HACK_DIR}/lib/common.sh"
source "${HACK_DIR}/lib/certs.sh"
source "${HACK_DIR}/lib/cluster.sh"

keep_cluster=0
case "${1:-}" in
  "") ;;
  --keep-cluster) keep_cluster=1 ;;
  *) cluster::die "usage: $0 [--keep-cluster]" ;;
esac

if [[ ! -d "${CLUSTER_DIR}" ]]; then
  cluster::log "no cluster state in ${CLUSTER_DIR}, nothing to stop"
  exit 0
fi
CLUSTER_DIR="$(cd "${CLUSTER_DIR}" && pwd)"
source "${HACK_DIR}/lib/node.sh"
source "${HACK_DIR}/lib/node-net.sh"
source "${HACK_DIR}/lib/node-proxy.sh"
source "${HACK_DIR}/lib/node-teardown.sh"

if node::started; then
  ((EUID == 0)) || cluster::die "the node's containers and mounts belong to root: run $0 as root"
  node::teardown
fi

if ((keep_cluster == 0)); then
  "${HACK_DIR}/cluster-down.sh"
fi
