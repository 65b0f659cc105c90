#!/usr/bin/env bash
# Whether this host can run the local node of hack/node-up.sh.
#
# Requires nothing else to be sourced.

# Debian packages that provide what the node runs besides the binaries
# built from the Go module proxy. (kube-proxy v1.37 clears connection
# tracking entries over netlink: it needs no conntrack tool.)
NODE_PACKAGES=(containerd runc containernetworking-plugins iptables iproute2 procps curl)

# node::unmet: prints, in one line, why the node cannot run here, or
# nothing if it can.
node::unmet() {
  if ((EUID != 0)); then
    echo "not root (the node runs containers, a bridge and iptables rules)"
    return
  fi
  local -a missing=()
  local c d cni=""
  for c in containerd runc ctr ip iptables iptables-save ip6tables-save sysctl curl; do
    command -v "${c}" >/dev/null 2>&1 || missing+=("${c}")
  done
  for d in ${NODE_CNI_BIN_DIR:-} /usr/lib/cni /opt/cni/bin; do
    if [[ -x "${d}/bridge" && -x "${d}/host-local" && -x "${d}/portmap" && -x "${d}/loopback" ]]; then
      cni="${d}"
      break
    fi
  done
  [[ -n "${cni}" ]] || missing+=("CNI plugins")
  if ((${#missing[@]} > 0)); then
    echo "missing ${missing[*]} (apt-get install ${NODE_PACKAGES[*]})"
  fi
}

# node::busy NODE_DIR: prints, in one line, why the node of NODE_DIR cannot
# start because another node holds the host's bridge (one node per bridge:
# a second one on this host needs its own NODE_BRIDGE and NODE_POD_CIDR), or
# nothing.
node::busy() {
  local bridge="${NODE_BRIDGE:-wasmnode0}" owner
  ip link show "${bridge}" >/dev/null 2>&1 || return 0
  owner="$(ip -o link show "${bridge}" | sed -n 's/.* alias \(.*\)$/\1/p')"
  [[ "${owner}" == "$1" ]] || echo "bridge ${bridge} belongs to another node (${owner:-not made by node-up})"
}
