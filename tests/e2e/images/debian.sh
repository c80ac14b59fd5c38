#!/usr/bin/env bash
# local/debian:bookworm, a minimal Debian image made from Debian's own packages with debootstrap,
# for machines that reach Debian's mirror but no image registry. Every locally built image (the
# Python base, the e2e Postgres, the Kubernetes node) starts from it. Skipped when it exists.
set -euo pipefail
IMAGE=${DEBIAN_IMAGE:-local/debian:bookworm}
docker image inspect "$IMAGE" >/dev/null 2>&1 && exit 0
command -v debootstrap >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}
# The mirror apt already uses on this machine (debootstrap's own default may be unreachable).
MIRROR=${DEBIAN_MIRROR:-$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)}
if [ -z "$MIRROR" ]; then
  MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
[ -n "$MIRROR" ] || { echo "debian.sh: no Debian mirror configured for apt; set DEBIAN_MIRROR" >&2; exit 1; }
ROOT=$(mktemp -d /tmp/talent-debian.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >/dev/null
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*
tar -C "$ROOT" -c . | docker import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "built $IMAGE"
