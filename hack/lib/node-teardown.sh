#!/usr/bin/env bash
# Tears the local node down so that no process, mount, cgroup, network
# device or iptables rule of it stays behind.
#
# Requires hack/lib/common.sh, certs.sh, cluster.sh, node.sh and node-net.sh
# to be sourced first.

NODE_DRAIN_TIMEOUT="${NODE_DRAIN_TIMEOUT:-60}"

node::_kubectl() {
  kubectl --kubeconfig "${CLUSTER_DIR}/kubeconfig" --request-timeout=10s "$@"
}

# node::_running_tasks: lists the containers with a running process.
node::_running_tasks() {
  node::ctr tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING" { print $1 }'
}

# node::drain: while kubelet and API server work, deletes the node's pods so
# that the kubelet stops them the normal way (the CNI plugins then remove
# their network), and waits until no container runs.
node::drain() {
  cluster::pid_alive node/kubelet && cluster::pid_alive node/containerd || return 0
  [[ -s "${CLUSTER_DIR}/kubeconfig" ]] && node::_kubectl get node "${NODE_NAME}" >/dev/null 2>&1 || return 0
  cluster::log "draining node ${NODE_NAME}"
  node::_kubectl cordon "${NODE_NAME}" >/dev/null 2>&1 || true
  node::_kubectl delete pods --all-namespaces --field-selector "spec.nodeName=${NODE_NAME}" \
    --grace-period=5 --wait=false >/dev/null 2>&1 || true
  local deadline=$((SECONDS + NODE_DRAIN_TIMEOUT))
  while [[ -n "$(node::_running_tasks)" ]] && ((SECONDS < deadline)); do
    sleep 1
  done
  node::_kubectl delete node "${NODE_NAME}" --wait=false >/dev/null 2>&1 || true
}

# node::remove_containers: kills and deletes every container left in
# containerd (pods the drain did not get to).
node::remove_containers() {
  cluster::pid_alive node/containerd || return 0
  local id
  while read -r id; do
    node::ctr tasks kill --signal SIGKILL "${id}" >/dev/null 2>&1 || true
  done < <(node::_running_tasks)
  sleep 1
  while read -r id; do
    [[ -n "${id}" ]] || continue
    node::ctr tasks delete --force "${id}" >/dev/null 2>&1 || true
    node::ctr containers delete "${id}" >/dev/null 2>&1 || true
  done < <(node::ctr containers ls -q 2>/dev/null)
}

# node::stop_shims: containerd's shims outlive it; stops those that serve
# our containerd (their command line names its socket).
node::stop_shims() {
  local socket pid args
  socket="$(node::containerd_socket)"
  for pid in $(pgrep -f containerd-shim || true); do
    args="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null || true)"
    [[ "${args}" == *" -address ${socket} "* || "${args}" == *" -address ${socket}" ]] || continue
    cluster::log "stopping containerd shim (pid ${pid})"
    kill -KILL "${pid}" 2>/dev/null || true
  done
}

# node::delete_runc_containers: when containerd is gone (crashed or
# killed), its containers still run; runc knows them by the state root that
# containerd gave it, and delete --force kills them and removes their cgroups.
node::delete_runc_containers() {
  local root="${NODE_DIR}/containerd/runc/k8s.io" id
  [[ -d "${root}" ]] || return 0
  while read -r id; do
    [[ -n "${id}" ]] || continue
    cluster::log "killing container ${id:0:12} (runc)"
    runc --root "${root}" delete --force "${id}" >/dev/null 2>&1 || true
  done < <(runc --root "${root}" list -q 2>/dev/null)
}

# node::kill_cgroup_processes: last resort for processes that are still in
# the node's cgroups (everything the kubelet and runc started lives there).
node::kill_cgroup_processes() {
  local -a pids=()
  mapfile -t pids < <(find /sys/fs/cgroup/ -maxdepth 2 -path "*${NODE_CGROUP_ROOT}" -type d \
    -exec find {} -name cgroup.procs -exec cat {} + \; 2>/dev/null | sort -un)
  ((${#pids[@]} > 0)) || return 0
  cluster::log "killing ${#pids[@]} processes left in cgroup ${NODE_CGROUP_ROOT}: ${pids[*]}"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  sleep 1
}

# node::clean_kubelet_chains: the chains the kubelet and kube-proxy make
# and kube-proxy --cleanup leaves (canaries, and KUBE-FIREWALL, which drops
# packets to 127.0.0.0/8 from other sources), with the rules that jump to
# them, for IPv4 and IPv6.
node::clean_kubelet_chains() {
  local cmd table chain rule
  for cmd in iptables ip6tables; do
    command -v "${cmd}-save" >/dev/null 2>&1 || continue
    for table in mangle nat filter; do
      for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        while read -r rule; do
          [[ -n "${rule}" ]] || continue
          eval "${cmd} -w -t ${table} -D ${rule#-A }" 2>/dev/null || true
        done < <("${cmd}-save" -t "${table}" 2>/dev/null | grep -E "^-A .* -j ${chain}\$" || true)
        "${cmd}" -w -t "${table}" -F "${chain}" 2>/dev/null || true
        "${cmd}" -w -t "${table}" -X "${chain}" 2>/dev/null || true
      done
    done
  done
}

# node::started: true if node-up started (part of) a node that node-down has
# not torn down yet: it records the kernel settings first and pid files next,
# and the teardown removes both last; our bridge left behind counts too.
# Another node's bridge, cgroups and processes are never touched.
node::started() {
  [[ -e "${NODE_DIR}/sysctl.saved" || -e "${NODE_DIR}/kubelet.pid" || -e "${NODE_DIR}/containerd.pid" ||
    -e "${NODE_DIR}/kube-proxy.pid" ]] ||
    [[ "$(node::bridge_owner)" == "${NODE_DIR}" ]]
}

# node::teardown: all of the above, in order.
node::teardown() {
  node::drain
  cluster::stop node/kubelet
  node::stop_kube_proxy
  node::remove_containers
  cluster::stop node/containerd
  node::stop_shims
  node::delete_runc_containers
  node::kill_cgroup_processes
  node::unmount_under "${NODE_DIR}"
  node::delete_bridge
  node::clean_iptables
  node::clean_kubelet_chains
  node::remove_cgroups
  node::restore_sysctls
  # Address allocations and runtime state refer to what is gone now.
  rm -rf "${NODE_DIR}/cni/ipam" "${NODE_DIR}/containerd/state" "${NODE_DIR}/containerd/runc"
  cluster::log "node ${NODE_NAME} stopped (logs kept in ${NODE_DIR})"
}
