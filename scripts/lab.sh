#!/usr/bin/env bash
# A lab of N machines on this host, as root: each machine is a network namespace with its own
# address on a bridge (the bridge in a namespace of its own), its own PID, mount and UTS
# namespaces, its own Docker engine (own data root, exec root, socket, pidfile, config file,
# bridge, address pool, cgroup parent; no iptables), the test image, and a Gary daemon inside
# the same namespaces. Powering a machine off takes its daemon, engine and containers down at
# once; a cut cable is silent (no RST). The host's own networking, engine and firewall are never
# touched, and no traffic leaves the lab's own namespaces (a machine has no route past the lab's
# /24, and its containers' bridge is inside it).
#
#   bash scripts/lab.sh up N                 tear down any previous lab, make N machines (1-20)
#   bash scripts/lab.sh down [--all]         tear down what `up` made (--all: every lab id)
#   bash scripts/lab.sh poweroff I           pull machine I's plug: silent, all its processes die
#   bash scripts/lab.sh boot I               power it on: engine, then its daemon if one was started
#   bash scripts/lab.sh cut I | heal I       unplug / plug back machine I's cable (silent)
#   bash scripts/lab.sh partition "1,2|3,4,5"   the switch drops traffic between the groups
#   bash scripts/lab.sh partition none       the switch forwards everything again
#   bash scripts/lab.sh heal                 plug every cable back and end any partition
#   bash scripts/lab.sh exec I CMD...        run CMD on machine I (its namespaces, HOME=/root)
#   bash scripts/lab.sh gary I ARGS...       run this checkout's `gary ARGS` on machine I
#   bash scripts/lab.sh daemon I start [ARGS...] | stop | kill | pid
#                                            `gary daemon ARGS` on machine I (at its defaults
#                                            when no ARGS); `boot` starts it again with the same ARGS
#   bash scripts/lab.sh ip I | sock I | log I   machine I's address, engine socket, daemon log
#   bash scripts/lab.sh status
#
# Environment: GARY_LAB_ID (0-9, default 0) picks one of ten labs that can run side by side
# (subnet 10.213.10<ID>.0/24, names garylab<ID>-*, state in /var/lib/gary-lab/<ID>). A process
# that holds the lab's owner lock (/var/lib/gary-lab/<ID>.owner, as packages/node/src/testing/lab.ts does) keeps
# other callers from tearing it down; it sets GARY_LAB_OWNER=1 for its own calls.
# GARY_LAB_NODE_ARGS: options for the daemons' `node` (e.g. "--cpu-prof --cpu-prof-dir=DIR", a
# profile written when the daemon stops), read when a daemon starts.
# GARY_TEST_*: fault-test hooks with numeric values, passed to a daemon when it starts (it needs
# --test-hooks too).
# GARY_LAB_BIN: the `gary.js` the daemons run (default this repository's packages/node/bin/gary.js;
# another build's, to compare two builds on one lab), read when a daemon starts.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$REPO/scripts/lab.sh"
ID=${GARY_LAB_ID:-0}
[[ $ID =~ ^[0-9]$ ]] || { echo "lab: GARY_LAB_ID must be a digit 0-9, not '$ID'" >&2; exit 2; }
LAB=garylab$ID
SUBNET=10.213.10$ID
ROOT=/var/lib/gary-lab
STATE=$ROOT/$ID
SWITCH=$LAB-sw
MAX=20

say() { echo "lab: $*" >&2; }
die() { say "$*"; exit 1; }

ns() { echo "$LAB-m$1"; }
mdir() { echo "$STATE/m$1"; }
addr() { echo "$SUBNET.$((10 + $1))"; }
# Fixed, as a real NIC's: after a boot the others' ARP caches still hold the right one.
mac() { printf '02:00:0a:d5:%02x:%02x\n' "$ID" "$1"; }
# The machine's end of its cable, seen from the switch (interface names are at most 15 bytes).
port() { echo "gl${ID}m$1"; }

check_index() {
  [[ ${1:-} =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$MAX" ] || die "machine index must be 1-$MAX, not '${1:-}'"
  [ -d "$(mdir "$1")" ] || die "machine $1 is not part of lab $ID (run: bash scripts/lab.sh up N)"
}

ns_exists() { [ -e "/run/netns/$1" ]; }

# The machine's init (PID 1 of its PID namespace), as a host pid; empty when it is off.
init_pid() {
  local name pid
  name=$(ns "$1")
  ns_exists "$name" || return 0
  for pid in $(ip netns pids "$name" 2>/dev/null); do
    if grep -qE '^NSpid:\s+[0-9]+\s+1$' "/proc/$pid/status" 2>/dev/null; then
      echo "$pid"
      return 0
    fi
  done
}

# The machine's Gary daemon (the node process itself), as a host pid; empty when none runs.
daemon_pid() {
  local name pid node
  name=$(ns "$1")
  node=$(command -v node)
  ns_exists "$name" || return 0
  for pid in $(ip netns pids "$name" 2>/dev/null); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$node" ] || continue
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'gary.js daemon'; then
      echo "$pid"
      return 0
    fi
  done
}

engine_answers() {
  [ "$(curl -fsS --max-time 2 --unix-socket "$(mdir "$1")/docker.sock" http://lab/_ping 2>/dev/null)" = OK ]
}

# Owner lock: a process that holds it (test/lab/lab.ts) owns the lab; others may not tear it down.
check_owner() {
  [ "${GARY_LAB_OWNER:-}" = 1 ] && return 0
  mkdir -p "$ROOT"
  if ! flock -n "$ROOT/$ID.owner" true; then
    die "lab $ID is held by a running test or benchmark (lock $ROOT/$ID.owner); pick another GARY_LAB_ID"
  fi
}

# The lab's subnet must be unused on the host, so that nothing of ours could ever reach a real network.
check_subnet_free() {
  if ip -4 addr show | grep -q "inet $SUBNET\." || ip -4 route show | grep -q "^$SUBNET\."; then
    die "the host uses $SUBNET.0/24 already: pick another GARY_LAB_ID"
  fi
}

# ---- the switch ---------------------------------------------------------------------------------

switch_up() {
  ns_exists "$SWITCH" || ip netns add "$SWITCH"
  ip -n "$SWITCH" link set lo up
  if ! ip -n "$SWITCH" link show br0 >/dev/null 2>&1; then
    ip -n "$SWITCH" link add br0 type bridge stp_state 0 forward_delay 0
  fi
  ip -n "$SWITCH" link set br0 up
}

switch_down() {
  ns_exists "$SWITCH" && ip netns del "$SWITCH"
  return 0
}

# ---- machines -----------------------------------------------------------------------------------

# Cgroup hierarchies as the host mounts them: `ip netns exec` remounts /sys, which drops them.
# One line each: type, options, name under /sys/fs/cgroup ("." for a cgroup2-only host's root).
cgroup_mounts() {
  awk '$5 ~ "^/sys/fs/cgroup(/|$)" { split($0, halves, " - "); split(halves[2], f, " ");
       if (f[1] !~ /^cgroup2?$/) next;
       n = split($5, p, "/"); print f[1], f[3], ($5 == "/sys/fs/cgroup" ? "." : p[n]) }' /proc/self/mountinfo
}

# Plugs a new machine I into the switch and starts its init, which starts its engine.
power_on() {
  local i=$1 name dir pid
  name=$(ns "$i")
  dir=$(mdir "$i")
  mkdir -p "$dir/docker" "$dir/etc-docker" "$dir/root" "$dir/tmp"
  [ -s "$dir/daemon.json" ] || echo '{}' >"$dir/daemon.json"
  cgroup_mounts >"$dir/cgroups"
  ip netns add "$name"
  ip link add "$(port "$i")" netns "$SWITCH" type veth peer name eth0 netns "$name" address "$(mac "$i")"
  ip -n "$name" link set lo up
  ip -n "$name" addr add "$(addr "$i")/24" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$SWITCH" link set "$(port "$i")" master br0 up
  # The machine's init is tini (it reaps orphans); killing it kills everything in the machine.
  setsid ip netns exec "$name" unshare --pid --fork --kill-child --mount-proc --uts -- \
    tini -s -- bash "$SELF" _init "$i" </dev/null >"$dir/init.log" 2>&1 9>&- &
  for _ in $(seq 1 100); do
    pid=$(init_pid "$i")
    [ -n "$pid" ] && break
    sleep 0.05
  done
  [ -n "$pid" ] || die "machine $i: its init did not start; $dir/init.log says: $(tail -n 5 "$dir/init.log")"
}

wait_engine() {
  local i=$1 dir
  dir=$(mdir "$i")
  for _ in $(seq 1 300); do
    engine_answers "$i" && return 0
    [ -n "$(init_pid "$i")" ] || break
    sleep 0.1
  done
  say "machine $i: its engine did not answer; the end of $dir/init.log:"
  tail -n 20 "$dir/init.log" >&2 || true
  return 1
}

# Everything of machine I dies at once, silently: the cable goes first, so nothing the dying
# kernel sockets send (FIN, RST) reaches the others; then the machine's namespace goes, and with
# it every socket it held.
power_off() {
  local i=$1 name pids
  name=$(ns "$i")
  if ns_exists "$SWITCH"; then
    ip -n "$SWITCH" link set "$(port "$i")" down 2>/dev/null || true
  fi
  if ns_exists "$name"; then
    for _ in $(seq 1 100); do
      pids=$(ip netns pids "$name" 2>/dev/null || true)
      [ -z "$pids" ] && break
      # Only processes in this machine's network namespace: all of them are the lab's own.
      kill -9 $pids 2>/dev/null || true
      sleep 0.05
    done
    [ -z "$pids" ] || die "machine $i: processes $pids did not die"
  fi
  if ns_exists "$SWITCH"; then
    ip -n "$SWITCH" link del "$(port "$i")" 2>/dev/null || true
  fi
  if ns_exists "$name"; then ip netns del "$name"; fi
  remove_cgroups "$i"
}

# A SIGKILLed engine leaves its containers' cgroups behind, empty, under the machine's parent.
remove_cgroups() {
  local parent dir
  for parent in /sys/fs/cgroup/*/"$(ns "$1")"; do
    [ -d "$parent" ] || continue
    for dir in $(find "$parent" -depth -type d 2>/dev/null); do rmdir "$dir" 2>/dev/null || true; done
  done
}

# PID 1's child on machine I (inside every namespace of the machine): mounts what the machine's
# engine needs of its own, starts the engine, then waits as the machine's service manager.
machine_init() {
  local i=$1 dir type opts name
  dir=$(mdir "$i")
  hostname "m$i"
  grep -q ' \.$' "$dir/cgroups" || mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
  while read -r type opts name; do
    mkdir -p "/sys/fs/cgroup/$name"
    mount -t "$type" -o "$opts" "$type" "/sys/fs/cgroup/$name"
  done <"$dir/cgroups"
  # Each machine its own /run (engine sockets, containerd, netns handles), /etc/docker (the
  # engine's identity), /root (Gary's default data dir) and /tmp.
  mount -t tmpfs -o mode=755 tmpfs /run
  mount --bind "$dir/etc-docker" /etc/docker
  mount --bind "$dir/root" /root
  # A checkout under /tmp stays at its path inside the machine: bound into the machine's /tmp
  # (this mount namespace's alone: on the host the directory stays empty, and teardown removes it).
  case "$REPO/" in
    /tmp/*)
      mkdir -p "$dir/tmp${REPO#/tmp}"
      mount --bind "$REPO" "$dir/tmp${REPO#/tmp}"
      ;;
  esac
  mount --rbind "$dir/tmp" /tmp
  chmod 1777 /tmp
  dockerd \
    --data-root "$dir/docker" \
    --exec-root /run/docker \
    --pidfile /run/docker.pid \
    --host unix:///run/docker.sock \
    --host "unix://$dir/docker.sock" \
    --config-file "$dir/daemon.json" \
    --bip 172.17.0.1/16 \
    --default-address-pool base=172.18.0.0/15,size=24 \
    --iptables=false \
    --ip-masq=false \
    --cgroup-parent "/$(ns "$i")" \
    --log-level warn &
  while true; do wait || true; sleep 3600 & wait $! || true; done
}

daemon_start() {
  local i=$1 dir init
  shift
  dir=$(mdir "$i")
  init=$(init_pid "$i")
  [ -n "$init" ] || die "machine $i is powered off"
  [ -z "$(daemon_pid "$i")" ] || die "machine $i: a daemon runs already (pid $(daemon_pid "$i"))"
  # Remembered for `boot`, as a service manager would.
  printf '%s\0' "$@" >"$dir/daemon.args"
  # The fault-test hooks a test sets (GARY_TEST_*, with --test-hooks) reach the daemon; nothing else.
  # shellcheck disable=SC2046
  setsid nsenter --target "$init" --net --pid --mount --uts --wd=/root -- \
    env -i PATH="$PATH" HOME=/root $(env | grep -E '^GARY_TEST_[A-Z_]+=[0-9]+$' || true) node ${GARY_LAB_NODE_ARGS:-} "${GARY_LAB_BIN:-$REPO/packages/node/bin/gary.js}" daemon "$@" \
    </dev/null >>"$dir/gary.log" 2>&1 9>&- &
  for _ in $(seq 1 100); do
    [ -n "$(daemon_pid "$i")" ] && return 0
    sleep 0.05
  done
  die "machine $i: the daemon did not start; the end of $dir/gary.log: $(tail -n 5 "$dir/gary.log")"
}

daemon_signal() {
  local i=$1 signal=$2 pid
  pid=$(daemon_pid "$i")
  [ -n "$pid" ] || return 0
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    [ -d "/proc/$pid" ] || return 0
    sleep 0.05
  done
  say "machine $i: the daemon (pid $pid) did not exit on SIG$signal; killing it"
  kill -9 "$pid" 2>/dev/null || true
}

machine_exec() {
  local i=$1 init
  shift
  init=$(init_pid "$i")
  [ -n "$init" ] || die "machine $i is powered off"
  exec nsenter --target "$init" --net --pid --mount --uts --wd=/root -- \
    env -i PATH="$PATH" HOME=/root "$@"
}

load_image() {
  DOCKER_HOST="unix://$(mdir "$1")/docker.sock" node "$REPO/scripts/build-test-image.mjs" 2>&1 |
    sed "s/^/m$1: /" >&2
  return "${PIPESTATUS[0]}"
}

# ---- the switch's rules: a partition ------------------------------------------------------------

partition() {
  local spec=$1 groups group a b ga gb rules
  ns_exists "$SWITCH" || die "no lab $ID is up"
  ip netns exec "$SWITCH" nft delete table bridge lab 2>/dev/null || true
  rm -f "$STATE/partition"
  [ "$spec" = none ] && return 0
  [[ $spec =~ ^[0-9]+(,[0-9]+)*(\|[0-9]+(,[0-9]+)*)+$ ]] || die "partition: '$spec' is not like 1,2|3,4,5"
  IFS='|' read -ra groups <<<"$spec"
  rules="add table bridge lab
add chain bridge lab forward { type filter hook forward priority 0; policy accept; }"
  for ga in "${!groups[@]}"; do
    for gb in "${!groups[@]}"; do
      [ "$ga" = "$gb" ] && continue
      for a in ${groups[$ga]//,/ }; do
        check_index "$a"
        for b in ${groups[$gb]//,/ }; do
          rules+=$'\n'"add rule bridge lab forward ether saddr $(mac "$a") ether daddr $(mac "$b") drop"
        done
      done
    done
  done
  ip netns exec "$SWITCH" nft -f - <<<"$rules"
  echo "$spec" >"$STATE/partition"
}

# ---- commands -----------------------------------------------------------------------------------

machines() {
  local dir
  for dir in "$STATE"/m*; do
    [ -d "$dir" ] && echo "${dir##*/m}"
  done | sort -n
}

teardown() {
  local i
  for i in $(machines); do power_off "$i"; done
  # A machine whose state dir is gone (a crash mid-`up`) may still hold a namespace.
  for i in $(seq 1 "$MAX"); do
    if ns_exists "$(ns "$i")"; then power_off "$i"; fi
  done
  switch_down
  rm -rf "$STATE"
}

status() {
  local i state
  if ! ns_exists "$SWITCH"; then
    echo "lab $ID: down"
    return 0
  fi
  echo "lab $ID: subnet $SUBNET.0/24, state in $STATE"
  printf '%-8s %-14s %-6s %-6s %-8s %s\n' MACHINE ADDRESS POWER CABLE ENGINE DAEMON
  for i in $(machines); do
    state=$(ip -n "$SWITCH" -br link show "$(port "$i")" 2>/dev/null | awk '{print $2}' || true)
    printf '%-8s %-14s %-6s %-6s %-8s %s\n' "m$i" "$(addr "$i")" \
      "$([ -n "$(init_pid "$i")" ] && echo on || echo off)" \
      "$([ "$state" = DOWN ] && echo cut || { [ -n "$state" ] && echo ok || echo -; })" \
      "$(engine_answers "$i" && echo up || echo -)" \
      "$(daemon_pid "$i")"
  done
  if ip netns exec "$SWITCH" nft list table bridge lab >/dev/null 2>&1; then
    echo "partition: $(cat "$STATE/partition" 2>/dev/null)"
  fi
}

locked() {
  mkdir -p "$ROOT"
  exec 9>"$ROOT/$ID.lock"
  flock 9
}

need_root() { [ "$(id -u)" = 0 ] || die "needs root (network, PID and mount namespaces)"; }

cmd=${1:-}
shift || true
case "$cmd" in
  _init)
    machine_init "$1"
    ;;
  up)
    need_root
    n=${1:-}
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$MAX" ] || die "up takes a machine count 1-$MAX"
    check_owner
    locked
    for tool in dockerd tini nsenter unshare nft curl; do
      command -v "$tool" >/dev/null || die "$tool is missing (bash scripts/ensure-docker.sh installs what the lab needs)"
    done
    [ -f "$REPO/packages/node/dist/cli.js" ] || die "build first: npm run build"
    teardown
    check_subnet_free
    mkdir -p "$STATE"
    switch_up
    for i in $(seq 1 "$n"); do mkdir -p "$(mdir "$i")"; done
    for i in $(seq 1 "$n"); do power_on "$i"; done
    failed=0
    for i in $(seq 1 "$n"); do wait_engine "$i" || failed=1; done
    [ "$failed" = 0 ] || { teardown; die "the lab did not come up"; }
    pids=()
    for i in $(seq 1 "$n"); do
      load_image "$i" &
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [ "$failed" = 0 ] || { teardown; die "the test image did not load"; }
    status
    ;;
  down)
    need_root
    if [ "${1:-}" = --all ]; then
      for id in 0 1 2 3 4 5 6 7 8 9; do
        if [ -d "$ROOT/$id" ] || [ -e "/run/netns/garylab$id-sw" ]; then GARY_LAB_ID=$id bash "$SELF" down || true; fi
      done
      exit 0
    fi
    check_owner
    locked
    teardown
    say "lab $ID is down"
    ;;
  poweroff)
    need_root
    check_index "${1:-}"
    locked
    power_off "$1"
    ;;
  boot)
    need_root
    check_index "${1:-}"
    locked
    [ -z "$(init_pid "$1")" ] || die "machine $1 is on already"
    power_off "$1"
    power_on "$1"
    wait_engine "$1" || die "machine $1 did not boot"
    if [ -e "$(mdir "$1")/daemon.args" ]; then
      mapfile -d '' args <"$(mdir "$1")/daemon.args"
      daemon_start "$1" "${args[@]}"
    fi
    ;;
  cut | heal)
    need_root
    if [ "$cmd" = heal ] && [ -z "${1:-}" ]; then
      locked
      for i in $(machines); do ip -n "$SWITCH" link set "$(port "$i")" up 2>/dev/null || true; done
      partition none
      exit 0
    fi
    check_index "${1:-}"
    locked
    ip -n "$SWITCH" link set "$(port "$1")" "$([ "$cmd" = cut ] && echo down || echo up)"
    ;;
  partition)
    need_root
    [ -n "${1:-}" ] || die 'partition takes groups like "1,2|3,4,5", or none'
    locked
    partition "$1"
    ;;
  exec)
    need_root
    check_index "${1:-}"
    i=$1
    shift
    [ $# -gt 0 ] || die "exec takes a command"
    machine_exec "$i" "$@"
    ;;
  gary)
    need_root
    check_index "${1:-}"
    i=$1
    shift
    machine_exec "$i" node "$REPO/packages/node/bin/gary.js" "$@"
    ;;
  daemon)
    need_root
    check_index "${1:-}"
    i=$1
    action=${2:-}
    shift 2 || true
    case "$action" in
      start) locked; daemon_start "$i" "$@" ;;
      stop) daemon_signal "$i" TERM ;;
      kill) daemon_signal "$i" KILL ;;
      pid) daemon_pid "$i" ;;
      *) die "daemon I start [ARGS...] | stop | kill | pid" ;;
    esac
    ;;
  ip)
    check_index "${1:-}"
    addr "$1"
    ;;
  sock)
    check_index "${1:-}"
    echo "$(mdir "$1")/docker.sock"
    ;;
  log)
    check_index "${1:-}"
    echo "$(mdir "$1")/gary.log"
    ;;
  status)
    need_root
    status
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
