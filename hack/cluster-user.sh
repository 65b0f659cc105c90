#!/usr/bin/env bash
# Issues a client certificate for a user of the running e2e cluster, signed by
# its client CA, and writes a kubeconfig for it. The user gets no RBAC
# permissions; grant them in the test as needed.
#
# usage: hack/cluster-user.sh NAME [GROUP...]
# Prints the kubeconfig path: $CLUSTER_DIR/users/NAME.kubeconfig
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "${HACK_DIR}/lib/common.sh"
source "${HACK_DIR}/lib/certs.sh"
source "${HACK_DIR}/lib/cluster.sh"

(($# >= 1)) || cluster::die "usage: $0 NAME [GROUP...]"
name="$1"
shift
[[ "${name}" =~ ^[A-Za-z0-9][A-Za-z0-9._:@-]*$ ]] || cluster::die "invalid user name '${name}'"

[[ -s "${CLUSTER_DIR}/env" ]] || cluster::die "no running cluster in ${CLUSTER_DIR}; run hack/cluster-up.sh"
CLUSTER_DIR="$(cd "${CLUSTER_DIR}" && pwd)"
url="$(sed -n 's/^export KUBE_APISERVER_URL=//p' "${CLUSTER_DIR}/env")"

subject=""
for group in "$@"; do
  subject+="/O=${group}"
done
subject+="/CN=${name}"

pki="$(cluster::pki_dir)"
dir="${CLUSTER_DIR}/users"
mkdir -p "${dir}"
cluster::issue_cert "${pki}/client-ca.crt" "${pki}/client-ca.key" "${dir}/${name}" client "${subject}"
rm -f "${pki}"/*.srl
cluster::write_kubeconfig "${dir}/${name}.kubeconfig" "${url}" "${name}" "${dir}/${name}.crt" "${dir}/${name}.key"
echo "${dir}/${name}.kubeconfig"
