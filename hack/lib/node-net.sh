#!/usr/bin/env bash
# Host side of the local node: the pods' bridge, the kernel settings the
# kubelet and the CNI plugins change, and removing what they leave behind.
#
# Requires hack/lib/common.sh and hack/lib/node.sh to be sourced first.

# Kernel settings that the kubelet (kernel.*, vm.*) and the bridge plugin
# (ip_forward) change. node-up saves them and node-down puts them back.
NODE_SYSCTLS=(
  kernel.panic
  kernel.panic_on_oops
  kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes
  vm.overcommit_memory
  vm.panic_on_oom
  net.ipv4.ip_forward
)

# node::save_sysctls: records the current values once (a second node-up keeps
# the values from before the first).
node::save_sysctls() {
  local file="${NODE_DIR}/sysctl.saved" key
  [[ -s "${file}" ]] && return 0
  for key in "${NODE_SYSCTLS[@]}"; do
    printf '%s=%s\n' "${key}" "$(sysctl -n "${key}")"
  done >"${file}.tmp"
  mv -f "${file}.tmp" "${file}"
}

node::restore_sysctls() {
  local file="${NODE_DIR}/sysctl.saved" kv
  [[ -s "${file}" ]] || return 0
  while read -r kv; do
    sysctl -q -w "${kv}" >/dev/null || cluster::log "cannot restore ${kv}"
  done <"${file}"
  rm -f "${file}"
}

# node::gateway_ip: first address of NODE_POD_CIDR, the bridge's address and
# the node's InternalIP.
node::gateway_ip() {
  local base="${NODE_POD_CIDR%/*}"
  printf '%s.%s\n' "${base%.*}" "$((${base##*.} + 1))"
}

# node::bridge_owner: the node directory the bridge was created for (its
# alias), or nothing if there is no such bridge.
node::bridge_owner() {
  ip -o link show "${NODE_BRIDGE}" 2>/dev/null | sed -n 's/.* alias \(.*\)$/\1/p'
  return 0
}

# node::bridge_is_foreign: true if the bridge exists but belongs to another
# node (another state directory, or not made by node-up at all).
node::bridge_is_foreign() {
  ip link show "${NODE_BRIDGE}" >/dev/null 2>&1 && [[ "$(node::bridge_owner)" != "${NODE_DIR}" ]]
}

# node::create_bridge: the bridge the pods' veths are attached to, marked
# with NODE_DIR as its alias.
node::create_bridge() {
  if node::bridge_is_foreign; then
    cluster::die "bridge ${NODE_BRIDGE} belongs to another node (alias \"$(node::bridge_owner)\"); set NODE_BRIDGE and NODE_POD_CIDR for a second node"
  fi
  if ! ip link show "${NODE_BRIDGE}" >/dev/null 2>&1; then
    ip link add "${NODE_BRIDGE}" type bridge
    ip link set "${NODE_BRIDGE}" alias "${NODE_DIR}"
  fi
  ip addr replace "$(node::gateway_ip)/${NODE_POD_CIDR#*/}" dev "${NODE_BRIDGE}"
  ip link set "${NODE_BRIDGE}" up
}

# node::write_cni_config: bridge + host-local IPAM (state in NODE_DIR) +
# portmap for hostPorts. containerd runs the loopback plugin itself.
node::write_cni_config() {
  mkdir -p "${NODE_DIR}/cni/net.d" "${NODE_DIR}/cni/ipam"
  # containerd loads the first file by name: ours must be the only one.
  rm -f "${NODE_DIR}/cni/net.d/"*
  cat >"${NODE_DIR}/cni/net.d/10-${NODE_CNI_NETWORK}.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "${NODE_CNI_NETWORK}",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${NODE_BRIDGE}",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "${NODE_DIR}/cni/ipam",
        "ranges": [[{"subnet": "${NODE_POD_CIDR}", "gateway": "$(node::gateway_ip)"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}
EOF
}

# node::delete_bridge: removes our bridge (and the veths still attached).
node::delete_bridge() {
  local veth
  if ip link show "${NODE_BRIDGE}" >/dev/null 2>&1 && ! node::bridge_is_foreign; then
    # The pods' host ends first, in case their network namespaces outlive us.
    while read -r veth; do
      [[ -n "${veth}" ]] && ip link delete "${veth%@*}" 2>/dev/null || true
    done < <(ip -o link show master "${NODE_BRIDGE}" | awk -F': ' '{ print $2 }')
    ip link delete "${NODE_BRIDGE}"
  fi
}

# node::clean_iptables: deletes the rules the CNI plugins made for this
# node's network (their comment names it) and the per-pod chains those rules
# jump to or sit in. Other networks' rules and chains are not touched.
node::clean_iptables() {
  command -v iptables-save >/dev/null 2>&1 || return 0
  local table rule chain mark
  mark="name: \\\"${NODE_CNI_NETWORK}\\\""
  for table in nat filter mangle; do
    local -a ours=() chains=()
    mapfile -t ours < <(iptables-save -t "${table}" 2>/dev/null | grep -E '^-A ' | grep -F -- "${mark}" || true)
    ((${#ours[@]} > 0)) || continue
    mapfile -t chains < <(printf '%s\n' "${ours[@]}" |
      awk '{ if ($2 ~ /^CNI-/) print $2; for (i = 3; i < NF; i++) if ($i == "-j" && $(i + 1) ~ /^CNI-/) print $(i + 1) }' |
      grep -v -E '^CNI-HOSTPORT-' | sort -u)
    for rule in "${ours[@]}"; do
      eval "iptables -w -t ${table} -D ${rule#-A }" 2>/dev/null || true
    done
    for chain in "${chains[@]}"; do
      iptables -w -t "${table}" -F "${chain}" 2>/dev/null || true
      iptables -w -t "${table}" -X "${chain}" 2>/dev/null || true
    done
  done
  node::_clean_hostport_chains
}

# node::_clean_hostport_chains: the portmap plugin's shared chains, once no
# network has a host port in them any more.
node::_clean_hostport_chains() {
  iptables -w -t nat -S CNI-HOSTPORT-DNAT >/dev/null 2>&1 || return 0
  [[ -z "$(iptables -w -t nat -S CNI-HOSTPORT-DNAT 2>/dev/null | grep -E '^-A ')" ]] || return 0
  local rule chain
  while read -r rule; do
    [[ -n "${rule}" ]] || continue
    eval "iptables -w -t nat -D ${rule#-A }" 2>/dev/null || true
  done < <(iptables-save -t nat | grep -E '^-A (PREROUTING|OUTPUT|POSTROUTING) .*-j CNI-HOSTPORT-' || true)
  for chain in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do
    iptables -w -t nat -F "${chain}" 2>/dev/null || true
    iptables -w -t nat -X "${chain}" 2>/dev/null || true
  done
}

# node::unmount_under DIR: unmounts every mount point at or below DIR,
# deepest first, lazily if a plain unmount fails.
node::unmount_under() {
  local dir="$1" mp
  [[ -d "${dir}" ]] || return 0
  dir="$(cd "${dir}" && pwd -P)"
  # Field 5 of mountinfo is the mount point (octal escapes for spaces).
  while read -r mp; do
    [[ -n "${mp}" ]] || continue
    mp="$(printf '%b' "${mp}")"
    umount "${mp}" 2>/dev/null || umount -l "${mp}" 2>/dev/null ||
      cluster::log "cannot unmount ${mp}"
  done < <(awk -v d="${dir}" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
}

# node::remove_cgroups: deletes the node's cgroups (NODE_CGROUP_ROOT in every
# hierarchy), children first. They are empty once the pods are gone.
node::remove_cgroups() {
  local hier dir
  for hier in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    dir="${hier%/}${NODE_CGROUP_ROOT}"
    [[ -d "${dir}" ]] || continue
    find "${dir}" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ -d "${dir}" ]] && cluster::log "cgroup ${dir} is still in use"
  done
  return 0
}
