#!/usr/bin/env bash
# The e2e's kind cluster, with the node image node-image.sh names (TALENT_KIND_NODE=auto, the
# default: official where kindest/node can be had, else local; or either by name).
#
#   kind.sh up               build the node image when needed, `kind create cluster`, wait for it
#   kind.sh load IMAGE...    `kind load docker-image` (the images are never pulled)
#   kind.sh logs DIR         `kind export logs`
#   kind.sh down             `kind delete cluster`; safe when nothing is up
#   kind.sh check-clean      exit 1, saying what, if anything of the cluster is left
#
# On a machine where `docker run --privileged` fails (root without CAP_SYS_RESOURCE, as on the CI
# machine) kind runs with docker-shim/ first on its PATH; kind.sh says so when it does.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
NAME=${TALENT_KIND_NAME:-talent-e2e}
CONFIG=${TALENT_KIND_CONFIG:-$ROOT/tests/e2e/kind-config.yaml}
KUBECONFIG_OUT=${TALENT_KIND_KUBECONFIG:-$ROOT/.tools/kind/kubeconfig}
KIND=${KIND:-$ROOT/.tools/bin/kind}
KUBECTL=${KUBECTL:-$ROOT/.tools/k8s/bin/kubectl}
WAIT=${TALENT_KIND_WAIT:-300s}
PROBE_IMAGE=local/debian:bookworm
# The sysctls the kubelet would set machine-wide (talent-entrypoint shadows them in the node).
SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"
STATE=$ROOT/.tools/kind/state

say() { echo "kind.sh: $*"; }
die() { echo "kind.sh: $*" >&2; exit 1; }
[ -x "$KIND" ] || die "no kind at $KIND: make kind-bin"

# kind with docker-shim/ first on its PATH when this Docker refuses --privileged.
kind_() {
  if [ -z "${PRIVILEGED_OK:-}" ]; then
    if [ "${TALENT_KIND_SHIM:-auto}" = never ]; then
      PRIVILEGED_OK=1
    elif [ "${TALENT_KIND_SHIM:-auto}" = always ]; then
      PRIVILEGED_OK=0
    elif docker run --rm --privileged --entrypoint true "$PROBE_IMAGE" >/dev/null 2>"$STATE/privileged.err"; then
      PRIVILEGED_OK=1
    else
      PRIVILEGED_OK=0
      say "docker run --privileged fails here ($(grep -o 'unable to apply caps[^:]*: [a-z ]*' "$STATE/privileged.err" | head -n 1); missing capabilities: $(missing_caps)): kind runs through docker-shim/"
    fi
  fi
  if [ "$PRIVILEGED_OK" = 1 ]; then
    "$KIND" "$@"
  else
    TALENT_DOCKER_DROP_CAPS=$(missing_caps) PATH=$HERE/docker-shim:$PATH "$KIND" "$@"
  fi
}

# The capabilities Docker's "ALL" holds that this process's bounding set lacks (here SYS_RESOURCE):
# the shim drops them, or runc refuses to start the node.
missing_caps() {
  local names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE
    NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT
    SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE
    AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ
    PERFMON BPF CHECKPOINT_RESTORE)
  local bnd i out=()
  bnd=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
  for i in "${!names[@]}"; do (((bnd >> i) & 1)) || out+=("${names[i]}"); done
  echo "${out[*]}"
}
kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" "$@"; }
exists() { "$KIND" get clusters 2>/dev/null | grep -qx "$NAME"; }
sysctl_get() { cat "/proc/sys/${1//.//}"; }

# No name leaves the cluster: CoreDNS answers cluster.local and nothing else (kubeadm's Corefile
# forwards the rest to the node's resolver).
no_dns_forwarding() {
  local corefile
  corefile=$(kubectl -n kube-system get configmap coredns -o jsonpath='{.data.Corefile}')
  printf '%s\n' "$corefile" | grep -q 'forward ' || return 0
  printf '%s\n' "$corefile" | awk '/^ *forward / {skip = /\{ *$/; next} skip && /^ *\} *$/ {skip = 0; next} !skip' > "$STATE/Corefile"
  kubectl -n kube-system create configmap coredns --from-file=Corefile="$STATE/Corefile" --dry-run=client -o yaml |
    kubectl apply -f - >/dev/null
  kubectl -n kube-system rollout restart deployment/coredns >/dev/null
  kubectl -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null
}

up() {
  local image t0 t1
  mkdir -p "$STATE" "$(dirname "$KUBECONFIG_OUT")"
  if ! timeout 20 docker info >/dev/null 2>&1; then "$ROOT/tests/e2e/docker.sh" up; fi
  exists && die "a kind cluster '$NAME' is already there: kind.sh down first"
  TALENT_KIND_NODE=$("$HERE/node-image.sh" resolve)
  export TALENT_KIND_NODE
  image=$("$HERE/node-image.sh" name)
  t0=$SECONDS
  "$HERE/node-image.sh" build
  if [ ! -f "$STATE/sysctls" ]; then  # kept from an earlier up that never came down: the real originals
    for k in $SYSCTLS; do echo "$k=$(sysctl_get "$k")"; done > "$STATE/sysctls"
    cp "$STATE/sysctls" "$STATE/sysctls.original"
  fi
  local config=$CONFIG
  if [ "$TALENT_KIND_NODE" = local ]; then
    # The local node image carries kubeadm patches (patches/: small control-plane CPU requests,
    # for a 2-core machine); kubeadm reads them when its config names the directory.
    grep -q '^kubeadmConfigPatches:' "$CONFIG" && die "$CONFIG has kubeadmConfigPatches: merge the patches directory into them"
    config=$STATE/kind-config.yaml
    { cat "$CONFIG"; printf 'kubeadmConfigPatches:\n  - |\n    kind: InitConfiguration\n    patches:\n      directory: /kind/patches\n'; } > "$config"
  fi
  t1=$SECONDS
  kind_ create cluster --name "$NAME" --config "$config" --image "$image" \
    --kubeconfig "$KUBECONFIG_OUT" --wait "$WAIT"
  say "cluster created in $((SECONDS - t1)) s (node image ready in $((t1 - t0)) s)"
  docker inspect -f '{{.Id}}' "$NAME-control-plane" > "$STATE/node-id" 2>/dev/null || true
  if [ "$TALENT_KIND_NODE" = local ]; then
    no_dns_forwarding
    # One node: one CoreDNS is enough, and its request is CPU the e2e's pods need on 2 cores.
    kubectl -n kube-system scale deployment/coredns --replicas=1 >/dev/null
    say "CoreDNS forwards nowhere, one replica"
  fi
  kubectl get nodes -o wide
  say "up in $((SECONDS - t0)) s; kubeconfig: $KUBECONFIG_OUT"
}

load() {
  local t0=$SECONDS
  [ $# -gt 0 ] || return 0
  kind_ load docker-image --name "$NAME" "$@"
  say "loaded $# image(s) in $((SECONDS - t0)) s"
}

down() {
  local t0=$SECONDS k
  if exists; then kind_ delete cluster --name "$NAME" --kubeconfig "$KUBECONFIG_OUT"; fi
  rm -f "$KUBECONFIG_OUT"
  # kind keeps its Docker network (a bridge and iptables rules on the host) for the next cluster:
  # removed when no container is on it any more.
  if docker network inspect kind >/dev/null 2>&1 &&
    [ -z "$(docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' kind)" ]; then
    docker network rm kind >/dev/null
  fi
  # The kubelet's sysctls are shadowed in the node; restore them anyway should one have leaked.
  if [ -f "$STATE/sysctls" ]; then
    while IFS='=' read -r k v; do
      [ "$(sysctl_get "$k")" = "$v" ] || { echo "$v" > "/proc/sys/${k//.//}"; say "restored $k=$v"; }
    done < "$STATE/sysctls"
    rm -f "$STATE/sysctls"
  fi
  say "down in $((SECONDS - t0)) s"
}

check_clean() {
  local left=() id="" out
  id=$(cat "$STATE/node-id" 2>/dev/null || true)
  exists && left+=("kind cluster $NAME")
  [ -z "$(docker ps -aq --filter "label=io.x-k8s.kind.cluster=$NAME")" ] || left+=("node containers")
  if docker network inspect kind >/dev/null 2>&1 &&
    [ -z "$(docker network inspect -f '{{range .Containers}}{{.Name}} {{end}}' kind)" ]; then
    left+=("the unused docker network kind")
  fi
  [ ! -f "$STATE/sysctls" ] || left+=("recorded sysctls not restored ($STATE/sysctls; kind.sh down restores them)")
  if [ -f "$STATE/sysctls.original" ]; then
    while IFS='=' read -r k v; do
      [ "$(sysctl_get "$k")" = "$v" ] || left+=("sysctl $k is $(sysctl_get "$k"), was $v before up")
    done < "$STATE/sysctls.original"
  fi
  [ ! -d /lib/modules ] || [ -n "$(ls -A /lib/modules)" ] || left+=("an empty /lib/modules on the host")
  # What a node leaves on the host if its container did not go away cleanly: its processes are
  # told apart from another cluster's by the container id in their cgroup.
  if [ -n "$id" ]; then
    out=$(grep -l "$id" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | tr '\n' ' ' || true)
    [ -z "$out" ] || left+=("processes: $out")
  fi
  out=$(grep -E "/kind/|kind-node${id:+|$id}" /proc/self/mountinfo | awk '{print $5}' || true)
  [ -z "$out" ] || left+=("mounts: $(echo "$out" | tr '\n' ' ')")
  if [ -n "$id" ]; then  # the node's cgroup holds everything its systemd and kubelet made
    out=$(find /sys/fs/cgroup/*/ -maxdepth 3 -type d -name "*$id*" 2>/dev/null || true)
    [ -z "$out" ] || left+=("cgroups: $(echo "$out" | head -n 5 | tr '\n' ' ')")
  fi
  if command -v iptables-save >/dev/null; then
    out=$(iptables-save 2>/dev/null | grep -E -- "KUBE-|CNI-" || true)
    [ -z "$out" ] || left+=("iptables rules: $(echo "$out" | head -n 5 | tr '\n' ';')")
  fi
  [ ! -e "$KUBECONFIG_OUT" ] || left+=("kubeconfig: $KUBECONFIG_OUT")
  if [ ${#left[@]} -gt 0 ]; then
    echo "kind.sh: not clean, left over:" >&2
    printf '  - %s\n' "${left[@]}" >&2
    return 1
  fi
  say "clean: no cluster, container, network, process, mount, cgroup, iptables rule or changed sysctl of $NAME is left"
}

case "${1:-}" in
  up) up ;;
  load) shift; load "$@" ;;
  logs) kind_ export logs "${2:?kind.sh logs DIR}" --name "$NAME" ;;
  down) down ;;
  check-clean) check_clean ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
