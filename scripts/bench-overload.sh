#!/usr/bin/env bash
# Small packets at rising offered loads: what reachlab delivers against the kernel's own
# forwarding, measured in the same run on this machine.
#
#   scripts/bench-overload.sh [ROUNDS]      (as root; default 2 rounds)
#   REACHLAB=/path/to/reachlab scripts/bench-overload.sh   (another build)
#   RATES="25000 50000 ..." BENCH_SECS=5 UP_ARGS="--workers 2" scripts/bench-overload.sh
#
# The same two systems as bench-throughput.sh (host A - veth - router namespace - veth -
# host B; and topologies/bench-unshaped.toml, SF <-> London over Global Reach, unshaped, no
# delay). For each offered rate (64-byte UDP datagrams per second, 25,000 to 300,000; 0: as
# fast as iperf3 can), alternating kernel / reachlab each round, iperf3 sends for BENCH_SECS
# seconds and reports what arrived and what was lost. Two answers:
#   - the curve: delivered against offered. Overload that degrades stays near its peak as the
#     offered rate grows; one that collapses falls away from it.
#   - the highest offered rate each delivers with under 5% lost (RFC 2544's throughput, with
#     5% for 0%), and their ratio.
# Prints the table and writes it as JSON under benches/results/. Cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
SECS=${BENCH_SECS:-5}
RATES=${RATES:-"25000 50000 100000 150000 175000 200000 250000 300000 0"}
LOSS_OK=5

. scripts/lib.sh
require_root bench-overload.sh
require_rust
scripts/install-deps.sh
if [ -z "${REACHLAB:-}" ]; then
  as_builder cargo build --release --quiet
fi
R=${REACHLAB:-$PWD/target/release/reachlab}

TAG="rlo$$"
KA="$TAG-a"; KR="$TAG-r"; KB="$TAG-b"
LAB="overload$$"
WORK=$(mktemp -d)
cleanup() {
  $R down "$LAB" >/dev/null 2>&1 || true
  for ns in "$KA" "$KR" "$KB"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# (1) the kernel
kernel_path "$TAG"

# (2) reachlab
sed "s/^name = \"bench\"/name = \"$LAB\"/" topologies/bench-unshaped.toml > "$WORK/bench.toml"
# shellcheck disable=SC2086
$R up "$WORK/bench.toml" --detach ${UP_ARGS:-} >/dev/null
WORKERS=$($R status -o json | jq -r --arg l "$LAB" '.[] | select(.lab == $l) | .workers // "?"')

k_exec() { local side=$1; shift; ip netns exec "$([ "$side" = a ] && echo "$KA" || echo "$KB")" "$@"; }
r_exec() { local side=$1; shift; $R exec --lab "$LAB" "$([ "$side" = a ] && echo sf || echo london)" -- "$@"; }

# One measurement at `rate` datagrams/s: prints "delivered_per_s loss_pct".
measure() {
  local sys=$1 rate=$2 ex dst srv
  if [ "$sys" = kernel ]; then ex=k_exec; dst=10.99.2.1; else ex=r_exec; dst=10.0.2.1; fi
  # (ip netns exec and reachlab exec both exec the command: $! is iperf3's PID.)
  $ex b iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
  srv=$!
  for _ in $(seq 50); do $ex b ss -Hltn 'sport = :5301' | grep -q . && break; sleep 0.1; done
  $ex a iperf3 -c $dst -p 5301 -t "$SECS" -u -l 64 -b $((rate * 64 * 8)) -J > "$WORK/out.json" || true
  kill $srv 2>/dev/null || true
  wait $srv 2>/dev/null || true
  jq -r '.end.sum as $s | "\(($s.packets - $s.lost_packets) / $s.seconds) \($s.lost_percent)"' "$WORK/out.json"
}

declare -A DEL LOSS
for round in $(seq "$ROUNDS"); do
  for rate in $RATES; do
    for sys in kernel reachlab; do
      read -r d l < <(measure $sys "$rate")
      DEL[$sys,$rate]+="$d "
      LOSS[$sys,$rate]+="$l "
      printf 'round %d  %-8s offered %7s/s  delivered %9.0f/s  lost %6.2f%%\n' \
        "$round" "$sys" "$([ "$rate" = 0 ] && echo max || echo "$rate")" "$d" "$l" >&2
    done
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
printf '\n64-byte UDP, median of %d rounds, %d s each; reachlab: %s worker(s)\n' "$ROUNDS" "$SECS" "$WORKERS"
printf '%-16s %16s %10s %16s %10s\n' "offered (/s)" "kernel delivered" "lost %" "reachlab deliv." "lost %"
declare -A BEST=([kernel]=0 [reachlab]=0)
rows=()
for rate in $RATES; do
  kd=$(echo "${DEL[kernel,$rate]}" | median); kl=$(echo "${LOSS[kernel,$rate]}" | median)
  rd=$(echo "${DEL[reachlab,$rate]}" | median); rl=$(echo "${LOSS[reachlab,$rate]}" | median)
  label=$([ "$rate" = 0 ] && echo "as fast as can" || echo "$rate")
  printf '%-16s %16.0f %10.2f %16.0f %10.2f\n' "$label" "$kd" "$kl" "$rd" "$rl"
  for sys in kernel reachlab; do
    if [ "$sys" = kernel ]; then d=$kd; l=$kl; else d=$rd; l=$rl; fi
    # The highest rate delivered with under LOSS_OK% lost (what arrived, at a fixed offer).
    if awk -v l="$l" -v ok="$LOSS_OK" 'BEGIN { exit !(l < ok) }' && \
       awk -v d="$d" -v b="${BEST[$sys]}" 'BEGIN { exit !(d > b) }'; then
      BEST[$sys]=$d
    fi
  done
  rows+=("{\"offered\": $rate, \"kernel\": {\"delivered\": $kd, \"lost_pct\": $kl, \"samples\": [$(echo ${DEL[kernel,$rate]} | tr ' ' ',')]}, \"reachlab\": {\"delivered\": $rd, \"lost_pct\": $rl, \"samples\": [$(echo ${DEL[reachlab,$rate]} | tr ' ' ',')]}}")
done
ratio=$(awk -v a="${BEST[reachlab]}" -v b="${BEST[kernel]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "null" }')
printf '\nhighest delivered with < %d%% lost: kernel %.0f/s, reachlab %.0f/s (%sx)\n' \
  "$LOSS_OK" "${BEST[kernel]}" "${BEST[reachlab]}" "$ratio"

mkdir -p benches/results
out="benches/results/overload-$(date -u +%Y%m%dT%H%M%SZ).json"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%FT%TZ)\", \"rounds\": $ROUNDS, \"seconds\": $SECS, \"cores\": $(nproc),"
  echo "  \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"binary\": \"${REACHLAB:-target/release/reachlab}\", \"workers\": \"$WORKERS\","
  echo "  \"rates\": [$(IFS=,; echo "${rows[*]}")],"
  echo "  \"under_${LOSS_OK}pct_lost\": {\"kernel\": ${BEST[kernel]}, \"reachlab\": ${BEST[reachlab]}, \"ratio\": $ratio}"
  echo "}"
} > "$out"
jq . "$out" >/dev/null && echo "wrote $out"
