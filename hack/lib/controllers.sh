#!/usr/bin/env bash
# Starts kube-controller-manager and kube-scheduler for the local cluster,
# each with a client certificate of its own (the bootstrap RBAC roles
# system:kube-controller-manager and system:kube-scheduler apply).
#
# Requires hack/lib/common.sh, build.sh, certs.sh and cluster.sh to be
# sourced first, and CLUSTER_DIR to be absolute.

# cluster::_component_kubeconfig NAME URL: kubeconfig of user system:NAME.
cluster::_component_kubeconfig() {
  local name="$1" url="$2" pki
  pki="$(cluster::pki_dir)"
  if [[ ! -s "${pki}/${name}.crt" ]]; then
    cluster::issue_cert "${pki}/client-ca.crt" "${pki}/client-ca.key" "${pki}/${name}" client \
      "/CN=system:${name}"
  fi
  cluster::write_kubeconfig "${CLUSTER_DIR}/${name}.kubeconfig" "${url}" "system:${name}" \
    "${pki}/${name}.crt" "${pki}/${name}.key"
}

cluster::_secure_healthz() {
  curl -fsSk --max-time 2 "https://127.0.0.1:$1/healthz" | grep -qx ok
}

# cluster::start_controller_manager URL: garbage collector, namespace
# deletion, service account tokens, ReplicaSets and the other default
# controllers. It signs nothing: the CSR signers are left without keys.
cluster::start_controller_manager() {
  local url="$1" port pki kubeconfig="${CLUSTER_DIR}/kube-controller-manager.kubeconfig"
  pki="$(cluster::pki_dir)"
  cluster::build_kube_component kube-controller-manager
  cluster::_component_kubeconfig kube-controller-manager "${url}"
  port="$(cluster::free_ports 1)"
  cluster::start kube-controller-manager "$(cluster::kube_component_path kube-controller-manager)" \
    --kubeconfig="${kubeconfig}" \
    --authentication-kubeconfig="${kubeconfig}" \
    --authorization-kubeconfig="${kubeconfig}" \
    --bind-address=127.0.0.1 \
    --secure-port="${port}" \
    --cert-dir="${CLUSTER_DIR}/kube-controller-manager-certs" \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="${pki}/sa.key" \
    --root-ca-file="${pki}/server-ca.crt" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --profiling=false \
    --v="${KUBE_CONTROLLER_MANAGER_VERBOSITY:-1}"
  cluster::wait_for kube-controller-manager "kube-controller-manager /healthz" \
    cluster::_secure_healthz "${port}"
}

cluster::start_scheduler() {
  local url="$1" port kubeconfig="${CLUSTER_DIR}/kube-scheduler.kubeconfig"
  cluster::build_kube_component kube-scheduler
  cluster::_component_kubeconfig kube-scheduler "${url}"
  port="$(cluster::free_ports 1)"
  cluster::start kube-scheduler "$(cluster::kube_component_path kube-scheduler)" \
    --kubeconfig="${kubeconfig}" \
    --authentication-kubeconfig="${kubeconfig}" \
    --authorization-kubeconfig="${kubeconfig}" \
    --bind-address=127.0.0.1 \
    --secure-port="${port}" \
    --leader-elect=false \
    --profiling=false \
    --v="${KUBE_SCHEDULER_VERBOSITY:-1}"
  cluster::wait_for kube-scheduler "kube-scheduler /healthz" cluster::_secure_healthz "${port}"
}
