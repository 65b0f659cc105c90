#!/usr/bin/env bash
# Builds (or reuses cached) kube-apiserver and etcd binaries for the local
# e2e cluster and prints their paths.
#
# Environment:
#   KUBE_VERSION          Kubernetes version to build (default v1.37.2)
#   ETCD_VERSION          etcd version to build (default v3.7.0)
#   WASM_APISERVER_TOOLS  cache directory for the binaries
#                         (default: <dir of go env GOCACHE>/wasm-apiserver-tools)
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/build.sh"

cluster::build_all
printf 'KUBE_APISERVER_BIN=%s\n' "$(cluster::kube_apiserver_path)"
printf 'ETCD_BIN=%s\n' "$(cluster::etcd_path)"
