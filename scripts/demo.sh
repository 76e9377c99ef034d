#!/usr/bin/env bash
# The main job: show Global Reach working, end to end, with real ping, traceroute and iperf3.
#
#   scripts/demo.sh        (as root, or with sudo: it builds as you)
#
# Installs what is missing (iperf3, ping, traceroute), builds release, brings the seed up
# without Global Reach (San Francisco reaches both VNets but not London), then with it
# (San Francisco and London reach each other over Microsoft's backbone, 141 ms apart, at the
# circuits' 1 Gbit/s), runs `reachlab test` (every pair pinged against the rules) both times,
# captures the Global Reach link, draws the lab (global-reach.svg); then the seed with FRR at
# both branches peering with the MSEEs over BGP, Global Reach added and removed live; and
# tears down.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
require_root demo.sh

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

require_rust
# Only what the demo uses: the tests' browser and the rest come with scripts/test.sh.
scripts/install-deps.sh demo

bold "Building reachlab (release, as $BUILD_USER)"
as_builder cargo build --release --quiet
R=target/release/reachlab

LAB=""
cleanup() { [ -n "$LAB" ] && $R down "$LAB" >/dev/null 2>&1 || true; }
trap cleanup EXIT

bold "1. Without Global Reach: topologies/no-global-reach.toml"
run $R check topologies/no-global-reach.toml
LAB=no-global-reach
run $R up topologies/no-global-reach.toml --detach
bold "San Francisco reaches both VNets (West US 10.0.3.1, UK South 10.0.4.1)"
run $R exec --lab $LAB sf -- ping -c 2 -W 1 10.0.3.1
run $R exec --lab $LAB sf -- ping -c 2 -W 1 10.0.4.1
bold "London reaches them too"
run $R exec --lab $LAB london -- ping -c 2 -W 1 10.0.3.1
bold "...but San Francisco cannot reach London 10.0.2.1: its MSEE has no route"
run $R exec --lab $LAB sf -- ping -c 2 -W 1 10.0.2.1 || echo "(no reply, as expected without Global Reach)"
bold "Every pair at once: the rules' reachability against real pings"
run $R test $LAB
run $R down $LAB
LAB=""

bold "2. With Global Reach 192.168.8.0/29 between er-sv and er-london: topologies/global-reach.toml"
run $R check topologies/global-reach.toml
LAB=global-reach
run $R up topologies/global-reach.toml --detach
bold "San Francisco reaches London, and London San Francisco (the lab's names resolve inside it)"
run $R exec --lab $LAB sf -- ping -c 3 -W 1 london
run $R exec --lab $LAB london -- ping -c 3 -W 1 sf
bold "The path: SF's edge router, the Silicon Valley MSEE, the London MSEE (on the /29), London's edge router"
run $R exec --lab $LAB sf -- traceroute -n -q 1 -w 1 10.0.2.1
bold "Throughput SF -> London: 1 Gbit/s circuits, 141 ms round trip (TCP buffers raised to fill it)"
for ep in sf london; do
  $R exec --lab $LAB $ep -- sysctl -qw net.ipv4.tcp_rmem="4096 131072 67108864" net.ipv4.tcp_wmem="4096 131072 67108864"
done
run $R iperf --lab $LAB sf london -- -t 8 -f m | grep -E "^\[ *[0-9]+\]|sender|receiver" | tail -5
run $R circuit show er-sv --lab $LAB
bold "Every pair again: now SF and London reach each other"
run $R test $LAB
bold "What crossed the Global Reach link during one ping (pcap, read by tcpdump)"
( sleep 0.3; $R exec --lab $LAB sf -- ping -c 1 -W 1 10.0.2.1 >/dev/null ) &
run bash -c "$R capture --lab $LAB er-sv:er-london -c 2 --duration 5 -w - | tcpdump -n -r - 2>/dev/null"
wait
bold "A picture of the lab: $PWD/global-reach.svg"
run $R graph $LAB --file global-reach.svg
chown "$BUILD_USER": global-reach.svg   # the picture is the user's, not root's
run $R down $LAB
LAB=""

bold "3. Real routers: FRR at both branches peers with the MSEEs over BGP (topologies/global-reach-frr.toml)"
run $R check topologies/global-reach-frr.toml
LAB=global-reach-frr
# Brought up without its Global Reach connection, which is then added live.
FRR_LAB=$(mktemp -d)
sed '/^\[\[global_reach\]\]/,$d' topologies/global-reach-frr.toml > "$FRR_LAB/global-reach-frr.toml"
run $R up "$FRR_LAB/global-reach-frr.toml" --detach
bold "The MSEEs' BGP neighbours: each site's router (65001, 65002) on both links, the VNet gateways"
for i in $(seq 50); do
  [ "$($R routes er-london --summary --lab $LAB --output json | jq -r '.value[0].statePfxRcd')" -ge 1 ] 2>/dev/null && break
  sleep 0.2
done
run $R routes er-sv --summary --lab $LAB
run $R routes er-london --summary --lab $LAB
bold "London's FRR has both VNets (path 12076), not San Francisco's 10.0.1.0/24"
run $R exec --lab $LAB london -- vtysh -c 'show ip bgp'
run $R exec --lab $LAB sf -- ping -c 2 -W 1 london || echo "(no route to London: none learned over BGP)"
bold "Global Reach added: London's FRR learns 10.0.1.0/24 (path 12076) and pings cross"
run $R global-reach add er-sv er-london --address-prefix 192.168.8.0/29 --lab $LAB
# BGP converges in well under a second: both routers have each other's prefix in their kernel.
for i in $(seq 50); do
  $R exec --lab $LAB london -- ip route show 10.0.1.0/24 | grep -q bgp &&
    $R exec --lab $LAB sf -- ip route show 10.0.2.0/24 | grep -q bgp && break
  sleep 0.1
done
run $R exec --lab $LAB london -- vtysh -c 'show ip bgp'
run $R exec --lab $LAB sf -- ping -c 3 -W 1 london
bold "Global Reach removed: London forgets San Francisco"
run $R global-reach remove er-sv er-london --lab $LAB
for i in $(seq 50); do
  $R exec --lab $LAB london -- ip route show 10.0.1.0/24 | grep -q bgp || break
  sleep 0.1
done
run $R exec --lab $LAB london -- vtysh -c 'show ip bgp'
run $R down $LAB
LAB=""
rm -rf "$FRR_LAB"

bold "Done: nothing of the labs is left"
run ip netns list
