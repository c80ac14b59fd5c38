#!/usr/bin/env bash
# The Kubernetes binaries, built from Go modules into .tools/k8s/bin: kubectl for the e2e, and for
# the local kind node image (node-image.sh) kubeadm, kubelet, the control plane, etcd, CoreDNS,
# local-path-provisioner and pause. No image registry and no release download is reachable from
# the CI machine, the Go module proxy is. A stamp holding the
# versions and the build recipe makes a second call return at once; change either and it rebuilds
# (with a warm Go cache that takes a minute or two, cold about 20 on 2 cores).
set -euo pipefail

K8S_VERSION=v1.32.13
# Two staging modules are refused at v0.32.13 by the filtered module proxy; nothing we build imports them.
ENDPOINTSLICE_VERSION=v0.32.12
SAMPLE_APISERVER_VERSION=v0.32.3
ETCD_VERSION=v3.5.24
COREDNS_VERSION=v1.11.3
LOCAL_PATH_VERSION=v0.0.30
PAUSE_VERSION=3.10
# Bump when the build commands below change, so existing binaries get rebuilt.
RECIPE=2
K8S_BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
OUT=${TALENT_K8S_TOOLS:-$ROOT/.tools/k8s}
BIN=$OUT/bin
SRC=$OUT/src
STAMP=$BIN/.stamp
WANT="k8s=$K8S_VERSION etcd=$ETCD_VERSION coredns=$COREDNS_VERSION local-path=$LOCAL_PATH_VERSION pause=$PAUSE_VERSION recipe=$RECIPE"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi

command -v go >/dev/null || { echo "k8s-binaries.sh: Go is needed (see README)" >&2; exit 1; }
if ! command -v gcc >/dev/null || ! dpkg -s libc6-dev >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "k8s-binaries.sh: gcc and libc6-dev are needed for the pause binary" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi

mkdir -p "$BIN" "$SRC"
rm -f "$STAMP"
start=$(date +%s)
M=$(go env GOMODCACHE)
# Static binaries: they run in a Debian node container and in FROM-scratch images.
export CGO_ENABLED=0
GOFLAGS="$(go env GOFLAGS) -mod=mod"
export GOFLAGS
# Background builds must not starve the tests or the other engineers' work on this machine.
NICE="nice -n 19"

say() { printf '[k8s-binaries.sh %4ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# --- Kubernetes: the module zip ships no staging/ tree, so its ./staging replaces cannot be used;
# a wrapper module replaces each staging module with its published version instead.
say "kubernetes $K8S_VERSION"
go mod download "k8s.io/kubernetes@$K8S_VERSION"
KMOD=$M/k8s.io/kubernetes@$K8S_VERSION
mkdir -p "$SRC/k8s"
{
  printf 'module local/k8sbuild\n\ngo 1.23.0\n\ngodebug default=go1.23\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
  awk '/^\tk8s.io\/[a-z-]+ v0.0.0$/ {print $1}' "$KMOD/go.mod" | while read -r m; do
    v=v0${K8S_VERSION#v1}
    case $m in
      k8s.io/endpointslice) v=$ENDPOINTSLICE_VERSION ;;
      k8s.io/sample-apiserver) v=$SAMPLE_APISERVER_VERSION ;;
    esac
    printf '\t%s => %s %s\n' "$m" "$m" "$v"
  done
  echo ')'
} > "$SRC/k8s/go.mod.new"
cmp -s "$SRC/k8s/go.mod.new" "$SRC/k8s/go.mod.in" 2>/dev/null || { cp "$SRC/k8s/go.mod.new" "$SRC/k8s/go.mod.in"; cp "$SRC/k8s/go.mod.new" "$SRC/k8s/go.mod"; rm -f "$SRC/k8s/go.sum"; }
rm -f "$SRC/k8s/go.mod.new"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
LD="-s -w"
for kv in gitVersion=$K8S_VERSION gitMajor=1 gitMinor=$minor gitTreeState=clean; do
  LD="$LD -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
done
pkgs=()
for b in $K8S_BINARIES; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
# One invocation for all seven: they share most of their 2665 packages, compiled once.
(cd "$SRC/k8s" && $NICE go build -trimpath -tags selinux,notest -ldflags "$LD" -o "$BIN/" "${pkgs[@]}")

# --- etcd: its server module has ../ replaces too; a wrapper main calls etcdmain.Main.
say "etcd $ETCD_VERSION"
mkdir -p "$SRC/etcd"
cat > "$SRC/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
want_mod=$(printf 'module local/etcdbuild\n\ngo 1.22\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION")
if [ "$(cat "$SRC/etcd/go.mod.in" 2>/dev/null)" != "$want_mod" ]; then
  printf '%s\n' "$want_mod" > "$SRC/etcd/go.mod.in"
  printf '%s\n' "$want_mod" > "$SRC/etcd/go.mod"
  rm -f "$SRC/etcd/go.sum"
fi
(cd "$SRC/etcd" && $NICE go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" .)

# --- CoreDNS and local-path-provisioner install directly (no replace directives).
say "coredns $COREDNS_VERSION, local-path-provisioner $LOCAL_PATH_VERSION"
GOFLAGS=$(go env GOFLAGS | sed 's/-mod=mod//') GOBIN=$BIN $NICE go install -trimpath -ldflags "-s -w" \
  "github.com/coredns/coredns@$COREDNS_VERSION"
GOFLAGS=$(go env GOFLAGS | sed 's/-mod=mod//') GOBIN=$BIN $NICE go install -trimpath \
  -ldflags "-s -w -X main.VERSION=$LOCAL_PATH_VERSION" "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION"

# --- pause: the C source ships in the kubernetes module.
say "pause $PAUSE_VERSION"
gcc -Os -static -DVERSION="v$PAUSE_VERSION" -o "$BIN/pause" "$KMOD/build/pause/linux/pause.c"
strip "$BIN/pause" 2>/dev/null || true

for b in $K8S_BINARIES etcd coredns local-path-provisioner pause; do
  [ -x "$BIN/$b" ] || { echo "k8s-binaries.sh: $BIN/$b missing" >&2; exit 1; }
done
printf '%s\n' "$WANT" > "$STAMP"
say "done: $BIN"
