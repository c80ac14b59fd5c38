#!/usr/bin/env bash
# The node's supervisor, run by tini as the container's main process: it prepares the container
# (what --privileged would do, which this machine refuses), starts every component in order with
# its log in /var/log/talent and its PID in /run/talent, and stops them in reverse order on
# SIGTERM. The host's cluster.sh follows progress through /run/talent/phase.
set -euo pipefail
RUN=/run/talent
LOGS=/var/log/talent
PKI=/etc/kubernetes/pki
K=/etc/kubernetes
NODE_IP=10.88.0.1
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.96.0.0/16
mkdir -p "$RUN" "$LOGS"
exec >>"$LOGS/node.log" 2>&1

phase() { echo "$1" > "$RUN/phase"; echo "[$(date +%T)] phase: $1"; }
fail() { echo "[$(date +%T)] FAILED: $*"; echo "failed: $*" > "$RUN/phase"; stop_all; exit 1; }

started=()
start() {
  local name=$1; shift
  "$@" >>"$LOGS/$name.log" 2>&1 &
  echo $! > "$RUN/$name.pid"
  started+=("$name")
  echo "[$(date +%T)] started $name (pid $!)"
}

stop_all() {
  local i name pid
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    name=${started[i]}; pid=$(cat "$RUN/$name.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$RUN/$name.pid"
  done
  started=()
}
trap 'phase stopping; stop_all; exit 0' TERM INT

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 2))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  fail "$what not ready after ${t}s"
}

phase prepare
# Docker mounts /sys and the cgroup hierarchies read-only without --privileged, and --privileged
# cannot be used here (the host's root lacks CAP_SYS_RESOURCE, so runc refuses "all capabilities").
mount -o remount,rw /sys
for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d"; done
# Volume mounts (kubelet, CSI) need shared propagation.
mount --make-rshared /
# The kubelet sets these sysctls, which are global to the machine, not to the container: it
# reads each first and writes only when it differs, so a private file with the value it wants,
# bound over each one in this mount namespace, keeps the host's values untouched.
mkdir -p "$RUN/sysctl"
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 \
          kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  key=${kv%=*}; f=$RUN/sysctl/${key//\//.}
  echo "${kv#*=}" > "$f"
  mount --bind "$f" "/proc/sys/$key"
done
# The kubelet reports it as the node's system UUID.
[ -s /etc/machine-id ] || tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id
# Per network namespace, so these stay inside the node.
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1

# The pod bridge exists before anything binds the node IP (there is no dummy interface here).
ip link show cni0 >/dev/null 2>&1 || {
  ip link add cni0 type bridge
  ip addr add "$NODE_IP/16" dev cni0
  ip link set cni0 up
}
# No traffic leaves the machine from the cluster: the node and its pods may reach the Docker
# network they sit on (the host and its containers), nothing beyond.
DOCKER_NET=$(ip -o -4 route show dev eth0 scope link | awk '{print $1; exit}')
iptables -N TALENT-EGRESS 2>/dev/null || iptables -F TALENT-EGRESS
iptables -A TALENT-EGRESS -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
iptables -A TALENT-EGRESS -d "$DOCKER_NET" -j RETURN
# Locally sent packets to a Service are matched by `-o` on the device routed before kube-proxy's
# DNAT (eth0, the default route), though they go to a pod on cni0.
iptables -A TALENT-EGRESS -d "$POD_CIDR" -j RETURN
iptables -A TALENT-EGRESS -j REJECT
for chain in OUTPUT FORWARD; do
  iptables -C "$chain" -o eth0 -j TALENT-EGRESS 2>/dev/null || iptables -I "$chain" -o eth0 -j TALENT-EGRESS
done
ip6tables -P FORWARD DROP 2>/dev/null || true

phase containerd
mkdir -p /etc/cni/net.d
cp /etc/talent/10-talent.conflist /etc/cni/net.d/
start containerd containerd --config /etc/talent/containerd.toml
wait_for 30 containerd ctr version

phase certs
if [ ! -f "$K/super-admin.conf" ]; then
  kubeadm init phase certs all --config /etc/talent/kubeadm.yaml
  kubeadm init phase kubeconfig all --config /etc/talent/kubeadm.yaml
fi
export KUBECONFIG=$K/super-admin.conf

phase etcd
start etcd etcd --name talent-k8s --data-dir /var/lib/etcd \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster talent-k8s=http://127.0.0.1:2380 \
  --listen-metrics-urls http://127.0.0.1:2381 --snapshot-count 10000
wait_for 60 etcd curl -fsS http://127.0.0.1:2381/health

phase kube-apiserver
start kube-apiserver kube-apiserver \
  --advertise-address=$NODE_IP --bind-address=0.0.0.0 --secure-port=6443 \
  --allow-privileged=true --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --client-ca-file=$PKI/ca.crt --tls-cert-file=$PKI/apiserver.crt --tls-private-key-file=$PKI/apiserver.key \
  --kubelet-client-certificate=$PKI/apiserver-kubelet-client.crt --kubelet-client-key=$PKI/apiserver-kubelet-client.key \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --proxy-client-cert-file=$PKI/front-proxy-client.crt --proxy-client-key-file=$PKI/front-proxy-client.key \
  --requestheader-allowed-names=front-proxy-client --requestheader-client-ca-file=$PKI/front-proxy-ca.crt \
  --requestheader-extra-headers-prefix=X-Remote-Extra- --requestheader-group-headers=X-Remote-Group \
  --requestheader-username-headers=X-Remote-User \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file=$PKI/sa.pub --service-account-signing-key-file=$PKI/sa.key \
  --service-cluster-ip-range=$SERVICE_CIDR --etcd-servers=http://127.0.0.1:2379 \
  --enable-bootstrap-token-auth=true
wait_for 120 kube-apiserver kubectl get --raw /readyz

phase controllers
start kube-controller-manager kube-controller-manager \
  --kubeconfig=$K/controller-manager.conf --authentication-kubeconfig=$K/controller-manager.conf \
  --authorization-kubeconfig=$K/controller-manager.conf --bind-address=127.0.0.1 \
  --client-ca-file=$PKI/ca.crt --requestheader-client-ca-file=$PKI/front-proxy-ca.crt \
  --cluster-name=talent-k8s --cluster-signing-cert-file=$PKI/ca.crt --cluster-signing-key-file=$PKI/ca.key \
  --controllers='*,bootstrapsigner,tokencleaner' --leader-elect=false --root-ca-file=$PKI/ca.crt \
  --service-account-private-key-file=$PKI/sa.key --use-service-account-credentials=true \
  --service-cluster-ip-range=$SERVICE_CIDR --allocate-node-cidrs=false
start kube-scheduler kube-scheduler \
  --kubeconfig=$K/scheduler.conf --authentication-kubeconfig=$K/scheduler.conf \
  --authorization-kubeconfig=$K/scheduler.conf --bind-address=127.0.0.1 --leader-elect=false

# The kubelet waits for the images cluster.sh loads (pause above all): a pull would fail and
# back off for minutes.
phase images
for _ in $(seq 1 600); do [ -f "$RUN/images-loaded" ] && break; sleep 0.5; done
[ -f "$RUN/images-loaded" ] || fail "images were not loaded"

phase kubelet
start kubelet kubelet --config=/etc/talent/kubelet.yaml --kubeconfig=$K/kubelet.conf \
  --node-ip=$NODE_IP --hostname-override=talent-k8s
start kube-proxy kube-proxy --config=/etc/talent/kube-proxy.yaml
wait_for 120 "node registration" kubectl get node talent-k8s

phase addons
wait_for 60 "default service account" kubectl -n default get serviceaccount default
kubectl apply -f /etc/talent/rbac.yaml -f /etc/talent/coredns.yaml -f /etc/talent/local-path.yaml

phase running
# Stay up; note (without acting on it) any component that dies, for the logs.
while sleep 5; do
  for name in "${started[@]}"; do
    pid=$(cat "$RUN/$name.pid" 2>/dev/null) || continue
    kill -0 "$pid" 2>/dev/null || { echo "[$(date +%T)] $name (pid $pid) exited"; rm -f "$RUN/$name.pid"; }
  done
done &
wait $!
