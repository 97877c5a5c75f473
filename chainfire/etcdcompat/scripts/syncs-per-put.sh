#!/usr/bin/env bash
# syncs-per-put.sh counts the fsync-family system calls each member makes
# per committed put, for a 3-member etcd cluster and a 3-member Chainfire
# cluster on this machine: N sequential `etcdctl put`s (default 300),
# every member traced with `strace -c`. On one disk shared by all members,
# a 1-client put costs about as many fdatasyncs as the members make
# together, so this is the figure behind the 1-client put rows of
# `make bench-chainfire` (docs/bench-chainfire.md).
#
# Usage (from the repository root): chainfire/etcdcompat/scripts/syncs-per-put.sh [N]
# Needs strace. Builds etcd, etcdctl (the pinned versions) and Chainfire
# into a temporary directory unless ETCD_BIN, ETCDCTL_BIN, CHAINFIRE_BIN
# are set.
set -euo pipefail
n=${1:-300}
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/syncs-per-put.XXXXXX)
trap 'pkill -P $$ || true; rm -rf "$work"' EXIT
command -v strace >/dev/null || { echo "syncs-per-put: strace not found (apt-get install strace)" >&2; exit 1; }

if [[ -z ${ETCD_BIN:-} || -z ${ETCDCTL_BIN:-} ]]; then
  (cd "$root/chainfire/etcdcompat" && GOWORK=off go build -o "$work/etcd" go.etcd.io/etcd/server/v3 &&
    GOWORK=off go build -o "$work/etcdctl" go.etcd.io/etcd/etcdctl/v3)
fi
if [[ -z ${CHAINFIRE_BIN:-} ]]; then
  (cd "$root" && CGO_ENABLED=0 go build -o "$work/chainfire" ./chainfire/cmd/chainfire)
fi
etcd=${ETCD_BIN:-$work/etcd}
etcdctl=${ETCDCTL_BIN:-$work/etcdctl}
chainfire=${CHAINFIRE_BIN:-$work/chainfire}
unset ETCDCTL_BIN # etcdctl warns about every ETCDCTL_* variable it does not know

# measure IMPL BIN BASEPORT starts the cluster, traces it during n puts and
# prints fsync-family calls per put for each member.
measure() {
  local impl=$1 bin=$2 base=$3 cluster="" pids=() tracers=() i
  for i in 1 2 3; do cluster+="${cluster:+,}m$i=http://127.0.0.1:$((base + 10 * i + 1))"; done
  for i in 1 2 3; do
    local c=$((base + 10 * i)) p=$((base + 10 * i + 1))
    "$bin" --name "m$i" --data-dir "$work/$impl/m$i" \
      --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
      --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "t-$impl" \
      >"$work/$impl-m$i.log" 2>&1 &
    pids+=($!)
  done
  local ep="127.0.0.1:$((base + 10))"
  for _ in $(seq 100); do "$etcdctl" --endpoints="$ep" put warm x >/dev/null 2>&1 && break; sleep 0.2; done
  for i in 0 1 2; do
    strace -f -c -e trace=fsync,fdatasync,sync_file_range -p "${pids[$i]}" -o "$work/$impl-strace$i" 2>/dev/null &
    tracers+=($!)
  done
  sleep 1
  for k in $(seq "$n"); do "$etcdctl" --endpoints="$ep" put "k$k" "$(printf 'v%.0s' {1..256})" >/dev/null; done
  sleep 0.5
  kill -INT "${tracers[@]}"; wait "${tracers[@]}" 2>/dev/null || true
  for i in 0 1 2; do
    awk -v impl="$impl" -v m=$((i + 1)) -v n="$n" '$NF ~ /^(fsync|fdatasync|sync_file_range)$/ {
      printf "%-10s member %d  %-15s %6d calls  %.2f per put\n", impl, m, $NF, $4, $4 / n }' "$work/$impl-strace$i"
  done
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
}

measure etcd "$etcd" 41000
measure chainfire "$chainfire" 42000
