#!/usr/bin/env bash
# The local node: containerd and a kubelet registered with the local
# cluster, running the images built here (nothing is pulled).
#
# Requires hack/lib/common.sh, build.sh, certs.sh and cluster.sh to be
# sourced first, and CLUSTER_DIR to be absolute.

NODE_DIR="${CLUSTER_DIR}/node"
NODE_NAME="${NODE_NAME:-local-node}"
NODE_BRIDGE="${NODE_BRIDGE:-wasmnode0}"
NODE_POD_CIDR="${NODE_POD_CIDR:-10.244.0.0/24}"
# The bridge's name also names the CNI network and the kubelet's cgroup root,
# so a second node on the host needs only another NODE_BRIDGE and
# NODE_POD_CIDR (and NODE_NAME if it joins the same cluster).
NODE_CNI_NETWORK="${NODE_BRIDGE}"
NODE_CGROUP_ROOT="/${NODE_BRIDGE}"
NODE_CNI_BIN_DIR="${NODE_CNI_BIN_DIR:-}"
# Image references of the images node-up builds and imports.
NODE_PAUSE_IMAGE="localhost/wasm-apiserver/pause:1"
NODE_AGENT_IMAGE="localhost/wasm-apiserver/agent:1"

node::containerd_socket() {
  printf '%s/containerd/containerd.sock\n' "${NODE_DIR}"
}

# node::ctr ARGS...: ctr against our containerd, in the CRI namespace.
node::ctr() {
  ctr --address "$(node::containerd_socket)" --namespace k8s.io "$@"
}

# node::cni_bin_dir: where the CNI plugins are (Debian puts them in
# /usr/lib/cni, upstream releases in /opt/cni/bin).
node::cni_bin_dir() {
  local d
  for d in ${NODE_CNI_BIN_DIR} /usr/lib/cni /opt/cni/bin; do
    if [[ -x "${d}/bridge" && -x "${d}/host-local" && -x "${d}/portmap" && -x "${d}/loopback" ]]; then
      printf '%s\n' "${d}"
      return 0
    fi
  done
  cluster::die "CNI plugins (bridge, host-local, portmap, loopback) not found; apt-get install containernetworking-plugins"
}

# node::build_images: builds the pause and agent binaries from this
# repository and packs each into an image tarball in NODE_DIR/images.
node::build_images() {
  local dir="${NODE_DIR}/images" name ref
  mkdir -p "${dir}"
  for name in pause agent; do
    ref="${NODE_PAUSE_IMAGE}"
    [[ "${name}" == agent ]] && ref="${NODE_AGENT_IMAGE}"
    (cd "${WASM_REPO_ROOT}" &&
      CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${dir}/${name}" "./hack/node/${name}" &&
      go run ./hack/node/ociimage -binary "${dir}/${name}" -entrypoint "/${name}" \
        -tag "${ref}" -out "${dir}/${name}.tar") ||
      cluster::die "cannot build the ${name} image"
  done
}

# node::import_images TARBALL...: imports image tarballs into containerd.
node::import_images() {
  local tarball
  for tarball in "$@"; do
    node::ctr images import --all-platforms "${tarball}" >/dev/null ||
      cluster::die "cannot import ${tarball}"
    cluster::log "imported ${tarball}"
  done
}

node::write_containerd_config() {
  local d="${NODE_DIR}/containerd"
  mkdir -p "${d}/root" "${d}/state" "${d}/runc"
  cat >"${d}/config.toml" <<EOF
version = 2
root = "${d}/root"
state = "${d}/state"
[grpc]
  address = "$(node::containerd_socket)"
[ttrpc]
  address = "$(node::containerd_socket).ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${NODE_PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  netns_mounts_under_state_dir = true
  # Root may lack CAP_SYS_RESOURCE here (then runc fails with "failed to
  # update /proc/self/oom_score_adj: Permission denied" for any pod asking for
  # a lower score); never ask for a lower score than containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$(node::cni_bin_dir)"
    conf_dir = "${NODE_DIR}/cni/net.d"
    max_conf_num = 1
EOF
}

node::start_containerd() {
  node::write_containerd_config
  cluster::start node/containerd "$(command -v containerd)" --config "${NODE_DIR}/containerd/config.toml"
  cluster::wait_for node/containerd "containerd at $(node::containerd_socket)" \
    node::ctr version
}

# node::write_kubelet_config PORT HEALTHZ_PORT
node::write_kubelet_config() {
  local port="$1" healthz_port="$2" d="${NODE_DIR}/kubelet"
  mkdir -p "${d}/root" "${d}/pki" "${d}/pod-logs"
  cat >"${d}/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host may still mount cgroup v1 hierarchies.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: ${NODE_CGROUP_ROOT}
containerRuntimeEndpoint: unix://$(node::containerd_socket)
address: $(node::gateway_ip)
port: ${port}
healthzBindAddress: 127.0.0.1
healthzPort: ${healthz_port}
readOnlyPort: 0
podLogsDir: ${d}/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $(cluster::pki_dir)/client-ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
failSwapOn: false
rotateCertificates: false
# Images are imported, never pulled: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
EOF
}

# node::write_kubelet_kubeconfig URL: a client certificate for
# system:node:NODE_NAME, so the Node authorizer scopes what it may do.
node::write_kubelet_kubeconfig() {
  local url="$1" pki d="${NODE_DIR}/kubelet"
  pki="$(cluster::pki_dir)"
  if [[ ! -s "${d}/pki/client.crt" ]] || ! openssl x509 -noout -subject -in "${d}/pki/client.crt" | grep -q "system:node:${NODE_NAME}\$"; then
    cluster::issue_cert "${pki}/client-ca.crt" "${pki}/client-ca.key" "${d}/pki/client" client \
      "/O=system:nodes/CN=system:node:${NODE_NAME}"
  fi
  cluster::write_kubeconfig "${d}/kubeconfig" "${url}" "system:node:${NODE_NAME}" \
    "${d}/pki/client.crt" "${d}/pki/client.key"
}

node::_healthz() {
  [[ "$(curl -fsS --max-time 2 "http://127.0.0.1:$1/healthz")" == ok ]]
}

node::_ready() {
  [[ "$(kubectl --kubeconfig "${CLUSTER_DIR}/kubeconfig" get node "${NODE_NAME}" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

# node::start_kubelet URL: starts the kubelet and waits for the node to be Ready.
node::start_kubelet() {
  local url="$1" cg
  local -a ports=()
  mapfile -t ports < <(cluster::free_ports 2)
  # The kubelet wants its cgroup root to exist in every hierarchy.
  for cg in /sys/fs/cgroup/*/; do
    [[ -f "${cg}cgroup.procs" ]] && mkdir -p "${cg%/}${NODE_CGROUP_ROOT}"
  done
  node::write_kubelet_config "${ports[0]}" "${ports[1]}"
  node::write_kubelet_kubeconfig "${url}"
  cluster::start node/kubelet "$(cluster::kube_component_path kubelet)" \
    --config="${NODE_DIR}/kubelet/config.yaml" \
    --kubeconfig="${NODE_DIR}/kubelet/kubeconfig" \
    --root-dir="${NODE_DIR}/kubelet/root" \
    --cert-dir="${NODE_DIR}/kubelet/pki" \
    --hostname-override="${NODE_NAME}" \
    --node-ip="$(node::gateway_ip)" \
    --v="${KUBELET_VERBOSITY:-1}"
  cluster::wait_for node/kubelet "kubelet /healthz" node::_healthz "${ports[1]}"
  cluster::wait_for node/kubelet "node ${NODE_NAME} Ready" node::_ready
}
