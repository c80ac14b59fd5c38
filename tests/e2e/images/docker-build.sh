#!/usr/bin/env bash
# One image built with Docker's legacy builder, leaving no untagged image behind:
#
#   docker-build.sh IMAGE DOCKERFILE CONTEXT [docker build args...]
#
# The legacy builder (DOCKER_BUILDKIT=0: Debian's Docker 20.10 has no buildx) keeps what each
# rebuild replaces as an untagged image: the image the tag named before, and the last image of every
# stage before the final one. An e2e rebuilds four ~800 MB images, so a machine that runs it a few
# times a day fills its disk, and a full disk shows up much later as a node under DiskPressure with
# pods that never start. Here each earlier stage is built first under its own tag (IMAGE-STAGE), which
# keeps it as the next build's cache under a name, and whatever a tag named before this build is
# removed once nothing names it.
set -euo pipefail

[ $# -ge 3 ] || { echo "usage: docker-build.sh IMAGE DOCKERFILE CONTEXT [docker build args...]" >&2; exit 2; }
image=$1 file=$2 ctx=$3
shift 3
export DOCKER_BUILDKIT=0

# Named stages before the last FROM (an unnamed one cannot be a --target; none of ours is).
stages=$(awk 'toupper($1) == "FROM" { n++; name[n] = (toupper($3) == "AS") ? $4 : "" }
              END { for (i = 1; i < n; i++) if (name[i] != "") print name[i] }' "$file")

id_of() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

tags=()
for stage in $stages; do tags+=("$image-$stage"); done
tags+=("$image")
before=()
for t in "${tags[@]}"; do before+=("$(id_of "$t")"); done

for stage in $stages; do
  docker build --force-rm --file "$file" --target "$stage" --tag "$image-$stage" "$@" "$ctx"
done
docker build --force-rm --file "$file" --tag "$image" "$@" "$ctx"

for i in "${!tags[@]}"; do
  old=${before[$i]}
  [ -n "$old" ] && [ "$old" != "$(id_of "${tags[$i]}")" ] || continue
  # Still tagged elsewhere or the parent of a kept image: docker refuses, and that is right.
  docker rmi "$old" >/dev/null 2>&1 || true
done
