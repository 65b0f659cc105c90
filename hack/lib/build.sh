#!/usr/bin/env bash
# Builds kube-apiserver (and the other Kubernetes components) and etcd from the
# Go module proxy and caches the binaries in the tools directory (see
# cluster::tools_dir). A cached binary is reused as is; delete it to force a
# rebuild.
#
# Requires hack/lib/common.sh to be sourced first.

# Runs the go tool in a scratch module, isolated from any go.work or vendor
# settings of the caller.
cluster::_go() {
  GOWORK=off GOFLAGS="-mod=mod -buildvcs=false" go "$@"
}

# Prints the value of a string field from `go mod download -json` output.
cluster::_json_field() {
  sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -n 1
}

# Runs "$@" while holding an exclusive lock on file $1 so that concurrent
# invocations do not build the same binary twice.
cluster::_with_lock() {
  local lockfile="$1"
  shift
  mkdir -p "$(dirname "${lockfile}")"
  (
    flock -w 3600 9 || cluster::die "timed out waiting for lock ${lockfile}"
    "$@"
  ) 9>"${lockfile}"
}

# cluster::_build_cached OUT BUILDER [ARGS...]: builds the binary OUT with
# `BUILDER ARGS... OUT` unless it exists, holding a lock beside it so that
# concurrent runs build it once.
cluster::_build_cached() {
  local out="$1"
  [[ -x "${out}" ]] && return 0
  cluster::require_cmd go flock
  cluster::_with_lock "${out}.lock" cluster::_build_if_missing "$@"
}

# Runs the builder for OUT unless a concurrent run built it meanwhile.
cluster::_build_if_missing() {
  local out="$1"
  shift
  [[ -x "${out}" ]] || "$@" "${out}"
}

cluster::build_kube_apiserver() {
  cluster::build_kube_component kube-apiserver
}

# cluster::build_kube_component NAME: builds k8s.io/kubernetes/cmd/NAME at
# KUBE_VERSION into the tools directory unless it is cached there.
cluster::build_kube_component() {
  cluster::_build_cached "$(cluster::kube_component_path "$1")" cluster::_build_kube_component_locked "$1"
}

# cluster::_build_kube_component_locked NAME OUT: builds cmd/NAME of
# k8s.io/kubernetes in a scratch module of its own.
cluster::_build_kube_component_locked() {
  local name="$1" out="$2"

  local tools src staging_version modfile json go_version start
  tools="$(cluster::tools_dir)"
  src="${tools}/src/${name}-${KUBE_VERSION}"
  # Staging repositories (k8s.io/api, ...) are tagged v0.X.Y for Kubernetes v1.X.Y.
  staging_version="v0.${KUBE_VERSION#v1.}"
  start="${SECONDS}"

  cluster::log "building ${name} ${KUBE_VERSION} (cold builds take around 10 minutes)"
  json="$(cluster::_go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}")" ||
    cluster::die "cannot download k8s.io/kubernetes@${KUBE_VERSION}: ${json}"
  modfile="$(cluster::_json_field GoMod <<<"${json}")"
  [[ -f "${modfile}" ]] || cluster::die "go.mod of k8s.io/kubernetes@${KUBE_VERSION} not found"

  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
  # with local directories; a consumer has to point them at published tags.
  local -a staging=()
  mapfile -t staging < <(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "${modfile}" | sort -u)
  ((${#staging[@]} > 0)) || cluster::die "no staging modules found in ${modfile}"
  go_version="$(awk '$1 == "go" { print $2; exit }' "${modfile}")"

  rm -rf "${src}"
  mkdir -p "${src}"
  # A plain subshell (not part of an && / || list) so that errexit applies;
  # its EXIT trap reports failures.
  (
    set -euo pipefail
    trap 'rc=$?; if ((rc != 0)); then rm -f "${out}.tmp"; echo "error: building ${name} ${KUBE_VERSION} failed (scratch module in ${src})" >&2; fi' EXIT
    cd "${src}"
    cluster::_go mod init "wasm-apiserver-tools/${name}" >/dev/null 2>&1
    local -a edits=("-require=k8s.io/kubernetes@${KUBE_VERSION}")
    [[ -n "${go_version}" ]] && edits+=("-go=${go_version}")
    local line m
    # Keep the GODEBUG defaults the upstream binary is built with.
    while read -r line; do
      edits+=("-godebug=${line}")
    done < <(awk '$1 == "godebug" && NF == 2 { print $2 }' "${modfile}")
    for m in "${staging[@]}"; do
      edits+=("-replace=${m}=${m}@${staging_version}")
    done
    cluster::_go mod edit "${edits[@]}"
    cluster::_go get "k8s.io/kubernetes/cmd/${name}@${KUBE_VERSION}"

    local minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    local ldflags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X ${pkg}.gitVersion=${KUBE_VERSION}"
      ldflags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
      ldflags+=" -X ${pkg}.gitTreeState=clean"
    done
    mkdir -p "$(dirname "${out}")"
    CGO_ENABLED=0 cluster::_go build -trimpath -ldflags "${ldflags}" \
      -o "${out}.tmp" "k8s.io/kubernetes/cmd/${name}"
    mv -f "${out}.tmp" "${out}"
  )
  cluster::log "built ${out} in $((SECONDS - start))s (${#staging[@]} staging modules at ${staging_version})"
}

cluster::build_etcd() {
  cluster::_build_cached "$(cluster::etcd_path)" cluster::_build_etcd_locked
}

cluster::_build_etcd_locked() {
  local out="$1"

  local src start
  src="$(cluster::tools_dir)/src/etcd-${ETCD_VERSION}"
  start="${SECONDS}"
  cluster::log "building etcd ${ETCD_VERSION}"
  rm -rf "${src}"
  mkdir -p "${src}"
  (
    set -euo pipefail
    trap 'rc=$?; if ((rc != 0)); then rm -f "${out}.tmp"; echo "error: building etcd ${ETCD_VERSION} failed (scratch module in ${src})" >&2; fi' EXIT
    cd "${src}"
    cat >main.go <<'GO'
// Command etcd is a thin wrapper that runs the etcd server entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
GO
    cluster::_go mod init wasm-apiserver-tools/etcd >/dev/null 2>&1
    cluster::_go mod edit "-require=go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
    cluster::_go mod tidy
    mkdir -p "$(dirname "${out}")"
    CGO_ENABLED=0 cluster::_go build -trimpath -ldflags "-s -w" -o "${out}.tmp" .
    mv -f "${out}.tmp" "${out}"
  )
  cluster::log "built ${out} in $((SECONDS - start))s"
}

# Builds both binaries if needed.
cluster::build_all() {
  cluster::build_etcd
  cluster::build_kube_apiserver
}
