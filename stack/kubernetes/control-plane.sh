#!/usr/bin/env bash
# The local test control plane, run in the foreground by stack/kubernetes.ts (which detaches it):
# etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok (simulated nodes) on loopback.
# usage: control-plane.sh STATE_DIR BIN_DIR   (ports and the token come from the environment: see stack/kubernetes.ts)
# On SIGTERM the parts stop in reverse order (kwok first, etcd last: an apiserver whose etcd is gone hangs on TERM).
# If any part exits, the others are stopped and the script exits non-zero.
set -uo pipefail
W=${1:?state dir}; BIN=${2:?bin dir}
: "${KUBE_APISERVER_PORT:?}" "${KUBE_ETCD_PORT:?}" "${KUBE_ETCD_PEER_PORT:?}" "${KUBE_KWOK_PORT:?}" "${KUBE_TOKEN_FILE:?}"
cd "$W"
pids=()
names=()
stopping=0

stop_all() {
  stopping=1
  local i
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    local pid=${pids[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null && echo "control-plane: ${names[$i]} (pid $pid) did not stop in 10 s; killed"
    wait "$pid" 2>/dev/null
  done
}
trap 'echo "control-plane: stopping"; stop_all; echo "control-plane: stopped"; exit 0' TERM INT

start() { # name, then the command; its output goes to <name>.log in the state dir
  local name=$1; shift
  "$@" >"$W/$name.log" 2>&1 &
  pids+=("$!"); names+=("$name")
  echo "control-plane: $name started (pid $!)"
}

api() { # method path [yaml file]: a call to the apiserver as the stack's admin
  local args=(-sk --max-time 10 -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cut -d, -f1 "$KUBE_TOKEN_FILE")")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/yaml' --data-binary "@$3")
  curl "${args[@]}" "https://127.0.0.1:$KUBE_APISERVER_PORT$2"
}

start etcd "$BIN/etcd" --name local --data-dir "$W/etcd-data" \
  --listen-client-urls "http://127.0.0.1:$KUBE_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$KUBE_ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$KUBE_ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$KUBE_ETCD_PEER_PORT" \
  --initial-cluster "local=http://127.0.0.1:$KUBE_ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn \
  --socket-reuse-address=true

start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$KUBE_ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$KUBE_APISERVER_PORT" \
  --cert-dir="$W/certs" --token-auth-file="$KUBE_TOKEN_FILE" --authorization-mode=Node,RBAC \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$W/sa.key" \
  --service-account-signing-key-file="$W/sa.key" --service-cluster-ip-range=10.96.0.0/16 \
  --endpoint-reconciler-type=none --kubelet-preferred-address-types=InternalIP \
  --profiling=false

ready=0
for _ in $(seq 1 600); do
  [ "$(api GET /readyz)" = 200 ] && { ready=1; break; }
  # e.g. "listen tcp 127.0.0.1:<port>: bind: address already in use" (a port in the ephemeral range, taken by a client socket)
  kill -0 "${pids[0]}" 2>/dev/null || { echo "control-plane: etcd exited: $(grep -o '"error":"[^"]*"' "$W/etcd.log" | tail -1); see etcd.log"; break; }
  kill -0 "${pids[1]}" 2>/dev/null || break
  sleep 0.1
done
if [ $ready = 0 ]; then echo "control-plane: kube-apiserver did not become ready; see kube-apiserver.log"; stop_all; exit 1; fi
echo "control-plane: kube-apiserver ready"

# kwok's Logs resource (pod logs served by the simulated node) and one simulated node.
for attempt in 1 2 3; do
  code=$(api POST /apis/apiextensions.k8s.io/v1/customresourcedefinitions "$BIN/kwok-share/kwok.x-k8s.io_logs.yaml")
  case $code in 201|409) break ;; *) echo "control-plane: creating the Logs CRD answered $code (attempt $attempt)"; sleep 0.5 ;; esac
done
code=$(api POST /api/v1/nodes "$W/node.yaml")
case $code in 201|409) ;; *) echo "control-plane: creating the kwok node answered $code"; stop_all; exit 1 ;; esac

start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$W/kubeconfig" --authentication-skip-lookup \
  --leader-elect=false --secure-port=0
start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$W/kubeconfig" --leader-elect=false \
  --secure-port=0 --service-account-private-key-file="$W/sa.key" --root-ca-file="$W/certs/apiserver.crt" \
  --use-service-account-credentials=false
start kwok "$BIN/kwok" --kubeconfig="$W/kubeconfig" --config="$W/kwok-stages.yaml" --enable-crds=Logs \
  --node-ip=127.0.0.1 --node-port="$KUBE_KWOK_PORT" --server-address="127.0.0.1:$KUBE_KWOK_PORT" \
  --tls-cert-file="$W/kwok.crt" --tls-private-key-file="$W/kwok.key" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40
echo "control-plane: all parts started"

# Any part ending on its own ends the control plane (the stack then reports it unhealthy / gone).
wait -n "${pids[@]}"
code=$?
[ $stopping = 1 ] && exit 0
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null || echo "control-plane: ${names[$i]} (pid ${pids[$i]}) exited (code $code); see ${names[$i]}.log"
done
stop_all
exit 1
