#!/usr/bin/env bash
# Makes sure a Docker engine answers on /var/run/docker.sock, and that what the tests and the
# benchmarks need is installed: busybox-static (the test image), curl, iproute2, zsh and fish (the
# shell completion tests), for the lab (scripts/lab.sh) tini and nftables, and wrk (the load
# generator of bench:mesh). Idempotent: it only does what is missing, and needs root only then.
#   bash scripts/ensure-docker.sh
# Environment (optional):
#   GARY_DOCKERD_LOG    dockerd's log file (default /var/log/gary-dockerd.log)
#   GARY_DOCKERD_WAIT   seconds to wait for the engine to answer (default 60)
set -euo pipefail

SOCKET=/var/run/docker.sock
LOG=${GARY_DOCKERD_LOG:-/var/log/gary-dockerd.log}
WAIT=${GARY_DOCKERD_WAIT:-60}

say() { echo "ensure-docker: $*" >&2; }

engine_answers() {
  [ -S "$SOCKET" ] || return 1
  if command -v curl >/dev/null 2>&1; then
    [ "$(curl -fsS --max-time 5 --unix-socket "$SOCKET" http://localhost/_ping 2>/dev/null)" = OK ]
  elif command -v docker >/dev/null 2>&1; then
    docker -H "unix://$SOCKET" info >/dev/null 2>&1
  else
    return 1
  fi
}

need_root() {
  if [ "$(id -u)" != 0 ]; then
    say "needs root to $1: rerun as root (sudo bash scripts/ensure-docker.sh)"
    exit 1
  fi
}

# Packages first: the test image needs a static /bin/busybox whether or not an engine runs.
# (Debian's plain `busybox` package is dynamically linked and would not run in the image.)
missing=()
dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v tini >/dev/null 2>&1 || missing+=(tini)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v zsh >/dev/null 2>&1 || missing+=(zsh)
command -v fish >/dev/null 2>&1 || missing+=(fish)
if ! command -v dockerd >/dev/null 2>&1 && ! engine_answers; then missing+=(docker.io); fi

if [ "${#missing[@]}" -gt 0 ]; then
  need_root "install ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 || { say "no apt-get here: install ${missing[*]} by hand"; exit 1; }
  say "installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

if engine_answers; then
  say "a Docker engine answers at $SOCKET"
  exit 0
fi

if [ -S "$SOCKET" ] && [ ! -w "$SOCKET" ]; then
  say "$SOCKET exists but user $(id -un) may not use it: run as root, or join the docker group"
  exit 1
fi

# A dockerd that is still starting (say, from a concurrent run of this script) only needs waiting for.
if [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  pid=$(cat /var/run/docker.pid)
  say "dockerd (pid $pid) is starting; waiting for it"
else
  need_root "start dockerd"
  mkdir -p "$(dirname "$LOG")"
  say "starting dockerd (log: $LOG)"
  # setsid + nohup: the engine outlives this script, its shell and its terminal.
  setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
  pid=$!
fi

for _ in $(seq 1 $((WAIT * 5))); do
  if engine_answers; then
    say "a Docker engine answers at $SOCKET"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    say "dockerd exited before it answered; the end of $LOG:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  sleep 0.2
done

say "dockerd did not answer at $SOCKET within ${WAIT} s; the end of $LOG:"
tail -n 30 "$LOG" >&2 || true
exit 1
