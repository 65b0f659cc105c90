#!/usr/bin/env bash
# kube-proxy of the local node: Services' cluster IPs (the "kubernetes"
# Service's 10.0.0.1 first) routed to their endpoints with iptables, as in a
# real cluster. It runs on the host beside the kubelet, as user
# system:kube-proxy (the bootstrap role system:node-proxier applies).
#
# Requires hack/lib/common.sh, build.sh, certs.sh, cluster.sh,
# controllers.sh, node.sh and node-net.sh to be sourced first.

# node::write_kube_proxy_config HEALTHZ_PORT METRICS_PORT
node::write_kube_proxy_config() {
  local d="${NODE_DIR}/kube-proxy"
  mkdir -p "${d}"
  cat >"${d}/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${CLUSTER_DIR}/kube-proxy.kubeconfig
hostnameOverride: ${NODE_NAME}
bindAddress: $(node::gateway_ip)
healthzBindAddress: 127.0.0.1:$1
metricsBindAddress: 127.0.0.1:$2
mode: iptables
clusterCIDR: ${NODE_POD_CIDR}
detectLocalMode: ClusterCIDR
# Node ports only on the pods' bridge, never on the host's other addresses,
# and not on 127.0.0.1 (that needs route_localnet on every interface).
nodePortAddresses: ["$(node::gateway_ip)/32"]
iptables:
  localhostNodePorts: false
# kube-proxy would tune the kernel's connection tracking for the whole host
# (nf_conntrack_max and the hash size in /sys, TCP and UDP timeouts): a
# host in a container refuses those writes (/proc/sys and /sys read-only),
# and elsewhere they would outlive the node. 0 leaves each as it is.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
# Root may lack CAP_SYS_RESOURCE here; never ask for a lower OOM score.
oomScoreAdj: 0
EOF
}

# node::_kubernetes_service_routed: true once kube-proxy has routed the
# "kubernetes" Service's cluster IP.
node::_kubernetes_service_routed() {
  iptables -w -t nat -S KUBE-SERVICES 2>/dev/null | grep -q -- '-d 10.0.0.1/32 .*dport 443'
}

# node::start_kube_proxy URL: starts kube-proxy and waits until it has
# routed the "kubernetes" Service.
node::start_kube_proxy() {
  local url="$1"
  local -a ports=()
  cluster::build_kube_component kube-proxy
  cluster::_component_kubeconfig kube-proxy "${url}"
  mapfile -t ports < <(cluster::free_ports 2)
  node::write_kube_proxy_config "${ports[0]}" "${ports[1]}"
  cluster::start node/kube-proxy "$(cluster::kube_component_path kube-proxy)" \
    --config="${NODE_DIR}/kube-proxy/config.yaml" \
    --v="${KUBE_PROXY_VERBOSITY:-1}"
  cluster::wait_for node/kube-proxy "kube-proxy to route the kubernetes Service (10.0.0.1:443)" \
    node::_kubernetes_service_routed
}

# node::stop_kube_proxy: stops kube-proxy and removes its rules (its chains
# are all named KUBE-; its own --cleanup knows them).
node::stop_kube_proxy() {
  cluster::stop node/kube-proxy
  local bin
  bin="$(cluster::kube_component_path kube-proxy)"
  [[ -x "${bin}" ]] || return 0
  "${bin}" --cleanup --v=0 >"${NODE_DIR}/kube-proxy-cleanup.log" 2>&1 ||
    cluster::log "kube-proxy --cleanup failed (see ${NODE_DIR}/kube-proxy-cleanup.log)"
}
