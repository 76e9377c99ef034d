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
# seconds and reports what arrived and what was lost; the kernel's counters say where: how
# many datagrams reached host B's interface (what the forwarder passed on) and how many B's
# UDP socket had no room for (the receiving iperf3 did not read in time). Two answers:
#   - the curve: delivered against offered. Overload that degrades stays near its peak as the
#     offered rate grows; one that collapses falls away from it.
#   - the highest offered rate each delivers with under 5% lost (RFC 2544's throughput, with
#     5% for 0%), and their ratio: to the receiving application, and through the forwarder
#     alone (to B's interface).
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
KB0="$TAG-b0"

# (2) reachlab
sed "s/^name = \"bench\"/name = \"$LAB\"/" topologies/bench-unshaped.toml > "$WORK/bench.toml"
# shellcheck disable=SC2086
$R up "$WORK/bench.toml" --detach ${UP_ARGS:-} >/dev/null
WORKERS=$($R status -o json | jq -r --arg l "$LAB" '.[] | select(.lab == $l) | .workers // "?"')

k_exec() { local side=$1; shift; ip netns exec "$([ "$side" = a ] && echo "$KA" || echo "$KB")" "$@"; }
r_exec() { local side=$1; shift; $R exec --lab "$LAB" "$([ "$side" = a ] && echo sf || echo london)" -- "$@"; }

# B's interface's received packets and B's UDP receive-buffer drops: "rx rcvbuf_errors".
b_counts() {
  local ex=$1 dev=$2
  $ex b cat /proc/net/dev /proc/net/snmp | awk -v dev="$dev:" '
    $1 == dev { rx = $3 }
    $1 == "Udp:" && $2 !~ /^[0-9]/ { for (i = 2; i <= NF; i++) col[$i] = i; next }
    $1 == "Udp:" { rcvbuf = $col["RcvbufErrors"] }
    END { print rx + 0, rcvbuf + 0 }'
}

# One measurement at `rate` datagrams/s: prints "delivered_per_s loss_pct arrived_per_s
# passed_pct rcvbuf_pct" (arrived: at B's interface; passed: of those sent; rcvbuf: of those
# sent, dropped at B's full socket).
measure() {
  local sys=$1 rate=$2 ex dst srv dev rx0 rb0 rx1 rb1
  if [ "$sys" = kernel ]; then ex=k_exec; dst=10.99.2.1; dev=$KB0; else ex=r_exec; dst=10.0.2.1; dev=rl-london; fi
  # (ip netns exec and reachlab exec both exec the command: $! is iperf3's PID.)
  $ex b iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
  srv=$!
  for _ in $(seq 50); do $ex b ss -Hltn 'sport = :5301' | grep -q . && break; sleep 0.1; done
  read -r rx0 rb0 < <(b_counts $ex "$dev")
  $ex a iperf3 -c $dst -p 5301 -t "$SECS" -u -l 64 -b $((rate * 64 * 8)) -J > "$WORK/out.json" || true
  kill $srv 2>/dev/null || true
  wait $srv 2>/dev/null || true
  read -r rx1 rb1 < <(b_counts $ex "$dev")
  # (What reached B's interface includes iperf3's few TCP control packets.)
  jq -r --argjson rx $((rx1 - rx0)) --argjson rb $((rb1 - rb0)) '.end.sum as $s |
    "\(($s.packets - $s.lost_packets) / $s.seconds) \($s.lost_percent) \($rx / $s.seconds) \([100, $rx * 100 / $s.packets] | min) \($rb * 100 / $s.packets)"' "$WORK/out.json"
}

declare -A DEL LOSS ARR PASS RCVB
for round in $(seq "$ROUNDS"); do
  for rate in $RATES; do
    for sys in kernel reachlab; do
      read -r d l a p b < <(measure $sys "$rate")
      DEL[$sys,$rate]+="$d "; LOSS[$sys,$rate]+="$l "
      ARR[$sys,$rate]+="$a "; PASS[$sys,$rate]+="$p "; RCVB[$sys,$rate]+="$b "
      printf 'round %d  %-8s offered %7s/s  delivered %9.0f/s  lost %6.2f%%  at B %9.0f/s (%6.2f%%)  B socket full %6.2f%%\n' \
        "$round" "$sys" "$([ "$rate" = 0 ] && echo max || echo "$rate")" "$d" "$l" "$a" "$p" "$b" >&2
    done
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
printf '\n64-byte UDP, median of %d rounds, %d s each; reachlab: %s worker(s)\n' "$ROUNDS" "$SECS" "$WORKERS"
printf '%-15s | %-38s | %-38s\n' "" "kernel" "reachlab"
printf '%-15s | %10s %7s %10s %8s | %10s %7s %10s %8s\n' "offered (/s)" delivered "lost %" "at B (/s)" "B full%" delivered "lost %" "at B (/s)" "B full%"
# The highest rate delivered to iperf3 with under LOSS_OK% lost, and the highest the
# forwarder passed to B's interface with under LOSS_OK% lost on the way.
declare -A BEST=([kernel]=0 [reachlab]=0) FWD=([kernel]=0 [reachlab]=0)
higher() { awk -v ok="$LOSS_OK" -v l="$1" -v d="$2" -v b="$3" 'BEGIN { exit !(l < ok && d > b) }'; }
rows=()
for rate in $RATES; do
  declare -A M=()
  json=()
  for sys in kernel reachlab; do
    for k in DEL LOSS ARR PASS RCVB; do
      declare -n arr=$k
      M[$sys,$k]=$(echo "${arr[$sys,$rate]}" | median)
      unset -n arr
    done
    if higher "${M[$sys,LOSS]}" "${M[$sys,DEL]}" "${BEST[$sys]}"; then BEST[$sys]=${M[$sys,DEL]}; fi
    if higher "$(awk -v p="${M[$sys,PASS]}" 'BEGIN { print 100 - p }')" "${M[$sys,ARR]}" "${FWD[$sys]}"; then
      FWD[$sys]=${M[$sys,ARR]}
    fi
    json+=("\"$sys\": {\"delivered\": ${M[$sys,DEL]}, \"lost_pct\": ${M[$sys,LOSS]}, \"at_b\": ${M[$sys,ARR]}, \"passed_pct\": ${M[$sys,PASS]}, \"b_socket_full_pct\": ${M[$sys,RCVB]}, \"samples\": [$(echo ${DEL[$sys,$rate]} | tr ' ' ',')]}")
  done
  label=$([ "$rate" = 0 ] && echo "as fast as can" || echo "$rate")
  printf '%-15s | %10.0f %7.2f %10.0f %8.2f | %10.0f %7.2f %10.0f %8.2f\n' "$label" \
    "${M[kernel,DEL]}" "${M[kernel,LOSS]}" "${M[kernel,ARR]}" "${M[kernel,RCVB]}" \
    "${M[reachlab,DEL]}" "${M[reachlab,LOSS]}" "${M[reachlab,ARR]}" "${M[reachlab,RCVB]}"
  rows+=("{\"offered\": $rate, $(IFS=,; echo "${json[*]}")}")
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "null" }'; }
ratio_app=$(ratio "${BEST[reachlab]}" "${BEST[kernel]}")
ratio_fwd=$(ratio "${FWD[reachlab]}" "${FWD[kernel]}")
printf '\nhighest delivered to iperf3 with < %d%% lost: kernel %.0f/s, reachlab %.0f/s (%sx)\n' \
  "$LOSS_OK" "${BEST[kernel]}" "${BEST[reachlab]}" "$ratio_app"
printf 'highest passed to B'"'"'s interface with < %d%% lost on the way: kernel %.0f/s, reachlab %.0f/s (%sx)\n' \
  "$LOSS_OK" "${FWD[kernel]}" "${FWD[reachlab]}" "$ratio_fwd"

mkdir -p benches/results
out="benches/results/overload-$(date -u +%Y%m%dT%H%M%SZ).json"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%FT%TZ)\", \"rounds\": $ROUNDS, \"seconds\": $SECS, \"cores\": $(nproc),"
  echo "  \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"binary\": \"${REACHLAB:-target/release/reachlab}\", \"workers\": \"$WORKERS\","
  echo "  \"rates\": [$(IFS=,; echo "${rows[*]}")],"
  echo "  \"under_${LOSS_OK}pct_lost\": {\"kernel\": ${BEST[kernel]}, \"reachlab\": ${BEST[reachlab]}, \"ratio\": $ratio_app},"
  echo "  \"forwarded_under_${LOSS_OK}pct_lost\": {\"kernel\": ${FWD[kernel]}, \"reachlab\": ${FWD[reachlab]}, \"ratio\": $ratio_fwd}"
  echo "}"
} > "$out"
jq . "$out" >/dev/null && echo "wrote $out"
