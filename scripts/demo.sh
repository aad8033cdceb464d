#!/usr/bin/env bash
# Sets up this machine and starts a local 3-node Gary cluster on loopback, closed by a cluster key.
#   bash scripts/demo.sh          set up (idempotent) and start a fresh cluster (replacing a running one)
#   bash scripts/demo.sh stop     stop it (its containers keep running, to be re-adopted)
#   bash scripts/demo.sh stop --rm   stop it and remove its containers
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=.gary/demo
gary() { node packages/node/bin/gary.js "$@"; }

stop_cluster() {
  for pidfile in "$DEMO"/n*.pid; do
    [ -e "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

remove_containers() {
  command -v docker >/dev/null || return 0
  # Each node's id is in its log's `started` line; its containers carry it as a label.
  for log in "$DEMO"/n*.log; do
    [ -e "$log" ] || continue
    node=$({ grep -m 1 '"msg":"started"' "$log" || true; } | grep -o '"node":"[^"]*"' | head -n 1 | cut -d'"' -f4 || true)
    [ -n "$node" ] || continue
    ids=$(docker ps -aq --filter "label=gary.node=$node")
    [ -z "$ids" ] || docker rm -f $ids >/dev/null
  done
}

if [ "${1:-}" = stop ]; then
  stop_cluster
  if [ "${2:-}" = --rm ]; then
    remove_containers
    echo "demo cluster stopped, its containers removed"
  else
    echo "demo cluster stopped"
  fi
  exit 0
fi

runtime=docker
if [ "$(id -u)" = 0 ]; then
  bash scripts/ensure-docker.sh
else
  echo "not root: skipping the Docker engine setup; the demo runs with --runtime fake" >&2
  runtime=fake
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent
[ "$runtime" = docker ] && node scripts/build-test-image.mjs

mkdir -p "$DEMO"
# A fresh cluster each time: the previous one's daemons, containers and data go.
stop_cluster
remove_containers
rm -rf "$DEMO"/n1 "$DEMO"/n2 "$DEMO"/n3
[ -s "$DEMO/cluster.key" ] || gary keygen > "$DEMO/cluster.key"

start_node() { # index, p2p port, api port, label, join...
  local i=$1 port=$2 api=$3 label=$4
  shift 4
  local joins=()
  for addr in "$@"; do joins+=(--join "$addr"); done
  GARY_LOG_FORMAT=json nohup node packages/node/bin/gary.js daemon \
    --data-dir "$DEMO/n$i" --listen "/ip4/127.0.0.1/tcp/$port" --api "127.0.0.1:$api" \
    --cluster-key "$DEMO/cluster.key" --runtime "$runtime" --label "$label" "${joins[@]}" \
    > "$DEMO/n$i.log" 2>&1 &
  echo $! > "$DEMO/n$i.pid"
}

start_node 1 4279 7947 zone=a
# `gary id` prints first where other machines reach node 1; here every node listens on loopback.
for _ in $(seq 1 100); do
  seed=$(gary id --api 127.0.0.1:7947 2>/dev/null | head -n 1) && [ -n "$seed" ] && break
  sleep 0.1
done
[ -n "${seed:-}" ] || { echo "node 1 did not start; its log:" >&2; cat "$DEMO/n1.log" >&2; exit 1; }
start_node 2 4289 7957 zone=b "$seed"
start_node 3 4299 7967 zone=c "$seed"

for _ in $(seq 1 100); do
  alive=$(gary nodes --api 127.0.0.1:7947 --json 2>/dev/null | grep -c '"state": "alive"' || true)
  [ "$alive" = 3 ] && break
  sleep 0.1
done
gary nodes --api 127.0.0.1:7947
[ "${alive:-0}" = 3 ] || { echo "the cluster did not form; logs are in $DEMO/" >&2; exit 1; }

# Declare the example workloads on node 1; node 3 holds them a moment later.
echo
gary apply -f examples/web.yaml --api 127.0.0.1:7947
gary apply -f examples/worker.yaml --api 127.0.0.1:7947
for _ in $(seq 1 50); do
  [ "$(gary get --api 127.0.0.1:7967 --json | grep -c '"name"')" = 3 ] && break
  sleep 0.1
done
echo
echo "node 3 holds the declarations applied on node 1:"
gary get --api 127.0.0.1:7967

# Each node claims its share of the slots by itself; wait until all six run and are ready (web 3,
# worker 2, worker-scheduler 1), then ask node 2 where they are.
for _ in $(seq 1 150); do
  [ "$(gary ps --api 127.0.0.1:7957 --json | grep -c '"ready": true')" = 6 ] && break
  sleep 0.1
done
echo
echo "where every slot runs, as node 2 sees it:"
gary ps --api 127.0.0.1:7957

cat <<INFO

A 3-node Gary cluster runs on loopback (runtime: $runtime). Logs: $DEMO/n1.log .. n3.log
Each node answers for the whole cluster:
  npx gary ps    --api 127.0.0.1:7947
  npx gary logs web --api 127.0.0.1:7967
  npx gary nodes --api 127.0.0.1:7957
  npx gary get   --api 127.0.0.1:7967
  npx gary inspect web --api 127.0.0.1:7957
  npx gary id    --api 127.0.0.1:7967
Kill one (kill -9 \$(cat $DEMO/n3.pid)) and watch the others mark it dead and take its slots;
stop all with (--rm also removes the demo's containers):
  bash scripts/demo.sh stop --rm
INFO
