#!/usr/bin/env bash
# A real single-node Kubernetes (v1.32.13, binaries from build.sh) inside ONE Docker container:
# its own network namespace, iptables and mounts, so removing the container is most of the
# teardown. node/node.sh supervises the components inside it.
#
#   cluster.sh up              build the images when missing or changed, start, wait until usable,
#                              write .tools/k8s/kubeconfig (server https://127.0.0.1:<port>)
#   cluster.sh load IMAGE...   copy local Docker images into the node's containerd (never pulled)
#   cluster.sh logs DIR        copy every component's log (and pod logs) to DIR
#   cluster.sh down            remove everything of the cluster; safe when nothing is up
#   cluster.sh check-clean     exit 1, saying what, if anything of the cluster is left
#   cluster.sh images          only build the node image and the cluster images
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
NAME=${TALENT_CLUSTER_NAME:-talent-k8s}
K8S=${TALENT_K8S_TOOLS:-$ROOT/.tools/k8s}
BIN=$K8S/bin
STATE=$K8S/state
KUBECONFIG_OUT=$K8S/kubeconfig
# The Kubernetes node's name is fixed in node/ (kubeadm, kubelet, kube-proxy), whatever the container's.
NODE_NAME=talent-k8s
LABEL=talent.cluster=$NAME
VOLUME=$NAME-containerd
NODE_REPO=local/talent-k8s-node
DEBIAN_IMAGE=local/debian:bookworm
# What the node's containerd must hold before the kubelet starts. The helper pod of
# local-path-provisioner runs the Debian image, which is only needed by the first PVC: it is
# loaded while the kubelet starts, and before `up` returns.
BOOT_IMAGES=(local/pause:3.10 local/coredns:v1.11.3 local/local-path-provisioner:v0.0.30)
HELPER_IMAGE=$DEBIAN_IMAGE
NODE_BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm etcd"
# The sysctls the kubelet sets are global to the machine. node.sh shadows them inside the node so
# the host keeps its values; these are recorded anyway and restored by `down` as a second line.
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
UP_TIMEOUT=${TALENT_CLUSTER_UP_TIMEOUT:-600}
export DOCKER_BUILDKIT=0

say() { echo "cluster.sh: $*"; }
# The container name is one per machine; a checkout must not remove a cluster another checkout
# (another engineer's e2e run) is using. TALENT_CLUSTER_FORCE=1 overrides.
owner() { docker inspect -f '{{index .Config.Labels "talent.cluster.root"}}' "$NAME" 2>/dev/null || true; }
guard_owner() {
  local o
  o=$(owner)
  if running && [ -n "$o" ] && [ "$o" != "$ROOT" ] && [ "${TALENT_CLUSTER_FORCE:-}" != 1 ]; then
    die "$NAME is running for the checkout at $o: leaving it (its cluster.sh down removes it; TALENT_CLUSTER_FORCE=1 to remove it from here, or TALENT_CLUSTER_NAME for a second cluster)"
  fi
}
die() { echo "cluster.sh: $*" >&2; exit 1; }
kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }
# The legacy builder's deprecation notice on every build is noise; the output matters on failure.
quiet() { local out; out=$("$@" 2>&1) || { echo "$out" >&2; return 1; }; }
# /proc/sys rather than sysctl(8): procps may not be installed on the host.
sysctl_get() { cat "/proc/sys/${1//.//}"; }
running() { [ "$(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" = true ]; }
phase() { docker exec "$NAME" cat /run/talent/phase 2>/dev/null || true; }

# --- images ----------------------------------------------------------------------------------

node_image_name() {
  echo "$NODE_REPO:$(cat "$HERE/node.Dockerfile" "$HERE"/node/* "$BIN/.stamp" | sha256sum | cut -c1-16)"
}

node_image() {
  local ctx
  NODE_IMAGE=$(node_image_name)
  docker image inspect "$NODE_IMAGE" >/dev/null 2>&1 && return 0
  local t0=$SECONDS
  say "building $NODE_IMAGE"
  ctx=$K8S/node-context
  rm -rf "$ctx" && mkdir -p "$ctx/bin"
  for b in $NODE_BINARIES; do cp -l "$BIN/$b" "$ctx/bin/" 2>/dev/null || cp "$BIN/$b" "$ctx/bin/"; done
  cp -r "$HERE/node" "$ctx/node"
  quiet docker build -q -f "$HERE/node.Dockerfile" --label "talent.k8s.node=$NAME" -t "$NODE_IMAGE" "$ctx"
  rm -rf "$ctx"
  # Older node images only take disk space.
  docker images --filter "label=talent.k8s.node=$NAME" --format '{{.Repository}}:{{.Tag}}' |
    grep -vx "$NODE_IMAGE" | xargs -r docker rmi >/dev/null 2>&1 || true
  say "node image built in $((SECONDS - t0)) s"
}

# scratch_image IMAGE BINARY [USER]: a FROM-scratch image holding one static binary, rebuilt when
# the binary changes.
scratch_image() {
  local image=$1 binary=$2 user=${3:-} sum ctx
  sum=$(sha256sum "$BIN/$binary" | cut -c1-16)
  [ "$(docker image inspect -f '{{index .Config.Labels "talent.k8s.sha"}}' "$image" 2>/dev/null)" = "$sum" ] && return 0
  ctx=$(mktemp -d "$K8S/image.XXXXXX")
  cp "$BIN/$binary" "$ctx/"
  {
    echo "FROM scratch"
    echo "COPY $binary /$binary"
    [ -z "$user" ] || echo "USER $user"
    echo "ENTRYPOINT [\"/$binary\"]"
  } > "$ctx/Dockerfile"
  quiet docker build -q --label "talent.k8s.sha=$sum" -t "$image" "$ctx"
  rm -rf "$ctx"
  say "built $image"
}

images() {
  docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1 || "$ROOT/tests/e2e/images/debian.sh"
  node_image
  scratch_image local/pause:3.10 pause 65535:65535
  scratch_image local/coredns:v1.11.3 coredns
  scratch_image local/local-path-provisioner:v0.0.30 local-path-provisioner
}

# --- up --------------------------------------------------------------------------------------

record_sysctls() {
  mkdir -p "$STATE"
  # Kept from an earlier up that never came down: those are the real originals.
  [ -f "$STATE/sysctls" ] && return 0
  for k in $SYSCTLS; do echo "$k=$(sysctl_get "$k")"; done > "$STATE/sysctls.tmp"
  mv "$STATE/sysctls.tmp" "$STATE/sysctls"
  cp "$STATE/sysctls" "$STATE/sysctls.original"
}

load_images() {
  [ $# -gt 0 ] || return 0
  docker save "$@" | docker exec -i "$NAME" ctr -n k8s.io images import - >/dev/null
}

write_kubeconfig() {
  local port
  port=$(docker port "$NAME" 6443/tcp | awk -F: '/^127\.0\.0\.1:/ {print $2; exit}')
  [ -n "$port" ] || die "the API server port is not published"
  mkdir -p "$(dirname "$KUBECONFIG_OUT")"
  docker exec "$NAME" cat /etc/kubernetes/super-admin.conf |
    sed "s#server: https://.*#server: https://127.0.0.1:$port#" > "$KUBECONFIG_OUT.tmp"
  chmod 600 "$KUBECONFIG_OUT.tmp"
  mv "$KUBECONFIG_OUT.tmp" "$KUBECONFIG_OUT"
  echo "PORT=$port" >> "$STATE/last-run.env"
}

healthy() {  # and started from the current node image: a changed config means a new cluster
  running && [ "$(phase)" = running ] && [ -f "$KUBECONFIG_OUT" ] && [ -f "$BIN/.stamp" ] &&
    [ "$(docker inspect -f '{{.Config.Image}}' "$NAME")" = "$(node_image_name)" ] &&
    kubectl get --raw /readyz >/dev/null 2>&1
}

wait_phase() {  # wait_phase PHASE...: until node.sh reports one of them
  local p
  while [ $SECONDS -lt "$deadline" ]; do
    running || die "the node container stopped (phase: $(phase)); see cluster.sh logs"
    p=$(phase)
    case " $* " in *" $p "*) return 0 ;; esac
    case $p in failed*) die "node: $p" ;; esac
    sleep 0.5
  done
  die "timed out waiting for phase $* (now: $(phase))"
}

on_up_exit() {
  local rc=$?
  [ $rc -eq 0 ] && return 0
  say "up failed (exit $rc)"
  if running || docker inspect "$NAME" >/dev/null 2>&1; then
    docker cp "$NAME:/var/log/talent/node.log" - 2>/dev/null | tar -xO 2>/dev/null | tail -n 30 >&2 || true
    rm -rf "$K8S/failed-up-logs" && logs "$K8S/failed-up-logs" >/dev/null 2>&1 &&
      say "component logs copied to $K8S/failed-up-logs"
  fi
  if [ "${TALENT_CLUSTER_KEEP_ON_FAILURE:-}" = 1 ]; then
    say "TALENT_CLUSTER_KEEP_ON_FAILURE=1: leaving it for inspection; cluster.sh down removes it"
  else
    down
  fi
}

up() {
  local t0=$SECONDS
  deadline=$((SECONDS + UP_TIMEOUT))
  if healthy; then
    write_kubeconfig
    say "already up; kubeconfig: $KUBECONFIG_OUT"
    return 0
  fi
  guard_owner
  if docker inspect "$NAME" >/dev/null 2>&1; then
    say "a stale $NAME is there: removing it first"
    down
  fi
  if ! command -v docker >/dev/null || ! timeout 20 docker info >/dev/null 2>&1; then "$HERE/docker.sh" up; fi
  "$HERE/build.sh"

  trap on_up_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  record_sysctls
  images

  local t1=$SECONDS
  docker volume create --label "$LABEL" "$VOLUME" >/dev/null
  # Not --privileged: runc then asks for every capability, and root here lacks CAP_SYS_RESOURCE.
  # node.sh does the rest of what --privileged would (writable /sys and cgroups).
  # containerd's root is a volume because overlayfs cannot stack on the container's overlay root.
  docker run -d --name "$NAME" --hostname "$NAME" --label "$LABEL" --label "talent.cluster.root=$ROOT" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined \
    --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg --cgroupns=private \
    -v "$VOLUME:/var/lib/containerd" --tmpfs /var/lib/etcd \
    -p 127.0.0.1::6443 "$NODE_IMAGE" >/dev/null
  {
    echo "ID=$(docker inspect -f '{{.Id}}' "$NAME")"
    echo "IP=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$NAME")"
    # The host end of the node's veth, by its index (ip(8) may be missing on the host).
    iflink=$(docker exec "$NAME" cat /sys/class/net/eth0/iflink)
    for dev in /sys/class/net/*; do
      if [ "$(cat "$dev/ifindex")" = "$iflink" ]; then echo "VETH=${dev##*/}"; fi
    done
  } > "$STATE/last-run.env"
  touch "$STATE/active"

  wait_phase certs etcd kube-apiserver controllers images
  local t2=$SECONDS
  load_images "${BOOT_IMAGES[@]}"
  docker exec "$NAME" touch /run/talent/images-loaded
  load_images "$HELPER_IMAGE"
  say "cluster images loaded in $((SECONDS - t2)) s"

  wait_phase running
  write_kubeconfig
  local left=$((deadline - SECONDS))
  kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout="${left}s" >/dev/null
  kubectl -n kube-system rollout status deployment/coredns --timeout="$((deadline - SECONDS))s" >/dev/null
  kubectl -n local-path-storage rollout status deployment/local-path-provisioner --timeout="$((deadline - SECONDS))s" >/dev/null
  # Through the Service IP, so kube-proxy's rules are exercised too.
  local answer=""
  while [ $SECONDS -lt "$deadline" ]; do
    answer=$(docker exec "$NAME" dig +short +time=2 +tries=1 @10.96.0.10 kubernetes.default.svc.cluster.local 2>/dev/null || true)
    [ "$answer" = 10.96.0.1 ] && break
    sleep 1
  done
  [ "$answer" = 10.96.0.1 ] || die "cluster DNS does not answer for kubernetes.default.svc.cluster.local"

  trap - EXIT INT TERM
  say "up in $((SECONDS - t0)) s (container to ready: $((SECONDS - t1)) s); kubeconfig: $KUBECONFIG_OUT"
}

# --- load, logs ------------------------------------------------------------------------------

load() {
  [ $# -gt 0 ] || die "usage: cluster.sh load IMAGE..."
  running || die "$NAME is not running (cluster.sh up)"
  local t0=$SECONDS
  load_images "$@"
  say "loaded $* in $((SECONDS - t0)) s"
}

logs() {
  local dir=${1:?usage: cluster.sh logs DIR}
  docker inspect "$NAME" >/dev/null 2>&1 || die "no $NAME container"
  mkdir -p "$dir"
  docker cp "$NAME:/var/log/talent" "$dir/components" 2>/dev/null || true
  docker cp "$NAME:/var/log/pods" "$dir/pods" 2>/dev/null || true
  docker logs "$NAME" > "$dir/container.log" 2>&1 || true
  if running && [ -f "$KUBECONFIG_OUT" ]; then
    {
      kubectl get nodes,pods,svc,pvc,pv -A -o wide
      kubectl get events -A --sort-by=.lastTimestamp
    } > "$dir/cluster-state.txt" 2>&1 || true
  fi
  say "logs in $dir"
}

# --- down, check-clean -----------------------------------------------------------------------

down() {
  local t0=$SECONDS id=""
  if [ -f "$STATE/last-run.env" ]; then id=$(sed -n 's/^ID=//p' "$STATE/last-run.env"); fi
  if command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; then
    guard_owner
    { docker ps -aq --filter "label=$LABEL"; docker ps -aq --filter "name=^/$NAME\$"; } | sort -u |
      xargs -r docker rm -f -v >/dev/null 2>&1 || true
    { docker volume ls -q --filter "label=$LABEL"; docker volume ls -q --filter "name=^$VOLUME\$"; } | sort -u |
      xargs -r docker volume rm -f >/dev/null 2>&1 || true
  fi
  if [ -f "$STATE/sysctls" ]; then
    while IFS='=' read -r k v; do
      [ "$(sysctl_get "$k")" = "$v" ] || echo "$v" > "/proc/sys/${k//.//}" || true
    done < "$STATE/sysctls"
    rm -f "$STATE/sysctls"
  fi
  # runc removes a container's cgroups with it; this only catches what a crash left behind.
  if [ -n "$id" ]; then
    find /sys/fs/cgroup/*/ -maxdepth 3 -type d -name "*$id*" 2>/dev/null | while read -r d; do
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
  fi
  rm -f "$STATE/active" "$KUBECONFIG_OUT"
  say "down in $((SECONDS - t0)) s"
}

check_clean() {
  local left=() id="" ip="" veth="" port="" out
  if [ -f "$STATE/last-run.env" ]; then
    id=$(sed -n 's/^ID=//p' "$STATE/last-run.env"); ip=$(sed -n 's/^IP=//p' "$STATE/last-run.env")
    veth=$(sed -n 's/^VETH=//p' "$STATE/last-run.env"); port=$(sed -n 's/^PORT=//p' "$STATE/last-run.env")
  fi
  [ ! -f "$STATE/active" ] || left+=("state: $STATE/active (down did not finish)")
  [ ! -f "$STATE/sysctls" ] || left+=("sysctls recorded at up were not restored ($STATE/sysctls)")
  if [ -f "$STATE/sysctls.original" ]; then
    while IFS='=' read -r k v; do
      [ "$(sysctl_get "$k")" = "$v" ] || left+=("sysctl $k is $(sysctl_get "$k"), was $v before up")
    done < "$STATE/sysctls.original"
  fi
  if timeout 20 docker info >/dev/null 2>&1; then
    out=$(docker ps -a --filter "label=$LABEL" --format '{{.Names}} ({{.Status}})'; docker ps -a --filter "name=^/$NAME\$" --format '{{.Names}} ({{.Status}})')
    [ -z "$out" ] || left+=("docker containers: $(echo "$out" | sort -u | tr '\n' ' ')")
    out=$(docker volume ls -q --filter "label=$LABEL"; docker volume ls -q --filter "name=^$VOLUME\$")
    [ -z "$out" ] || left+=("docker volumes: $(echo "$out" | sort -u | tr '\n' ' ')")
    out=$(docker network ls -q --filter "label=$LABEL")
    [ -z "$out" ] || left+=("docker networks: $out")
  fi
  out=$(ps -eo pid=,args= | awk '{
      n = $2; sub(/.*\//, "", n)
      if (n ~ /^(kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|etcd|coredns|local-path-provisioner|pause)$/ ||
          $0 ~ /containerd-shim-runc-v2 -namespace k8s\.io/ || $0 ~ /\/etc\/talent\//) print $1 " " n
    }')
  [ -z "$out" ] || left+=("processes: $(echo "$out" | tr '\n' ' ')")
  out=$(grep -E "kubelet|/etc/talent|k8s\.io|/run/containerd/io\.containerd|$NAME${id:+|$id}" /proc/self/mountinfo | awk '{print $5}' || true)
  [ -z "$out" ] || left+=("mounts: $(echo "$out" | tr '\n' ' ')")
  out=""
  for dev in cni0 $veth; do [ ! -e "/sys/class/net/$dev" ] || out+="$dev "; done
  [ -z "$out" ] || left+=("network interfaces: $(echo "$out" | tr '\n' ' ')")
  if command -v iptables-save >/dev/null; then
    out=$( { iptables-save; ip6tables-save 2>/dev/null || true; } | grep -E -- "KUBE-|CNI-|TALENT-${ip:+|${ip}[:/]}${port:+|--dport ${port}( |\$)}" || true)
    [ -z "$out" ] || left+=("iptables rules: $(echo "$out" | head -n 5 | tr '\n' ';')")
  fi
  if command -v nft >/dev/null; then
    out=$(nft list tables 2>/dev/null | grep -E 'kube|cni|talent' || true)
    [ -z "$out" ] || left+=("nft tables: $(echo "$out" | tr '\n' ' ')")
  fi
  out=$(find /sys/fs/cgroup/*/ -maxdepth 3 -type d \( -name kubepods -o -name 'kubepods*' ${id:+-o -name "*$id*"} \) 2>/dev/null || true)
  [ -z "$out" ] || left+=("cgroups: $(echo "$out" | head -n 5 | tr '\n' ' ')")
  [ ! -e "$KUBECONFIG_OUT" ] || left+=("kubeconfig: $KUBECONFIG_OUT")
  if [ ${#left[@]} -gt 0 ]; then
    echo "cluster.sh: not clean, left over:" >&2
    printf '  - %s\n' "${left[@]}" >&2
    return 1
  fi
  say "clean: no process, mount, interface, iptables rule, cgroup or docker object of $NAME is left"
}

case "${1:-}" in
  up) up ;;
  load) shift; load "$@" ;;
  logs) shift; logs "$@" ;;
  down) down ;;
  check-clean) check_clean ;;
  images) images ;;
  *) echo "usage: $0 up | load IMAGE... | logs DIR | down | check-clean | images" >&2; exit 2 ;;
esac
