#!/usr/bin/env bash
# Creates a CA and a serving certificate for wasm-apiserver and the
# kustomize patch that puts the CA into the APIService's caBundle:
#   <dir>/ca.crt, <dir>/tls.crt, <dir>/tls.key, <dir>/apiservice-cabundle.yaml
# Usage: hack/gen-serving-cert.sh [dir]   (default: artifacts/certs)
# NAMESPACE and SERVICE name the Service the aggregator reaches the server at.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DIR="${1:-${ROOT}/artifacts/certs}"
NAMESPACE="${NAMESPACE:-wasm-system}"
SERVICE="${SERVICE:-wasm-apiserver}"
DAYS="${DAYS:-365}"

mkdir -p "${DIR}"
umask 077
host="${SERVICE}.${NAMESPACE}.svc"

openssl req -x509 -newkey rsa:2048 -nodes -days "${DAYS}" -sha256 \
  -subj "/CN=wasm-apiserver-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "${DIR}/ca.key" -out "${DIR}/ca.crt" 2>/dev/null

openssl req -newkey rsa:2048 -nodes -subj "/CN=${host}" -keyout "${DIR}/tls.key" -out "${DIR}/tls.csr" 2>/dev/null
cat > "${DIR}/tls.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:${SERVICE},DNS:${SERVICE}.${NAMESPACE},DNS:${host},DNS:${host}.cluster.local,DNS:localhost,IP:127.0.0.1
EXT
openssl x509 -req -in "${DIR}/tls.csr" -CA "${DIR}/ca.crt" -CAkey "${DIR}/ca.key" -CAcreateserial \
  -days "${DAYS}" -sha256 -extfile "${DIR}/tls.ext" -out "${DIR}/tls.crt" 2>/dev/null
rm -f "${DIR}/tls.csr" "${DIR}/tls.ext" "${DIR}/ca.srl"

cat > "${DIR}/apiservice-cabundle.yaml" <<YAML
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1alpha1.controllers.wasm.io
spec:
  caBundle: $(base64 -w0 < "${DIR}/ca.crt")
YAML
chmod 0644 "${DIR}/ca.crt" "${DIR}/tls.crt" "${DIR}/apiservice-cabundle.yaml"
echo "wrote the CA and the serving certificate for ${host} to ${DIR}"
