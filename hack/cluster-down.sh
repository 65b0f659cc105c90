#!/usr/bin/env bash
# Stops the etcd and kube-apiserver started by hack/cluster-up.sh (and the
# node of hack/node-up.sh, if there is one), by the PIDs recorded in
# $CLUSTER_DIR. Safe to run when nothing is running. Logs and
# certificates are kept; pass --purge to delete the state directory too.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${HACK_DIR}/lib/common.sh"
source "${HACK_DIR}/lib/certs.sh"
source "${HACK_DIR}/lib/cluster.sh"

purge=0
case "${1:-}" in
  "") ;;
  --purge) purge=1 ;;
  *) cluster::die "usage: $0 [--purge]" ;;
esac

if [[ ! -d "${CLUSTER_DIR}" ]]; then
  cluster::log "no cluster state in ${CLUSTER_DIR}, nothing to stop"
  exit 0
fi
CLUSTER_DIR="$(cd "${CLUSTER_DIR}" && pwd)"

# A node (hack/node-up.sh) first: its kubelet drains through the API server.
"${HACK_DIR}/node-down.sh" --keep-cluster
cluster::stop kube-scheduler
cluster::stop kube-controller-manager
# The API server first, so that it does not log etcd connection errors.
cluster::stop kube-apiserver
cluster::stop etcd
rm -f "${CLUSTER_DIR}/env" "${CLUSTER_DIR}/kubeconfig"

if ((purge)); then
  rm -rf "${CLUSTER_DIR}"
  cluster::log "removed ${CLUSTER_DIR}"
else
  cluster::log "cluster stopped (state kept in ${CLUSTER_DIR})"
fi
