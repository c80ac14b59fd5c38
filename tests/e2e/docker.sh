#!/usr/bin/env bash
# Docker for the image builds and the local cluster: `docker.sh up` installs Debian's docker.io
# when no daemon answers and starts dockerd in the background (there is no systemd on the CI
# machine); `docker.sh down` stops it again, but only if this script started it. A laptop whose
# Docker already runs is left alone by both.
set -euo pipefail
STATE=${TALENT_DOCKER_STATE:-/run/talent-docker}
PIDFILE=$STATE/dockerd.pid
LOG=$STATE/dockerd.log

answers() { timeout 20 docker info >/dev/null 2>&1; }

up() {
  answers && return 0
  if ! command -v dockerd >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "docker.sh: no Docker daemon and not root: install Docker first" >&2; exit 1; }
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  fi
  mkdir -p "$STATE"
  # setsid: the daemon must not die with the make process that started it, only with `down`.
  setsid dockerd --pidfile "$PIDFILE" >"$LOG" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    answers && { echo "dockerd started (pid $(cat "$PIDFILE"))"; return 0; }
    sleep 1
  done
  echo "docker.sh: dockerd did not answer within 60 s; its log:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
}

down() {
  [ -f "$PIDFILE" ] || return 0
  pid=$(cat "$PIDFILE")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  # dockerd's own containerd goes with it; nothing else of ours is left.
  echo "dockerd stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
