#!/usr/bin/env bash
# reachlab against the kernel's own forwarding, measured in the same run on this machine.
#
#   scripts/bench-throughput.sh [ROUNDS]      (as root; default 3 rounds)
#   REACHLAB=/path/to/reachlab scripts/bench-throughput.sh   (another build, e.g. before a change)
#
# Sets up (1) the kernel baseline: host A - veth - router namespace (ip_forward=1) - veth -
# host B, and (2) a reachlab lab (topologies/bench-unshaped.toml: SF <-> London over Global
# Reach, unshaped) on up's default forwarding workers, and the same lab on another count
# ("alt": one worker when the default is more, else as many as cores; or BENCH_WORKERS). Then, alternating kernel / reachlab each round:
# iperf3 single stream and
# -P 4 (10 s each), 64-byte UDP (packets/s delivered and loss, 10 s), ping -i 0.01 -c 500;
# then ping again against a lab started with --busy-poll. A third system, "viewed", is the
# same lab started with --web and watched the whole time as the live page watches it, harder:
# two event streams open, and /api/lab and /api/graph.svg fetched every half second; its
# ratio to the unwatched lab is what the page costs the forwarding.
# Prints medians and ratios and writes them as JSON under benches/results/. Cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${BENCH_SECS:-10}

. scripts/lib.sh
require_root bench-throughput.sh
require_rust
scripts/install-deps.sh
if [ -z "${REACHLAB:-}" ]; then
  as_builder cargo build --release --quiet
fi
R=${REACHLAB:-$PWD/target/release/reachlab}

TAG="rlb$$"
KA="$TAG-a"; KR="$TAG-r"; KB="$TAG-b"
LAB="bench$$"
VLAB="benchv$$"
W1LAB="bench1w$$"
WORK=$(mktemp -d)
VIEWERS=()
cleanup() {
  for p in "${VIEWERS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  $R down "$LAB" >/dev/null 2>&1 || true
  $R down "$VLAB" >/dev/null 2>&1 || true
  $R down "$W1LAB" >/dev/null 2>&1 || true
  for ns in "$KA" "$KR" "$KB"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# (1) kernel baseline
kernel_path "$TAG"

# (2) reachlab
sed "s/^name = \"bench\"/name = \"$LAB\"/" topologies/bench-unshaped.toml > "$WORK/bench.toml"
# up's default workers (half the cores, 1 to 4: lab::run::default_workers), and the same lab
# on another count to compare: one worker when the default is more, else as many workers as
# cores (at most 4).
N=$(nproc)
WORKERS=$(( N / 2 < 1 ? 1 : (N / 2 > 4 ? 4 : N / 2) ))
ALT=${BENCH_WORKERS:-$(( WORKERS > 1 ? 1 : (N > 4 ? 4 : N) ))}
$R up "$WORK/bench.toml" --detach >/dev/null
sed "s/^name = \"bench\"/name = \"$W1LAB\"/" topologies/bench-unshaped.toml > "$WORK/bench1w.toml"
$R up "$WORK/bench1w.toml" --detach --workers "$ALT" >/dev/null
# (3) the same lab, watched through its live view.
sed "s/^name = \"bench\"/name = \"$VLAB\"/" topologies/bench-unshaped.toml > "$WORK/benchv.toml"
$R up "$WORK/benchv.toml" --detach --web 127.0.0.1:0 >/dev/null
WEB=$($R status -o json | jq -r --arg l "$VLAB" '.[] | select(.lab == $l) | .web')
curl -sN "http://$WEB/api/events" >/dev/null 2>&1 & VIEWERS+=($!)
curl -sN "http://$WEB/api/events" >/dev/null 2>&1 & VIEWERS+=($!)
( while :; do
    curl -s "http://$WEB/api/lab" >/dev/null; curl -s "http://$WEB/api/graph.svg" >/dev/null
    sleep 0.5
  done ) & VIEWERS+=($!)

k_exec() { local side=$1; shift; ip netns exec "$([ "$side" = a ] && echo "$KA" || echo "$KB")" "$@"; }
RLAB=$LAB
r_exec() { local side=$1; shift; $R exec --lab "$RLAB" "$([ "$side" = a ] && echo sf || echo london)" -- "$@"; }
# Starts the iperf3 server on side b in the background; SRV is its PID (ip netns exec and
# reachlab exec both exec the command, so the PID is iperf3's: it can be ended by PID).
start_server() {
  if [ "$1" = kernel ]; then
    ip netns exec "$KB" iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
  else
    $R exec --lab "$RLAB" london -- iperf3 -s -1 -p 5301 >/dev/null 2>&1 &
  fi
  SRV=$!
}
k_dst=10.99.2.1
r_dst=10.0.2.1

# One measurement: prints a number.
measure() {
  local sys=$1 what=$2 ex dst
  if [ "$sys" = kernel ]; then ex=k_exec; dst=$k_dst; else ex=r_exec; dst=$r_dst; fi
  case $sys in viewed) RLAB=$VLAB ;; alt) RLAB=$W1LAB ;; *) RLAB=$LAB ;; esac
  start_server "$sys"
  local srv=$SRV
  for _ in $(seq 50); do $ex b ss -Hltn 'sport = :5301' | grep -q . && break; sleep 0.1; done
  case $what in
    tcp1) $ex a iperf3 -c $dst -p 5301 -t "$SECS" -J > "$WORK/out.json"
          jq '.end.sum_received.bits_per_second / 1e9' "$WORK/out.json" ;;
    tcp4) $ex a iperf3 -c $dst -p 5301 -t "$SECS" -P 4 -J > "$WORK/out.json"
          jq '.end.sum_received.bits_per_second / 1e9' "$WORK/out.json" ;;
    udp64) $ex a iperf3 -c $dst -p 5301 -t "$SECS" -u -l 64 -b 0 -J > "$WORK/out.json"
          jq '.end.sum as $s | (($s.packets - $s.lost_packets) / $s.seconds)' "$WORK/out.json"
          jq '.end.sum.lost_percent' "$WORK/out.json" > "$WORK/loss" ;;
    ping) kill $srv 2>/dev/null || true
          $ex a ping -q -n -i 0.01 -c 500 -W 1 $dst | awk -F'[/ ]' '/^rtt/ {print $8 * 1000}' ;;
  esac
  kill $srv 2>/dev/null || true
  wait $srv 2>/dev/null || true
}

declare -A RES
tests=(tcp1 tcp4 udp64 ping)
for round in $(seq "$ROUNDS"); do
  for t in "${tests[@]}"; do
    for sys in kernel reachlab alt viewed; do
      # (measure runs in a subshell: RLAB is set there, per system.)
      v=$(measure $sys $t)
      RES[$sys,$t]+="$v "
      if [ "$t" = udp64 ]; then RES[$sys,udploss]+="$(cat "$WORK/loss") "; fi
      printf 'round %d  %-8s %-6s %s\n' "$round" "$sys" "$t" "$v" >&2
    done
  done
done

# Idle latency with --busy-poll (no wake-up per packet; keeps one core busy, so it runs alone).
for p in "${VIEWERS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
VIEWERS=()
$R down "$VLAB" >/dev/null
$R down "$W1LAB" >/dev/null
$R down "$LAB" >/dev/null
$R up "$WORK/bench.toml" --detach --busy-poll >/dev/null
for round in $(seq "$ROUNDS"); do
  for sys in kernel reachlab; do
    v=$(measure $sys ping)
    [ $sys = kernel ] && key=kernelb,ping || key=busy,ping
    RES[$key]+="$v "
    printf 'round %d  %-8s %-6s %s\n' "$round" "${key%,ping}" "ping" "$v" >&2
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
declare -A MED
for key in "${!RES[@]}"; do MED[$key]=$(echo "${RES[$key]}" | median); done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '\n%-34s %14s %14s %10s\n' "median of $ROUNDS rounds" kernel reachlab ratio
printf '%-34s %14.2f %14.2f %9sx\n' "TCP single stream (Gbit/s)" "${MED[kernel,tcp1]}" "${MED[reachlab,tcp1]}" "$(ratio "${MED[reachlab,tcp1]}" "${MED[kernel,tcp1]}")"
printf '%-34s %14.2f %14.2f %9sx\n' "TCP 4 streams (Gbit/s)" "${MED[kernel,tcp4]}" "${MED[reachlab,tcp4]}" "$(ratio "${MED[reachlab,tcp4]}" "${MED[kernel,tcp4]}")"
printf '%-34s %14.0f %14.0f %9sx\n' "UDP 64 B delivered (packets/s)" "${MED[kernel,udp64]}" "${MED[reachlab,udp64]}" "$(ratio "${MED[reachlab,udp64]}" "${MED[kernel,udp64]}")"
printf '%-34s %14.2f %14.2f\n' "UDP 64 B loss (%)" "${MED[kernel,udploss]}" "${MED[reachlab,udploss]}"
printf '%-34s %14.1f %14.1f %+9.1f us\n' "ping -i 0.01 avg RTT (us)" "${MED[kernel,ping]}" "${MED[reachlab,ping]}" "$(awk -v a="${MED[reachlab,ping]}" -v b="${MED[kernel,ping]}" 'BEGIN{print a-b}')"
printf '%-34s %14.1f %14.1f %+9.1f us\n' "  same, reachlab up --busy-poll" "${MED[kernelb,ping]}" "${MED[busy,ping]}" "$(awk -v a="${MED[busy,ping]}" -v b="${MED[kernelb,ping]}" 'BEGIN{print a-b}')"
printf '\n%-34s %14s %14s %10s\n' "forwarding workers (ratio: B/A)" "A: $WORKERS (default)" "B: $ALT" ratio
printf '%-34s %14.2f %14.2f %9sx\n' "TCP single stream (Gbit/s)" "${MED[reachlab,tcp1]}" "${MED[alt,tcp1]}" "$(ratio "${MED[alt,tcp1]}" "${MED[reachlab,tcp1]}")"
printf '%-34s %14.2f %14.2f %9sx\n' "TCP 4 streams (Gbit/s)" "${MED[reachlab,tcp4]}" "${MED[alt,tcp4]}" "$(ratio "${MED[alt,tcp4]}" "${MED[reachlab,tcp4]}")"
printf '%-34s %14.0f %14.0f %9sx\n' "UDP 64 B delivered (packets/s)" "${MED[reachlab,udp64]}" "${MED[alt,udp64]}" "$(ratio "${MED[alt,udp64]}" "${MED[reachlab,udp64]}")"
printf '%-34s %14.2f %14.2f\n' "UDP 64 B loss (%)" "${MED[reachlab,udploss]}" "${MED[alt,udploss]}"
printf '%-34s %14.1f %14.1f %+9.1f us\n' "ping -i 0.01 avg RTT (us)" "${MED[reachlab,ping]}" "${MED[alt,ping]}" "$(awk -v a="${MED[alt,ping]}" -v b="${MED[reachlab,ping]}" 'BEGIN{print a-b}')"
printf '%-34s %14.2f %14.2f %9sx\n' "  TCP 4 streams against the kernel" "$(ratio "${MED[reachlab,tcp4]}" "${MED[kernel,tcp4]}")" "$(ratio "${MED[alt,tcp4]}" "${MED[kernel,tcp4]}")" ""
printf '\n%-34s %14s %14s %10s\n' "the live view's cost" reachlab "page open" ratio
printf '%-34s %14.2f %14.2f %9sx\n' "TCP single stream (Gbit/s)" "${MED[reachlab,tcp1]}" "${MED[viewed,tcp1]}" "$(ratio "${MED[viewed,tcp1]}" "${MED[reachlab,tcp1]}")"
printf '%-34s %14.2f %14.2f %9sx\n' "TCP 4 streams (Gbit/s)" "${MED[reachlab,tcp4]}" "${MED[viewed,tcp4]}" "$(ratio "${MED[viewed,tcp4]}" "${MED[reachlab,tcp4]}")"
printf '%-34s %14.0f %14.0f %9sx\n' "UDP 64 B delivered (packets/s)" "${MED[reachlab,udp64]}" "${MED[viewed,udp64]}" "$(ratio "${MED[viewed,udp64]}" "${MED[reachlab,udp64]}")"
printf '%-34s %14.1f %14.1f %+9.1f us\n' "ping -i 0.01 avg RTT (us)" "${MED[reachlab,ping]}" "${MED[viewed,ping]}" "$(awk -v a="${MED[viewed,ping]}" -v b="${MED[reachlab,ping]}" 'BEGIN{print a-b}')"

mkdir -p benches/results
out="benches/results/throughput-$(date -u +%Y%m%dT%H%M%SZ).json"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%FT%TZ)\", \"rounds\": $ROUNDS, \"seconds\": $SECS,"
  echo "  \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"binary\": \"${REACHLAB:-target/release/reachlab}\", \"cores\": $(nproc), \"workers\": $WORKERS, \"alt_workers\": $ALT,"
  for sys in kernel reachlab alt viewed; do
    echo "  \"$sys\": {"
    echo "    \"tcp1_gbps\": ${MED[$sys,tcp1]}, \"tcp4_gbps\": ${MED[$sys,tcp4]},"
    echo "    \"udp64_pps\": ${MED[$sys,udp64]}, \"udp64_loss_pct\": ${MED[$sys,udploss]},"
    echo "    \"ping_avg_us\": ${MED[$sys,ping]},"
    echo "    \"samples\": {\"tcp1\": [$(echo ${RES[$sys,tcp1]} | tr ' ' ',')], \"tcp4\": [$(echo ${RES[$sys,tcp4]} | tr ' ' ',')], \"udp64\": [$(echo ${RES[$sys,udp64]} | tr ' ' ',')], \"ping\": [$(echo ${RES[$sys,ping]} | tr ' ' ',')]}"
    if [ $sys = kernel ]; then echo "  },"; else echo "  },"; fi
  done
  echo "  \"busy_poll\": {\"ping_avg_us\": ${MED[busy,ping]}, \"kernel_ping_avg_us\": ${MED[kernelb,ping]}, \"samples\": [$(echo ${RES[busy,ping]} | tr ' ' ',')], \"kernel_samples\": [$(echo ${RES[kernelb,ping]} | tr ' ' ',')]},"
  echo "  \"page_open_ratios\": {\"tcp1\": $(ratio "${MED[viewed,tcp1]}" "${MED[reachlab,tcp1]}"), \"tcp4\": $(ratio "${MED[viewed,tcp4]}" "${MED[reachlab,tcp4]}"), \"udp64\": $(ratio "${MED[viewed,udp64]}" "${MED[reachlab,udp64]}")},"
  echo "  \"ratios\": {\"tcp1\": $(ratio "${MED[reachlab,tcp1]}" "${MED[kernel,tcp1]}"), \"tcp4\": $(ratio "${MED[reachlab,tcp4]}" "${MED[kernel,tcp4]}"), \"udp64\": $(ratio "${MED[reachlab,udp64]}" "${MED[kernel,udp64]}"), \"ping_extra_us\": $(awk -v a="${MED[reachlab,ping]}" -v b="${MED[kernel,ping]}" 'BEGIN{print a-b}'), \"ping_extra_us_busy_poll\": $(awk -v a="${MED[busy,ping]}" -v b="${MED[kernelb,ping]}" 'BEGIN{print a-b}')}"
  echo "}"
} > "$out"
jq . "$out" >/dev/null && echo "wrote $out"
