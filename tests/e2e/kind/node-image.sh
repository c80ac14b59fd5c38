#!/usr/bin/env bash
# The kind node image for the end-to-end cluster.
#
#   node-image.sh resolve print which node image TALENT_KIND_NODE comes to: official or local
#   node-image.sh name    print the node image `kind create cluster` is given
#   node-image.sh build   make sure that image exists (builds nothing for the official one)
#
# Which image, TALENT_KIND_NODE:
#   auto      (default) official when Docker has kindest/node or can pull it, else local; an
#             offline machine finds out at once (the registry's name does not resolve)
#   official  kind's published kindest/node (a machine that reaches Docker Hub): nothing is built
#   local     built here, for a machine that reaches no image registry: a base image
#             equivalent to kindest/base from Debian's packages (base.Dockerfile), then a node
#             image with the Kubernetes binaries from k8s-binaries.sh and every image kubeadm,
#             kind's storage and CNI need imported into its containerd
#
# kind's `build node-image` cannot be used offline: whatever the source, it fetches etcd, CoreDNS,
# pause, kindnetd and the local-path images with `ctr content fetch`. So this does its steps by
# hand (pkg/build/nodeimage/buildcontext.go): binaries to /usr/bin, /kind/version, the manifests
# under /kind/manifests, `ctr images import` in a container of the base, `docker commit`.
# kindnetd is not on the Go module proxy: the local node has a static bridge CNI (one node only)
# and a default-cni manifest that creates nothing but a ConfigMap saying so.
#
# Both images are named by a hash of everything they are built from, so a second `build` returns
# at once and a changed input makes a new image.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
KIND_VERSION=${KIND_VERSION:-v0.33.0}
# The official image for Kubernetes v1.32 (the version the project targets).
OFFICIAL_IMAGE=${TALENT_KIND_OFFICIAL_IMAGE:-kindest/node:v1.32.2}
K8S_VERSION=v1.32.13
ETCD_TAG=3.5.24-0
COREDNS_TAG=v1.11.3
PAUSE_TAG=3.10
# kind's base image has crictl (`kind export logs` runs it); bookworm does not package it.
CRICTL_VERSION=v1.34.0
K8S=${TALENT_K8S_TOOLS:-$ROOT/.tools/k8s}
BIN=$K8S/bin
WORK=${TALENT_KIND_WORK:-$ROOT/.tools/kind}
DEBIAN_IMAGE=local/debian:bookworm
BASE_REPO=local/kind-base
NODE_REPO=local/kind-node
export DOCKER_BUILDKIT=0

die() { echo "node-image.sh: $*" >&2; exit 1; }
say() { echo "node-image.sh: $*"; }
SOURCE=${TALENT_KIND_NODE:-auto}
case $SOURCE in
  auto | official | local) ;;
  *) die "TALENT_KIND_NODE must be 'auto', 'official' or 'local', not '$SOURCE'" ;;
esac
# auto, decided once: the node image and the product images' Python base follow from it.
resolve() {
  if [ "$SOURCE" != auto ]; then
    echo "$SOURCE"
  elif docker image inspect "$OFFICIAL_IMAGE" >/dev/null 2>&1 || timeout 900 docker pull -q "$OFFICIAL_IMAGE" >/dev/null 2>&1; then
    echo official
  else
    echo local
  fi
}
kind_module() {
  local m
  m=$(go env GOMODCACHE)/sigs.k8s.io/kind@$KIND_VERSION
  [ -d "$m" ] || go mod download "sigs.k8s.io/kind@$KIND_VERSION" >/dev/null
  echo "$m"
}
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

base_name() {
  local m
  m=$(kind_module)
  echo "$BASE_REPO:$(cd "$m/images/base" && find files -type f | LC_ALL=C sort | xargs cat |
    cat - "$HERE/base.Dockerfile" "$HERE/talent-entrypoint" | sha256sum | cut -c1-16)"
}

node_name() {
  [ -f "$BIN/.stamp" ] || die "no Kubernetes binaries in $BIN: run tests/e2e/kind/k8s-binaries.sh (make k8s-bin)"
  echo "$NODE_REPO:$K8S_VERSION-$(printf '%s\n%s\n' "$(base_name)" "$(cat "$BIN/.stamp")" |
    cat - "$HERE/node-image.sh" "$HERE/default-cni.yaml" "$HERE/10-kind-bridge.conflist" "$HERE"/patches/* | sha256sum | cut -c1-16)"
}

name() {
  if [ "$SOURCE" = official ]; then echo "$OFFICIAL_IMAGE"; else node_name; fi
}

build_base() {
  local image ctx m t0=$SECONDS
  image=$(base_name)
  docker image inspect "$image" >/dev/null 2>&1 && { echo "$image"; return 0; }
  docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1 || "$ROOT/tests/e2e/images/debian.sh" >&2
  m=$(kind_module)
  ctx=$WORK/base-context
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -r "$m/images/base/files" "$ctx/files"
  chmod -R u+w "$ctx/files"
  # The modes kind's Dockerfile gives with COPY --chmod.
  find "$ctx/files" -type d -exec chmod 0755 {} +
  find "$ctx/files" -type f -exec chmod 0644 {} +
  chmod 0755 "$ctx"/files/usr/local/bin/* "$ctx"/files/kind/bin/*
  install -m 0755 "$HERE/talent-entrypoint" "$ctx/files/usr/local/bin/talent-entrypoint"
  cp "$HERE/base.Dockerfile" "$ctx/Dockerfile"
  # The host's network: apt reaches Debian's mirror as the host does.
  docker build --force-rm --network host -q -t "$image" "$ctx" >&2 || die "base image build failed"
  rm -rf "$ctx"
  say "built $image in $((SECONDS - t0)) s" >&2
  echo "$image"
}

# scratch_image TAG BINARY: FROM scratch, the binary on PATH (kubeadm's manifests run it by name).
scratch_image() {
  local tag=$1 binary=$2 ctx
  ctx=$WORK/img-$binary
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp "$BIN/$binary" "$ctx/"
  printf 'FROM scratch\nCOPY %s /usr/local/bin/%s\nENTRYPOINT ["/usr/local/bin/%s"]\n' "$binary" "$binary" "$binary" > "$ctx/Dockerfile"
  docker build --force-rm -q -t "$tag" "$ctx" >/dev/null
  rm -rf "$ctx"
}

# crictl from its Go module, kept in $WORK/bin per version.
crictl_bin() {
  local out=$WORK/bin/crictl-$CRICTL_VERSION
  if [ ! -x "$out" ]; then
    mkdir -p "$WORK/bin/tmp"
    CGO_ENABLED=0 GOBIN=$WORK/bin/tmp nice -n 19 go install -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
      "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" >&2
    mv "$WORK/bin/tmp/crictl" "$out"
    rmdir "$WORK/bin/tmp"
  fi
  echo "$out"
}

# The images the node's containerd holds, under the names kubeadm and the manifests use.
node_images() {
  local ctx
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    scratch_image "registry.k8s.io/$b:$K8S_VERSION" "$b"
  done
  scratch_image "registry.k8s.io/etcd:$ETCD_TAG" etcd
  scratch_image "registry.k8s.io/coredns/coredns:$COREDNS_TAG" coredns
  scratch_image "docker.io/kindest/local-path-provisioner:talent" local-path-provisioner
  # pause is the sandbox's entrypoint as is.
  ctx=$WORK/img-pause
  rm -rf "$ctx" && mkdir -p "$ctx" && cp "$BIN/pause" "$ctx/"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$ctx/Dockerfile"
  docker build --force-rm -q -t "registry.k8s.io/pause:$PAUSE_TAG" "$ctx" >/dev/null
  rm -rf "$ctx"
  # kube-proxy runs iptables and conntrack.
  ctx=$WORK/img-kube-proxy
  rm -rf "$ctx" && mkdir -p "$ctx" && cp "$BIN/kube-proxy" "$ctx/"
  cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $DEBIAN_IMAGE
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables conntrack ipset kmod \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY kube-proxy /usr/local/bin/kube-proxy
DOCKERFILE
  docker build --force-rm --network host -q -t "registry.k8s.io/kube-proxy:$K8S_VERSION" "$ctx" >/dev/null
  rm -rf "$ctx"
  docker tag "$DEBIAN_IMAGE" docker.io/kindest/local-path-helper:talent
  NODE_IMAGES=(
    "registry.k8s.io/kube-apiserver:$K8S_VERSION" "registry.k8s.io/kube-controller-manager:$K8S_VERSION"
    "registry.k8s.io/kube-scheduler:$K8S_VERSION" "registry.k8s.io/kube-proxy:$K8S_VERSION"
    "registry.k8s.io/etcd:$ETCD_TAG" "registry.k8s.io/coredns/coredns:$COREDNS_TAG" "registry.k8s.io/pause:$PAUSE_TAG"
    docker.io/kindest/local-path-provisioner:talent docker.io/kindest/local-path-helper:talent
  )
}

# kind's storage manifest (pkg/build/nodeimage/const_storage.go of the kind module), with the
# images built here.
storage_manifest() {
  local m
  m=$(kind_module)
  # shellcheck disable=SC2016 # the backticks and + are Go's, matched literally
  awk '/^const defaultStorageManifest = `/ {on=1; next} on && /^`/ {exit} on' "$m/pkg/build/nodeimage/const_storage.go" |
    sed -E -e 's#` \+ storageProvisionerImage \+ `#docker.io/kindest/local-path-provisioner:talent#' \
           -e 's#` \+ storageHelperImage \+ `#docker.io/kindest/local-path-helper:talent#'
}

build_node() {
  local image base ctx cid t0=$SECONDS
  image=$(node_name)
  docker image inspect "$image" >/dev/null 2>&1 && { say "$image is there"; return 0; }
  base=$(build_base)
  say "building $image"
  node_images
  ctx=$WORK/node-context
  rm -rf "$ctx" && mkdir -p "$ctx/kind/manifests" "$ctx/bin" "$ctx/cni"
  for b in kubeadm kubelet kubectl; do cp "$BIN/$b" "$ctx/bin/"; done
  cp "$(crictl_bin)" "$ctx/bin/crictl"
  echo "$K8S_VERSION" > "$ctx/kind/version"
  cp "$HERE/default-cni.yaml" "$ctx/kind/manifests/default-cni.yaml"
  cp -r "$HERE/patches" "$ctx/kind/patches"
  storage_manifest > "$ctx/kind/manifests/default-storage.yaml"
  grep -q 'local-path-provisioner:talent' "$ctx/kind/manifests/default-storage.yaml" || die "kind's storage manifest not found"
  cp "$HERE/10-kind-bridge.conflist" "$ctx/cni/"
  docker save "${NODE_IMAGES[@]}" > "$ctx/images.tar"
  cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $base
COPY bin/ /usr/bin/
COPY kind/ /kind/
COPY cni/ /etc/cni/net.d/
DOCKERFILE
  docker build --force-rm -q -t "$image-pre" "$ctx" >/dev/null
  # Import into the node's containerd, as kind does, in a container of the image, then commit.
  cid=$(docker run -d --entrypoint sleep -v "$ctx/images.tar:/images.tar:ro" "$image-pre" infinity)
  # shellcheck disable=SC2016
  if ! docker exec "$cid" bash -euc '
      containerd >/tmp/containerd.log 2>&1 & pid=$!
      for _ in $(seq 1 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done
      ctr -n k8s.io images import --all-platforms --no-unpack --digests /images.tar >/dev/null
      ctr -n k8s.io images ls -q
      kill $pid; wait $pid || true
      rm -f /tmp/containerd.log'; then
    docker rm -f "$cid" >/dev/null
    die "importing the images into the node failed"
  fi
  docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/talent-entrypoint", "/usr/local/bin/entrypoint", "/sbin/init"]' \
    --change 'CMD []' "$cid" "$image" >/dev/null
  docker rm -f "$cid" >/dev/null
  docker rmi "$image-pre" >/dev/null
  # The registry names were only for the import: the host's Docker keeps none of them.
  docker rmi "${NODE_IMAGES[@]}" >/dev/null
  rm -rf "$ctx"
  # Older node and base images only take disk space (a node image is over 1 GB).
  docker images --format '{{.Repository}}:{{.Tag}}' |
    grep -E "^($NODE_REPO|$BASE_REPO):" | grep -vx -e "$image" -e "$base" | xargs -r docker rmi >/dev/null 2>&1 || true
  say "built $image in $((SECONDS - t0)) s"
}

[ "${1:-}" = resolve ] || [ "$SOURCE" != auto ] || SOURCE=$(resolve)
case "${1:-}" in
  resolve) resolve ;;
  name) name ;;
  build)
    if [ "$SOURCE" = official ]; then
      say "TALENT_KIND_NODE=official: $OFFICIAL_IMAGE, nothing to build"
    else
      mkdir -p "$WORK"
      build_node
    fi
    ;;
  *) echo "usage: $0 resolve|name|build" >&2; exit 2 ;;
esac
