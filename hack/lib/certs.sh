#!/usr/bin/env bash
# Generates the PKI of the local e2e cluster with openssl.
#
# Layout (all under $CLUSTER_DIR/pki):
#   server-ca.{crt,key}        signs the kube-apiserver serving certificate
#   apiserver.{crt,key}        kube-apiserver serving certificate
#   client-ca.{crt,key}        --client-ca-file; signs user client certificates
#   admin.{crt,key}            client certificate, O=system:masters
#   front-proxy-ca.{crt,key}   --requestheader-client-ca-file
#   front-proxy-client.{crt,key}  aggregator proxy client, CN=front-proxy-client
#   kubelet-client.{crt,key}   kube-apiserver's client certificate towards
#                              kubelets (logs, exec), O=system:masters
#   sa.{key,pub}               service account token signing key pair
#
# Requires hack/lib/common.sh to be sourced first.

CERT_DAYS="${CERT_DAYS:-365}"

cluster::pki_dir() {
  printf '%s/pki\n' "${CLUSTER_DIR}"
}

# cluster::_new_key FILE: writes a new RSA private key (mode 0600).
cluster::_new_key() {
  (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null)
}

# cluster::_new_ca NAME CN: self-signed CA NAME.crt / NAME.key.
cluster::_new_ca() {
  local dir name="$1" cn="$2"
  dir="$(cluster::pki_dir)"
  cluster::_new_key "${dir}/${name}.key"
  openssl req -x509 -new -key "${dir}/${name}.key" -sha256 -days "${CERT_DAYS}" \
    -subj "/CN=${cn}" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "${dir}/${name}.crt" 2>/dev/null
}

# cluster::issue_cert CA_CRT CA_KEY OUT_PREFIX USAGE SUBJECT [SAN]
#   USAGE is "server" or "client"; SUBJECT is an openssl subject such as
#   "/O=system:masters/CN=admin"; SAN (server only) like "IP:127.0.0.1,DNS:localhost".
#   Writes OUT_PREFIX.crt and OUT_PREFIX.key. Usable by tests to mint users.
cluster::issue_cert() {
  local ca_crt="$1" ca_key="$2" out="$3" usage="$4" subject="$5" san="${6:-}"
  local ext csr eku
  case "${usage}" in
    server) eku=serverAuth ;;
    client) eku=clientAuth ;;
    *) cluster::die "issue_cert: unknown usage '${usage}'" ;;
  esac
  ext="$(mktemp)"
  csr="$(mktemp)"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=${eku}"
    [[ -z "${san}" ]] || echo "subjectAltName=${san}"
  } >"${ext}"
  cluster::_new_key "${out}.key"
  if ! openssl req -new -key "${out}.key" -subj "${subject}" -out "${csr}" 2>/dev/null ||
    ! openssl x509 -req -in "${csr}" -CA "${ca_crt}" -CAkey "${ca_key}" -CAcreateserial \
      -sha256 -days "${CERT_DAYS}" -extfile "${ext}" -out "${out}.crt" 2>/dev/null; then
    rm -f "${ext}" "${csr}"
    cluster::die "openssl failed to issue ${out}.crt (${subject})"
  fi
  rm -f "${ext}" "${csr}"
}

# cluster::_issue_apiserver_cert [IP]: kube-apiserver's serving certificate.
# 10.0.0.1 is the first address of --service-cluster-ip-range (the
# "kubernetes" Service); the DNS names cover in-cluster style access; IP is
# an address it is advertised at besides.
cluster::_issue_apiserver_cert() {
  local dir san="IP:127.0.0.1,IP:10.0.0.1"
  dir="$(cluster::pki_dir)"
  [[ -z "${1:-}" ]] || san+=",IP:$1"
  san+=",DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cluster::issue_cert "${dir}/server-ca.crt" "${dir}/server-ca.key" "${dir}/apiserver" server \
    "/CN=kube-apiserver" "${san}"
  rm -f "${dir}"/*.srl
}

# cluster::ensure_apiserver_ip IP: gives kube-apiserver's serving certificate
# IP as a subject alternative name if it lacks it (signed by the same CA, so
# every kubeconfig stays valid). Takes effect when kube-apiserver starts.
cluster::ensure_apiserver_ip() {
  local ip="$1" crt
  crt="$(cluster::pki_dir)/apiserver.crt"
  if openssl x509 -noout -ext subjectAltName -in "${crt}" 2>/dev/null | tr ',' '\n' |
    grep -qx "[[:space:]]*IP Address:${ip}"; then
    return 0
  fi
  cluster::log "adding IP ${ip} to kube-apiserver's serving certificate"
  cluster::_issue_apiserver_cert "${ip}"
}

# Creates the PKI unless a complete one already exists (certificates stay
# stable across restarts of the cluster).
cluster::ensure_pki() {
  local dir f missing=0
  dir="$(cluster::pki_dir)"
  for f in server-ca.crt apiserver.crt apiserver.key client-ca.crt client-ca.key \
    admin.crt admin.key front-proxy-ca.crt front-proxy-client.crt front-proxy-client.key \
    kubelet-client.crt kubelet-client.key sa.key sa.pub; do
    [[ -s "${dir}/${f}" ]] || missing=1
  done
  if ((missing == 0)); then
    cluster::log "reusing certificates in ${dir}"
    return 0
  fi

  cluster::require_cmd openssl
  cluster::log "generating certificates in ${dir}"
  rm -rf "${dir}"
  mkdir -p "${dir}"

  cluster::_new_ca server-ca "wasm-apiserver-e2e-server-ca"
  cluster::_new_ca client-ca "wasm-apiserver-e2e-client-ca"
  cluster::_new_ca front-proxy-ca "wasm-apiserver-e2e-front-proxy-ca"

  cluster::_issue_apiserver_cert
  cluster::issue_cert "${dir}/client-ca.crt" "${dir}/client-ca.key" "${dir}/admin" client \
    "/O=system:masters/CN=admin"
  cluster::issue_cert "${dir}/front-proxy-ca.crt" "${dir}/front-proxy-ca.key" "${dir}/front-proxy-client" client \
    "/CN=front-proxy-client"
  cluster::issue_cert "${dir}/client-ca.crt" "${dir}/client-ca.key" "${dir}/kubelet-client" client \
    "/O=system:masters/CN=kube-apiserver-kubelet-client"

  cluster::_new_key "${dir}/sa.key"
  openssl pkey -in "${dir}/sa.key" -pubout -out "${dir}/sa.pub" 2>/dev/null
  rm -f "${dir}"/*.srl
}
