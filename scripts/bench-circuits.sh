#!/usr/bin/env bash
# Do circuits behave like circuits? Real iperf3 and ping through shaped, delayed circuits,
# compared with what the model says they should show.
#
#   scripts/bench-circuits.sh        (as root)
#
# For each case a lab from topologies/global-reach.toml with the circuits' bandwidth changed:
#   - iperf3 -t 12 SF -> London over 100 Mbit/s, 1 Gbit/s, and 50 Mbit/s paired with
#     1 Gbit/s, with CUBIC, Reno and BBR: the receiver's goodput in steady state (median 1-s
#     interval from 2 s) and over the whole run, against the ideal, rate x MSS / (MSS + 52
#     bytes of headers). BBR's ProbeRTT (every 10 s) shows in its whole-run average;
#   - ping SF -> London: RTT against the modelled value `circuit show` reports, and mdev;
#   - traceroute SF -> London: the RTT growing hop by hop.
# TCP buffers in the lab's namespaces are raised to 64 MB so one flow can fill 1 Gbit/s over
# 141 ms (a 17.6 MB bandwidth-delay product).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "bench-circuits.sh makes namespaces: run it as root (or with sudo)" >&2
  exit 1
fi
scripts/install-deps.sh
cargo build --release --quiet
R=$PWD/target/release/reachlab
WORK=$(mktemp -d)
LAB=""
cleanup() { [ -n "$LAB" ] && $R down "$LAB" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT

up() { # name bw-sv bw-london
  LAB=$1
  awk -v a="$2" -v b="$3" -v n="$1" '
    /^name = "global-reach"/ { print "name = \"" n "\""; next }
    /^name = "er-sv"/ { c = a } /^name = "er-london"/ { c = b }
    /^bandwidth = / { print "bandwidth = \"" c "\""; next } { print }' \
    topologies/global-reach.toml > "$WORK/$1.toml"
  $R up "$WORK/$1.toml" --detach >/dev/null
  for ep in sf london; do
    $R exec --lab "$LAB" $ep -- sysctl -qw net.ipv4.tcp_rmem="4096 131072 67108864" net.ipv4.tcp_wmem="4096 131072 67108864"
  done
}
down() { $R down "$LAB" >/dev/null; LAB=""; }

# iperf3 SF -> London; prints "goodput_mbps ideal_mbps retransmits".
goodput() { # rate_mbps [congestion control]
  $R exec --lab "$LAB" london -- iperf3 -s -1 -J -p 5501 >/dev/null 2>&1 &
  local srv=$!
  for _ in $(seq 50); do $R exec --lab "$LAB" london -- ss -Hltn 'sport = :5501' | grep -q . && break; sleep 0.1; done
  $R exec --lab "$LAB" sf -- iperf3 -c 10.0.2.1 -p 5501 -t 12 -C "${2:-cubic}" --get-server-output -J > "$WORK/iperf.json"
  wait $srv 2>/dev/null || true
  # Goodput as the receiver saw it: the median of its 1-s intervals from 2 s on (steady
  # state: slow start over 141 ms is over, and a second that catches up on out-of-order data
  # after a loss cannot skew it), and the whole run's average.
  jq -r --argjson rate "$1" '
    (.start.tcp_mss_default) as $mss
    | ([.server_output_json.intervals[] | select(.sum.start >= 2 and .sum.seconds > 0.9)
        | .sum.bits_per_second / 1e6] | sort) as $iv
    | [$iv[($iv | length) / 2 | floor], (.server_output_json.end.sum_received.bits_per_second / 1e6),
       ($rate * $mss / ($mss + 52)), .end.sum_sent.retransmits]
    | @tsv' "$WORK/iperf.json"
}

printf '%-34s %8s %8s %8s %9s %8s\n' "iperf3 -t 12 SF -> London, Mbit/s" "steady" "average" "ideal" "steady/i" "retrans"
for case in "c100 100Mbps 100Mbps 100" "c1g 1Gbps 1Gbps 1000" "c50 50Mbps 1Gbps 50"; do
  set -- $case
  up "$1" "$2" "$3"
  if [ "$1" = c1g ]; then
    echo
    model=$($R circuit show er-sv --lab "$LAB" --output json | jq '.timing.rtts[] | select(.to == "london") | .rtt_ms')
    stats=$($R exec --lab "$LAB" sf -- ping -q -n -i 0.2 -c 25 10.0.2.1 | awk -F'[/ ]' '/^rtt/ {print $8, $10}')
    read -r avg mdev <<< "$stats"
    printf 'ping SF -> London: avg %.3f ms, modelled %.3f ms (%+.3f%%), mdev %.3f ms\n' "$avg" "$model" "$(awk -v a="$avg" -v m="$model" 'BEGIN{print 100*(a-m)/m}')" "$mdev"
    echo "circuit fail er-sv primary, then secondary, during ping -i 0.1 -c 30 (restored after 1 s each):"
    $R exec --lab "$LAB" sf -- ping -q -n -i 0.1 -c 30 -W 1 10.0.2.1 > "$WORK/ping.txt" &
    pp=$!
    sleep 0.5; $R circuit fail er-sv primary --lab "$LAB" >/dev/null; sleep 1; $R circuit restore er-sv primary --lab "$LAB" >/dev/null
    $R circuit fail er-sv secondary --lab "$LAB" >/dev/null; sleep 1; $R circuit restore er-sv secondary --lab "$LAB" >/dev/null
    wait $pp || true
    grep -E "transmitted" "$WORK/ping.txt" | sed 's/^/  /'
    echo "traceroute SF -> London:"
    $R exec --lab "$LAB" sf -- traceroute -n -q 1 -w 2 10.0.2.1 | sed 's/^/  /'
    echo
  fi
  for cc in cubic reno bbr; do
    read -r got avg ideal rtx < <(goodput "$4" $cc)
    printf '%-34s %8.2f %8.2f %8.2f %8.2f%% %8s\n' "er-sv $2, er-london $3 ($cc)" "$got" "$avg" "$ideal" "$(awk -v g="$got" -v i="$ideal" 'BEGIN{print 100*g/i}')" "$rtx"
  done
  $R stats er-sv --lab "$LAB" --output json | jq -r '.lateness | "    deadlines: \(.packets) delayed packets, \(.total_ns / (.packets + 0.000001) / 1000 | floor) us late on average, \(.max_ns / 1000 | floor) us at most, \(.over_100us) over 100 us; queue-full drops: " ' | tr -d '\n'
  $R stats er-sv --lab "$LAB" --output json | jq -r '.drops["queue-full"]'

  down
done
