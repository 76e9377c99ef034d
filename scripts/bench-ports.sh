#!/usr/bin/env bash
# An Ethernet circuit port against reachlab's own TUN link, measured in the same run.
#
#   scripts/bench-ports.sh [ROUNDS]      (as root; default 3 rounds)
#   REACHLAB=/path/to/reachlab scripts/bench-ports.sh
#
# Two labs of topologies/bench-unshaped.toml (SF <-> London over Global Reach, unshaped), SF
# with FRR in both: (1) "tun", SF's FRR in its lab namespace (`router = "frr"`, the circuit
# links are TUNs); (2) "port", SF's FRR in a namespace made as containerlab makes a node, its
# eth1/eth2 veths whose host ends are the lab's Ethernet ports (`router = "external"`,
# `ports`), with the FRR configuration `reachlab export -o containerlab` writes. Alternating
# each round: iperf3 one stream and -P 4 (10 s each), 64-byte UDP (packets/s delivered), ping
# -i 0.01 -c 500, from SF's LAN to London. Prints medians and port/TUN ratios and writes them
# as JSON under benches/results/. Cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECS=${BENCH_SECS:-10}

. scripts/lib.sh
require_root bench-ports.sh
require_rust
scripts/install-deps.sh
if [ -z "${REACHLAB:-}" ]; then
  as_builder cargo build --release --quiet
fi
R=${REACHLAB:-$PWD/target/release/reachlab}

TLAB="bpt$$"; PLAB="bpp$$"
CE="rlbp$$-ce"
HP="bp$$p"; HS="bp$$s"
WORK=$(mktemp -d)
chmod 755 "$WORK"   # FRR runs as user frr
FRR=$WORK/frr
cleanup() {
  $R down "$TLAB" >/dev/null 2>&1 || true
  $R down "$PLAB" >/dev/null 2>&1 || true
  for f in "$FRR"/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.2
  ip netns del "$CE" 2>/dev/null || true
  ip link del "$HP" 2>/dev/null || true
  ip link del "$HS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

base() { sed -e "s/^name = \"bench\"/name = \"$1\"/" topologies/bench-unshaped.toml; }
# (1) SF's FRR on the lab's TUN links.
base "$TLAB" | awk '/^name = "sf"/ {print; getline; print; getline; print; print "router = \"frr\""; next} {print}' \
  > "$WORK/tun.toml"
# (2) SF's FRR behind Ethernet ports.
base "$PLAB" | awk -v p="$HP" -v s="$HS" '/^name = "sf"/ {print; getline; print; getline; print;
  print "router = \"external\""; print "ports = { primary = \"" p "\", secondary = \"" s "\" }"; next} {print}' \
  > "$WORK/port.toml"
$R check "$WORK/tun.toml" >/dev/null
$R check "$WORK/port.toml" >/dev/null

# The node, as containerlab makes it: veths, the node's ends moved in as eth1 and eth2.
ip netns add "$CE"
ip -n "$CE" link set lo up
ip -n "$CE" addr add 10.0.1.1/24 dev lo
ip link add "$HP" type veth peer name eth1 netns "$CE"
ip link add "$HS" type veth peer name eth2 netns "$CE"
ip link set "$HP" up; ip link set "$HS" up
ip -n "$CE" addr add 192.168.100.1/30 dev eth1; ip -n "$CE" link set eth1 up
ip -n "$CE" addr add 192.168.100.5/30 dev eth2; ip -n "$CE" link set eth2 up
$R export "$WORK/port.toml" -o containerlab --dir "$WORK/clab" >/dev/null
mkdir -p "$FRR"; cp "$WORK/clab/sf/frr.conf" "$FRR/"; chown -R frr:frr "$FRR"
for d in zebra bfdd bgpd; do
  extra=(); [ $d = bfdd ] && extra=(--bfdctl "$FRR/bfdd.sock")
  ip netns exec "$CE" /usr/lib/frr/$d -d -f "$FRR/frr.conf" -i "$FRR/$d.pid" \
    --vty_socket "$FRR" -z "$FRR/zserv.api" "${extra[@]}"
  if [ $d = zebra ]; then for _ in $(seq 50); do [ -S "$FRR/zserv.api" ] && break; sleep 0.1; done; fi
done

$R up "$WORK/tun.toml" --detach >/dev/null
$R up "$WORK/port.toml" --detach >/dev/null
# Both SF routers have London's route (BGP, over Global Reach).
for _ in $(seq 300); do
  a=$($R exec --lab "$TLAB" sf -- ip route show 10.0.2.0/24 | grep -c . || true)
  b=$(ip netns exec "$CE" ip route show 10.0.2.0/24 | grep -c . || true)
  [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && break
  sleep 0.1
done
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] || { echo "SF's routers did not learn London (tun $a, port $b)" >&2; exit 1; }

# Waits (30 s at most) until SF's router on `sys` has London's route again.
wait_route() {
  for _ in $(seq 300); do
    if [ "$1" = tun ]; then
      $R exec --lab "$TLAB" sf -- ip route show 10.0.2.0/24 | grep -q . && return 0
    else
      ip netns exec "$CE" ip route show 10.0.2.0/24 | grep -q . && return 0
    fi
    sleep 0.1
  done
  return 1
}

a_exec() { if [ "$1" = tun ]; then shift; $R exec --lab "$TLAB" sf -- "$@"; else shift; ip netns exec "$CE" "$@"; fi; }
lab_of() { [ "$1" = tun ] && echo "$TLAB" || echo "$PLAB"; }
dst=10.0.2.1

measure() {
  local sys=$1 what=$2 lab srv
  lab=$(lab_of "$sys")
  $R exec --lab "$lab" london -- iperf3 -s -1 -p 5302 >/dev/null 2>&1 &
  srv=$!
  for _ in $(seq 50); do $R exec --lab "$lab" london -- ss -Hltn 'sport = :5302' | grep -q . && break; sleep 0.1; done
  case $what in
    tcp1) a_exec "$sys" iperf3 -c $dst -B 10.0.1.1 -p 5302 -t "$SECS" -J > "$WORK/out.json"
          jq '.end.sum_received.bits_per_second / 1e9' "$WORK/out.json" ;;
    tcp4) a_exec "$sys" iperf3 -c $dst -B 10.0.1.1 -p 5302 -t "$SECS" -P 4 -J > "$WORK/out.json"
          jq '.end.sum_received.bits_per_second / 1e9' "$WORK/out.json" ;;
    udp64) a_exec "$sys" iperf3 -c $dst -B 10.0.1.1 -p 5302 -t "$SECS" -u -l 64 -b 0 -J > "$WORK/out.json"
          jq '.end.sum as $s | (($s.packets - $s.lost_packets) / $s.seconds)' "$WORK/out.json" \
            || jq -r .error "$WORK/out.json" >&2 ;;
    ping) kill $srv 2>/dev/null || true
          a_exec "$sys" ping -q -n -I 10.0.1.1 -i 0.01 -c 500 -W 1 $dst | awk -F'[/ ]' '/^rtt/ {print $8 * 1000}' ;;
  esac
  kill $srv 2>/dev/null || true
  wait $srv 2>/dev/null || true
}

declare -A RES LOST
for round in $(seq "$ROUNDS"); do
  for t in ${BENCH_TESTS:-tcp1 tcp4 udp64 ping}; do
    for sys in tun port; do
      wait_route $sys || true
      v=$(measure $sys $t)
      # A 64-byte flood can take the router's session down (BFD's packets are lost with
      # the flood's: on a port at the packet socket, before reachlab reads them; on a TUN
      # link at the queues behind it). Such a round is counted, not measured; the next test
      # waits for the route.
      if [ -z "$v" ]; then v=0; LOST[$sys,$t]=$(( ${LOST[$sys,$t]:-0} + 1 )); fi
      RES[$sys,$t]+="$v "
      printf 'round %d  %-5s %-6s %s\n' "$round" "$sys" "$t" "$v" >&2
    done
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
declare -A MED
# Medians of the rounds measured (a round whose session went down recorded 0).
for key in "${!RES[@]}"; do MED[$key]=$(echo "${RES[$key]}" | tr ' ' '\n' | { grep -v '^0$' || true; } | tr '\n' ' ' | median); done
# (BENCH_TESTS may leave some out.)
for s in tun port; do for t in tcp1 tcp4 udp64 ping; do
  [ -n "${MED[$s,$t]:-}" ] || MED[$s,$t]=0; RES[$s,$t]=${RES[$s,$t]:-}
done; done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '\n%-34s %14s %14s %10s\n' "median of $ROUNDS rounds" "TUN link" "Ethernet port" ratio
printf '%-34s %14.2f %14.2f %9sx\n' "TCP single stream (Gbit/s)" "${MED[tun,tcp1]}" "${MED[port,tcp1]}" "$(ratio "${MED[port,tcp1]}" "${MED[tun,tcp1]}")"
printf '%-34s %14.2f %14.2f %9sx\n' "TCP 4 streams (Gbit/s)" "${MED[tun,tcp4]}" "${MED[port,tcp4]}" "$(ratio "${MED[port,tcp4]}" "${MED[tun,tcp4]}")"
printf '%-34s %14.0f %14.0f %9sx\n' "UDP 64 B delivered (packets/s)" "${MED[tun,udp64]}" "${MED[port,udp64]}" "$(ratio "${MED[port,udp64]}" "${MED[tun,udp64]}")"
for s in tun port; do
  if [ -n "${LOST[$s,udp64]:-}" ]; then
    echo "  $s: the router's session went down (BFD) during the flood in ${LOST[$s,udp64]} of $ROUNDS rounds; median of the others"
  fi
done
printf '%-34s %14.1f %14.1f %+9.1f us\n' "ping -i 0.01 avg RTT (us)" "${MED[tun,ping]}" "${MED[port,ping]}" "$(awk -v a="${MED[port,ping]}" -v b="${MED[tun,ping]}" 'BEGIN{print a-b}')"

mkdir -p benches/results
out="benches/results/ports-$(date -u +%Y%m%dT%H%M%SZ).json"
{
  echo "{"
  echo "  \"date\": \"$(date -u +%FT%TZ)\", \"rounds\": $ROUNDS, \"seconds\": $SECS,"
  echo "  \"commit\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\", \"binary\": \"${REACHLAB:-target/release/reachlab}\", \"cores\": $(nproc),"
  for sys in tun port; do
    echo "  \"$sys\": {\"tcp1_gbps\": ${MED[$sys,tcp1]}, \"tcp4_gbps\": ${MED[$sys,tcp4]}, \"udp64_pps\": ${MED[$sys,udp64]}, \"ping_avg_us\": ${MED[$sys,ping]},"
    echo "    \"samples\": {\"tcp1\": [$(echo ${RES[$sys,tcp1]} | tr ' ' ',')], \"tcp4\": [$(echo ${RES[$sys,tcp4]} | tr ' ' ',')], \"udp64\": [$(echo ${RES[$sys,udp64]} | tr ' ' ',')], \"ping\": [$(echo ${RES[$sys,ping]} | tr ' ' ',')]}},"
  done
  echo "  \"udp64_rounds_session_lost\": {\"tun\": ${LOST[tun,udp64]:-0}, \"port\": ${LOST[port,udp64]:-0}},"
  echo "  \"ratios\": {\"tcp1\": $(ratio "${MED[port,tcp1]}" "${MED[tun,tcp1]}"), \"tcp4\": $(ratio "${MED[port,tcp4]}" "${MED[tun,tcp4]}"), \"udp64\": $(ratio "${MED[port,udp64]}" "${MED[tun,udp64]}"), \"ping_extra_us\": $(awk -v a="${MED[port,ping]}" -v b="${MED[tun,ping]}" 'BEGIN{print a-b}')}"
  echo "}"
} > "$out"
jq . "$out" >/dev/null && echo "wrote $out"
