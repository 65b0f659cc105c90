#!/usr/bin/env bash
# Starts and stops etcd and kube-apiserver for the local e2e cluster.
#
# Requires hack/lib/common.sh, build.sh and certs.sh to be sourced first.

CLUSTER_START_TIMEOUT="${CLUSTER_START_TIMEOUT:-120}"
CLUSTER_STOP_TIMEOUT="${CLUSTER_STOP_TIMEOUT:-20}"

# Prints N distinct TCP ports that are currently free on 127.0.0.1.
cluster::free_ports() {
  local n="$1"
  if command -v python3 >/dev/null 2>&1; then
    # Keep every socket open until all are chosen so the ports are distinct.
    python3 - "${n}" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
    return
  fi
  local -a picked=()
  local port tries=0
  while ((${#picked[@]} < n)); do
    ((tries++ < 1000)) || cluster::die "could not find ${n} free ports"
    port=$((20000 + RANDOM % 30000))
    [[ " ${picked[*]} " == *" ${port} "* ]] && continue
    # A refused connection means nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      picked+=("${port}")
    fi
  done
  printf '%s\n' "${picked[@]}"
}

# Prints a non-loopback IPv4 address of this host, or nothing. The API server
# refuses loopback addresses in Endpoints/EndpointSlices, so an aggregated
# API server run on the host has to be registered under such an address.
cluster::host_ip() {
  if [[ -n "${CLUSTER_HOST_IP:-}" ]]; then
    printf '%s\n' "${CLUSTER_HOST_IP}"
    return
  fi
  local ip=""
  if command -v ip >/dev/null 2>&1; then
    ip="$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }')"
  fi
  if [[ -z "${ip}" ]] && command -v hostname >/dev/null 2>&1; then
    ip="$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | head -n 1 || true)"
  fi
  printf '%s\n' "${ip}"
}

# cluster::_running PID: true if PID exists and is not a zombie.
cluster::_running() {
  kill -0 "$1" 2>/dev/null || return 1
  if [[ -r "/proc/$1/stat" ]]; then
    local stat
    stat="$(<"/proc/$1/stat")" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != "Z" ]]
  fi
}

# cluster::pid_alive NAME: true if $CLUSTER_DIR/NAME.pid names a live process
# that was started for this state directory (guards against reused PIDs).
cluster::pid_alive() {
  local pidfile="${CLUSTER_DIR}/$1.pid" pid args
  [[ -s "${pidfile}" ]] || return 1
  pid="$(<"${pidfile}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  cluster::_running "${pid}" || return 1
  if [[ -r "/proc/${pid}/cmdline" ]]; then
    args="$(tr '\0' ' ' <"/proc/${pid}/cmdline")"
  else
    args="$(ps -o args= -p "${pid}" 2>/dev/null || true)"
  fi
  [[ "${args}" == *"${CLUSTER_DIR}"* ]]
}

# cluster::start NAME BINARY ARGS...: starts BINARY in the background, logging
# to $CLUSTER_DIR/NAME.log and recording its PID in $CLUSTER_DIR/NAME.pid.
cluster::start() {
  local name="$1" bin="$2"
  shift 2
  local log="${CLUSTER_DIR}/${name}.log"
  : >"${log}"
  # Background jobs of a non-interactive shell ignore SIGINT; nohup adds SIGHUP.
  # All three standard streams are redirected so callers' pipes do not hang.
  nohup "${bin}" "$@" </dev/null >>"${log}" 2>&1 &
  echo "$!" >"${CLUSTER_DIR}/${name}.pid"
  disown "$!" 2>/dev/null || true
  cluster::log "started ${name} (pid $!, log ${log})"
}

# cluster::wait_for NAME DESCRIPTION CMD...: polls CMD until it succeeds, the
# process NAME dies, or CLUSTER_START_TIMEOUT seconds pass.
cluster::wait_for() {
  local name="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + CLUSTER_START_TIMEOUT))
  local pid
  pid="$(<"${CLUSTER_DIR}/${name}.pid")"
  while ! "$@" >/dev/null 2>&1; do
    # The PID itself, not pid_alive: right after the fork, before nohup
    # execs the binary, the command line does not name CLUSTER_DIR yet.
    if ! cluster::_running "${pid}"; then
      cluster::tail_log "${CLUSTER_DIR}/${name}.log"
      cluster::die "${name} exited while waiting for ${what}"
    fi
    if ((SECONDS >= deadline)); then
      cluster::tail_log "${CLUSTER_DIR}/${name}.log"
      cluster::die "timed out after ${CLUSTER_START_TIMEOUT}s waiting for ${what}"
    fi
    sleep 1
  done
}

cluster::_etcd_healthy() {
  curl -fsS --max-time 2 "$1/health" | grep -q '"health":"true"'
}

cluster::_apiserver_ready() {
  local pki
  pki="$(cluster::pki_dir)"
  [[ "$(curl -fsS --max-time 5 --cacert "${pki}/server-ca.crt" \
    --cert "${pki}/admin.crt" --key "${pki}/admin.key" "$1/readyz")" == "ok" ]]
}

cluster::start_etcd() {
  local client_port="$1" peer_port="$2"
  local url="http://127.0.0.1:${client_port}" peer="http://127.0.0.1:${peer_port}"
  rm -rf "${CLUSTER_DIR}/etcd-data"
  cluster::start etcd "$(cluster::etcd_path)" \
    --name=e2e \
    --data-dir="${CLUSTER_DIR}/etcd-data" \
    --listen-client-urls="${url}" \
    --advertise-client-urls="${url}" \
    --listen-peer-urls="${peer}" \
    --initial-advertise-peer-urls="${peer}" \
    --initial-cluster="e2e=${peer}" \
    --initial-cluster-state=new \
    --unsafe-no-fsync \
    --log-level=warn
  cluster::wait_for etcd "etcd health at ${url}" cluster::_etcd_healthy "${url}"
}

# cluster::apiserver_address_args: where kube-apiserver listens and what it
# advertises. By default it listens on 127.0.0.1 only and keeps no
# endpoints for the "kubernetes" Service (nothing could reach them). With
# CLUSTER_ADVERTISE_ADDRESS (set by hack/node-up.sh to the pods' bridge
# address) it listens on CLUSTER_BIND_ADDRESS (default 0.0.0.0: loopback
# and that address, one socket) and keeps the Service's endpoints at
# CLUSTER_ADVERTISE_ADDRESS, as in a real cluster, so pods reach it at
# 10.0.0.1:443 through kube-proxy.
cluster::apiserver_address_args() {
  if [[ -z "${CLUSTER_ADVERTISE_ADDRESS:-}" ]]; then
    printf '%s\n' --bind-address=127.0.0.1 --endpoint-reconciler-type=none
    return
  fi
  printf '%s\n' --bind-address="${CLUSTER_BIND_ADDRESS:-0.0.0.0}" \
    --advertise-address="${CLUSTER_ADVERTISE_ADDRESS}" --endpoint-reconciler-type=lease
}

# cluster::apiserver_has_address_args: true if the running kube-apiserver
# listens and advertises as cluster::apiserver_address_args says.
cluster::apiserver_has_address_args() {
  local args arg
  args="$(tr '\0' ' ' <"/proc/$(<"${CLUSTER_DIR}/kube-apiserver.pid")/cmdline" 2>/dev/null)" || return 1
  while read -r arg; do
    [[ " ${args} " == *" ${arg} "* ]] || return 1
  done < <(cluster::apiserver_address_args)
}

cluster::start_apiserver() {
  local port="$1" etcd_url="$2" pki
  pki="$(cluster::pki_dir)"
  local -a address=()
  mapfile -t address < <(cluster::apiserver_address_args)
  # Remembered, so that a restart after a crash listens as before.
  if [[ -n "${CLUSTER_ADVERTISE_ADDRESS:-}" ]]; then
    cluster::ensure_apiserver_ip "${CLUSTER_ADVERTISE_ADDRESS}"
    printf '%s\n' "${CLUSTER_ADVERTISE_ADDRESS}" >"${CLUSTER_DIR}/kube-apiserver.advertise"
  else
    rm -f "${CLUSTER_DIR}/kube-apiserver.advertise"
  fi
  # How it authenticates to kubelets (logs, exec); a certificate directory
  # made before this certificate existed has none.
  local -a kubelet_client=()
  if [[ -s "${pki}/kubelet-client.crt" ]]; then
    kubelet_client=(--kubelet-client-certificate="${pki}/kubelet-client.crt" --kubelet-client-key="${pki}/kubelet-client.key")
  fi
  # Audit at Metadata level: who did what, as tests check (impersonation included).
  cat >"${CLUSTER_DIR}/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  verbs: [get, list, watch]
- level: Metadata
POLICY
  cluster::start kube-apiserver "$(cluster::kube_apiserver_path)" \
    "${address[@]}" \
    --secure-port="${port}" \
    --tls-cert-file="${pki}/apiserver.crt" \
    --tls-private-key-file="${pki}/apiserver.key" \
    --cert-dir="${CLUSTER_DIR}/apiserver-certs" \
    --etcd-servers="${etcd_url}" \
    --storage-backend=etcd3 \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --client-ca-file="${pki}/client-ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="${pki}/sa.pub" \
    --service-account-signing-key-file="${pki}/sa.key" \
    --requestheader-client-ca-file="${pki}/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-uid-headers=X-Remote-Uid \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="${pki}/front-proxy-client.crt" \
    --proxy-client-key-file="${pki}/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    "${kubelet_client[@]}" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --audit-policy-file="${CLUSTER_DIR}/audit-policy.yaml" \
    --audit-log-path="${CLUSTER_DIR}/audit.log" \
    --profiling=false \
    --v="${KUBE_APISERVER_VERBOSITY:-1}"
  cluster::wait_for kube-apiserver "kube-apiserver /readyz at https://127.0.0.1:${port}" \
    cluster::_apiserver_ready "https://127.0.0.1:${port}"
}

# cluster::stop NAME: TERM, wait up to CLUSTER_STOP_TIMEOUT seconds, then KILL.
# Only the PID recorded in NAME.pid is signalled, and only if it still belongs
# to this state directory.
cluster::stop() {
  local name="$1" pidfile="${CLUSTER_DIR}/$1.pid" pid deadline
  if ! cluster::pid_alive "${name}"; then
    rm -f "${pidfile}"
    return 0
  fi
  pid="$(<"${pidfile}")"
  cluster::log "stopping ${name} (pid ${pid})"
  kill -TERM "${pid}" 2>/dev/null || true
  deadline=$((SECONDS + CLUSTER_STOP_TIMEOUT))
  while cluster::_running "${pid}" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if cluster::_running "${pid}"; then
    cluster::log "${name} did not exit after ${CLUSTER_STOP_TIMEOUT}s, sending KILL"
    kill -KILL "${pid}" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "${pidfile}"
}

# cluster::write_kubeconfig FILE SERVER_URL USER CERT KEY: kubeconfig with the
# certificates embedded, so the file can be copied elsewhere.
cluster::write_kubeconfig() {
  local file="$1" server="$2" user="$3" cert="$4" key="$5" ca
  ca="$(cluster::pki_dir)/server-ca.crt"
  (
    umask 077
    cat >"${file}.tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: wasm-e2e
  cluster:
    server: ${server}
    certificate-authority-data: $(openssl base64 -A <"${ca}")
users:
- name: ${user}
  user:
    client-certificate-data: $(openssl base64 -A <"${cert}")
    client-key-data: $(openssl base64 -A <"${key}")
contexts:
- name: ${user}@wasm-e2e
  context:
    cluster: wasm-e2e
    user: ${user}
current-context: ${user}@wasm-e2e
KUBECONFIG
  )
  mv -f "${file}.tmp" "${file}"
}
