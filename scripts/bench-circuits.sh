#!/usr/bin/env bash
# Do circuits behave like circuits? Real iperf3 and ping through shaped, delayed circuits,
# compared with what the model says they should show.
#
#   scripts/bench-circuits.sh        (as root)
#   UP_ARGS="--workers 2" scripts/bench-circuits.sh   (the labs started so)
#
# For each case a lab from topologies/global-reach.toml with the circuits' bandwidth changed:
#   - iperf3 -t 10 -O 3 SF -> London over 100 Mbit/s, 1 Gbit/s, 10 Gbit/s, and 50 Mbit/s
#     paired with 1 Gbit/s, with CUBIC and BBR: the receiver's goodput (slow start omitted) against the
#     ideal, rate x MSS / (MSS + 52 bytes of headers), and retransmits;
#   - ping SF -> London: RTT against the modelled value `circuit show` reports, and mdev;
#   - traceroute SF -> London: the RTT growing hop by hop;
#   - the same at 100 Mbit/s with FRR at both sites (topologies/global-reach-frr.toml): BGP in
#     the path must cost neither RTT nor goodput.
# For the 1 Gbit/s case TCP buffers in the lab's namespaces are raised to 64 MB so one flow
# can fill 1 Gbit/s over 141 ms (a 17.6 MB bandwidth-delay product), for 10 Gbit/s to 512 MB
# (176 MB); the others use defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_root bench-circuits.sh
require_rust
scripts/install-deps.sh
as_builder cargo build --release --quiet
R=$PWD/target/release/reachlab
WORK=$(mktemp -d)
LAB=""
cleanup() { [ -n "$LAB" ] && $R down "$LAB" >/dev/null 2>&1; rm -rf "$WORK"; }
trap cleanup EXIT

up() { # name bw-sv bw-london [topology]
  LAB=$1
  awk -v a="$2" -v b="$3" -v n="$1" '
    /^name = "global-reach(-frr)?"/ { print "name = \"" n "\""; next }
    /^name = "er-sv"/ { c = a } /^name = "er-london"/ { c = b }
    /^bandwidth = / { print "bandwidth = \"" c "\""; next } { print }' \
    "${4:-topologies/global-reach.toml}" > "$WORK/$1.toml"
  # shellcheck disable=SC2086 # UP_ARGS is words for `up`, e.g. "--workers 2"
  $R up "$WORK/$1.toml" --detach ${UP_ARGS:-} >/dev/null
  local max=""
  case $1 in c1g) max=67108864 ;; c10g) max=536870912 ;; esac
  if [ -n "$max" ]; then
    for ep in sf london; do
      $R exec --lab "$LAB" $ep -- sysctl -qw net.ipv4.tcp_rmem="4096 131072 $max" net.ipv4.tcp_wmem="4096 131072 $max"
    done
  fi
}
down() { $R down "$LAB" >/dev/null; LAB=""; }

# iperf3 SF -> London; prints "goodput_mbps ideal_mbps retransmits".
goodput() { # rate_mbps congestion-control
  $R exec --lab "$LAB" london -- iperf3 -s -1 -p 5501 >/dev/null 2>&1 &
  local srv=$!
  for _ in $(seq 50); do $R exec --lab "$LAB" london -- ss -Hltn 'sport = :5501' | grep -q . && break; sleep 0.1; done
  # -O 3: iperf3 leaves slow start over the 141 ms round trip out of its summary.
  $R exec --lab "$LAB" sf -- iperf3 -c 10.0.2.1 -p 5501 -t 10 -O 3 -C "$2" -J > "$WORK/iperf.json"
  wait $srv 2>/dev/null || true
  jq -r --argjson rate "$1" '
    (.start.tcp_mss_default) as $mss
    | [(.end.sum_received.bits_per_second / 1e6), ($rate * $mss / ($mss + 52)), .end.sum_sent.retransmits]
    | @tsv' "$WORK/iperf.json"
}

printf '%-40s %9s %9s %9s %8s\n' "iperf3 -t 10 -O 3 SF -> London, Mbit/s" "goodput" "ideal" "of ideal" "retrans"
for case in "c100 100Mbps 100Mbps 100" "c1g 1Gbps 1Gbps 1000" "c10g 10Gbps 10Gbps 10000" "c50 50Mbps 1Gbps 50"; do
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
  for cc in cubic bbr; do
    read -r got ideal rtx < <(goodput "$4" $cc)
    printf '%-40s %9.2f %9.2f %8.2f%% %8s\n' "er-sv $2, er-london $3 ($cc)" "$got" "$ideal" "$(awk -v g="$got" -v i="$ideal" 'BEGIN{print 100*g/i}')" "$rtx"
  done
  $R stats er-sv --lab "$LAB" --output json | jq -r '.lateness | "    deadlines: \(.packets) delayed packets, \(.total_ns / (.packets + 0.000001) / 1000 | floor) us late on average, \(.max_ns / 1000 | floor) us at most, \(.over_100us) over 100 us; queue-full drops: " ' | tr -d '\n'
  $R stats er-sv --lab "$LAB" --output json | jq -r '.drops["queue-full"]'

  down
done

# FRR at both sites: wait for the four sessions and the route to London, then the same
# measurements as the static 100 Mbit/s case.
up f100 100Mbps 100Mbps topologies/global-reach-frr.toml
for _ in $(seq 150); do
  n=0
  for c in er-sv er-london; do for p in primary secondary; do
    $R routes $c --summary --path $p --lab "$LAB" --output json | jq -e '.value[0].statePfxRcd | test("^[0-9]+$")' >/dev/null && n=$((n + 1))
  done; done
  [ $n = 4 ] && $R exec --lab "$LAB" sf -- ping -q -n -c 1 -W 1 10.0.2.1 >/dev/null && break
  sleep 0.2
done
model=$($R circuit show er-sv --lab "$LAB" --output json | jq '.timing.rtts[] | select(.to == "london") | .rtt_ms')
stats=$($R exec --lab "$LAB" sf -- ping -q -n -i 0.2 -c 25 10.0.2.1 | awk -F'[/ ]' '/^rtt/ {print $8, $10}')
read -r avg mdev <<< "$stats"
echo
printf 'FRR sites, ping SF -> London: avg %.3f ms, modelled %.3f ms (%+.3f%%), mdev %.3f ms\n' "$avg" "$model" "$(awk -v a="$avg" -v m="$model" 'BEGIN{print 100*(a-m)/m}')" "$mdev"
for cc in cubic bbr; do
  read -r got ideal rtx < <(goodput 100 $cc)
  printf '%-40s %9.2f %9.2f %8.2f%% %8s\n' "FRR sites, 100Mbps ($cc)" "$got" "$ideal" "$(awk -v g="$got" -v i="$ideal" 'BEGIN{print 100*g/i}')" "$rtx"
done
down
