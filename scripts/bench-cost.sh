#!/usr/bin/env bash
# What forwarding one packet costs reachlab, steadier than a flood's rate on a small machine:
# the forwarding worker's CPU time per packet at a fixed, lossless rate over the seed's real
# latency (the delay lines hold 141 ms of packets).
#
#   scripts/bench-cost.sh [ROUNDS]                       (as root; default 3 rounds)
#   REACHLAB=/path/A REACHLAB_B=/path/B scripts/bench-cost.sh 6   (two builds, alternating)
#
# Each round: topologies/global-reach.toml with 10 Gbit/s circuits (so no shaper drops),
# iperf3 SF -> London, 64-byte UDP at 50,000 packets/s for 8 s (RATE, SECS); the utime +
# stime of thread reachlab-fwd0 over the run, divided by the datagrams iperf3 sent. Prints
# each round and the medians; writes them as JSON under benches/results/. Cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_root bench-cost.sh
ROUNDS=${1:-3}
SECS=${SECS:-8}
RATE=${RATE:-50000}
if [ -z "${REACHLAB:-}" ]; then
  require_rust
  scripts/install-deps.sh
  as_builder cargo build --release --quiet
fi
A=${REACHLAB:-$PWD/target/release/reachlab}
B=${REACHLAB_B:-}
WORK=$(mktemp -d)
R=""
LAB="cost$$"
cleanup() { [ -n "$R" ] && $R down "$LAB" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
awk -v n="$LAB" '/^name = "global-reach"/ { print "name = \"" n "\""; next }
  /^bandwidth = / { print "bandwidth = \"10Gbps\""; next } { print }' \
  topologies/global-reach.toml > "$WORK/lab.toml"
hz=$(getconf CLK_TCK)

# One round with build $1: prints "packets us_per_packet".
round() {
  local R=$1
  $R up "$WORK/lab.toml" --detach -q >/dev/null
  local pid tid t0 t1
  pid=$($R status -o json | jq -r --arg l "$LAB" '.[] | select(.lab == $l) | .pid')
  for t in /proc/"$pid"/task/*; do
    [ "$(cat "$t/comm")" = reachlab-fwd0 ] && tid=${t##*/}
  done
  $R exec --lab "$LAB" london -- iperf3 -s -1 -p 5701 >/dev/null 2>&1 &
  local srv=$!
  for _ in $(seq 50); do $R exec --lab "$LAB" london -- ss -Hltn 'sport = :5701' | grep -q . && break; sleep 0.1; done
  sleep 0.5
  t0=$(awk '{print $14 + $15}' "/proc/$pid/task/$tid/stat")
  # 64-byte datagrams: RATE packets/s is RATE * 512 bit/s.
  $R exec --lab "$LAB" sf -- iperf3 -c 10.0.2.1 -p 5701 -u -l 64 -b $((RATE * 512)) -t "$SECS" -J > "$WORK/run.json"
  t1=$(awk '{print $14 + $15}' "/proc/$pid/task/$tid/stat")
  wait $srv 2>/dev/null || true
  $R down "$LAB" >/dev/null
  jq -r --argjson t0 "$t0" --argjson t1 "$t1" --argjson hz "$hz" \
    '"\(.end.sum.packets) \(1e6 * ($t1 - $t0) / $hz / .end.sum.packets)"' "$WORK/run.json"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

: > "$WORK/a"; : > "$WORK/b"
for i in $(seq "$ROUNDS"); do
  R=$A
  read -r n us < <(round "$A")
  R=""
  printf 'round %d  A  %d packets  %.2f us per packet\n' "$i" "$n" "$us"
  echo "$us" >> "$WORK/a"
  if [ -n "$B" ]; then
    R=$B
    read -r n us < <(round "$B")
    R=""
    printf 'round %d  B  %d packets  %.2f us per packet\n' "$i" "$n" "$us"
    echo "$us" >> "$WORK/b"
  fi
done
ma=$(median < "$WORK/a")
echo
printf 'the worker'"'"'s CPU per packet, median of %d rounds: A %.2f us' "$ROUNDS" "$ma"
mb=null
if [ -n "$B" ]; then
  mb=$(median < "$WORK/b")
  printf ', B %.2f us (B/A %.2fx)' "$mb" "$(awk -v a="$ma" -v b="$mb" 'BEGIN{print b / a}')"
fi
echo
mkdir -p benches/results
out=benches/results/cost-$(date -u +%Y%m%dT%H%M%SZ).json
{
  echo "{\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\","
  echo " \"a\": \"$A\", \"b\": \"${B}\", \"rounds\": $ROUNDS, \"rate_pps\": $RATE, \"seconds\": $SECS,"
  echo " \"a_us_per_packet\": [$(paste -sd, "$WORK/a")], \"b_us_per_packet\": [$(paste -sd, "$WORK/b")],"
  echo " \"a_median_us\": $ma, \"b_median_us\": $mb}"
} > "$out"
echo "wrote $out"
