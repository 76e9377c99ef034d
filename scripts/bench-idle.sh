#!/usr/bin/env bash
# What the control plane costs at rest, and how fast a change reaches the routers.
#
#   scripts/bench-idle.sh [N ...]      (as root; default: 4 16 sites)
#
# For each N: brings up `scripts/mesh.sh N` (N circuits in a full Global Reach mesh, FRR at
# every site), waits until every BGP session is Established and every router has every other
# site's prefix, then reads the reachlab process's CPU time over IDLE_SECS (default 20) and
# prints it as % of one core. Then, on topologies/global-reach-frr.toml without its Global
# Reach connection, times `global-reach add` until London's FRR has San Francisco's prefix
# (ROUNDS times, default 5; the median). REACHLAB=path measures another build (an older one,
# in the same run). Cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
require_root bench-idle.sh
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(4 16)
IDLE_SECS=${IDLE_SECS:-20}
ROUNDS=${ROUNDS:-5}
if [ -z "${REACHLAB:-}" ]; then
  require_rust
  scripts/install-deps.sh
  as_builder cargo build --release --quiet
  REACHLAB=$PWD/target/release/reachlab
fi
R=$REACHLAB
WORK=$(mktemp -d)
LAB=""
cleanup() { [ -n "$LAB" ] && $R down "$LAB" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

for n in "${SIZES[@]}"; do
  LAB="idle$$-$n"
  scripts/mesh.sh "$n" "$LAB" > "$WORK/mesh.toml"
  t0=$(date +%s.%N)
  $R up "$WORK/mesh.toml" --detach -q >/dev/null
  pid=$($R status -o json | jq -r --arg l "$LAB" '.[] | select(.lab == $l) | .pid')
  # Converged: every router holds the /24 of every site its circuit has Global Reach with.
  want=()
  for ((i = 0; i < n; i++)); do want[i]=$(grep -c "^circuits = .*\"er-$i\"" "$WORK/mesh.toml" || true); done
  grs=$(grep -c '^\[\[global_reach\]\]' "$WORK/mesh.toml")
  for _ in $(seq 600); do
    ok=1
    for ((i = 0; i < n; i++)); do
      c=$($R exec --lab "$LAB" "s$i" -- vtysh -c 'show ip route bgp json' 2>/dev/null | jq '[keys[] | select(startswith("10."))] | length' 2>/dev/null || echo 0)
      [ "${c:-0}" -ge "${want[i]}" ] || { ok=0; break; }
    done
    [ $ok = 1 ] && break
    sleep 1
  done
  [ $ok = 1 ] || { echo "mesh of $n did not converge" >&2; exit 1; }
  conv=$(echo "$(date +%s.%N) - $t0" | bc)
  sleep 5
  a=$(ticks "$pid"); sleep "$IDLE_SECS"; b=$(ticks "$pid")
  cpu=$(echo "scale=2; ($b - $a) * 100 / $hz / $IDLE_SECS" | bc)
  printf 'idle  %3d FRR sites, full mesh (%d Global Reach): %6s%% of a core  (up and converged in %.0f s)\n' \
    "$n" "$grs" "$cpu" "$conv"
  $R down "$LAB" >/dev/null
  LAB=""
done

LAB="gradd$$"
sed -e "s/^name = \"global-reach-frr\"/name = \"$LAB\"/" -e '/^\[\[global_reach\]\]/,$d' \
  topologies/global-reach-frr.toml > "$WORK/gr.toml"
$R up "$WORK/gr.toml" --detach -q >/dev/null
has_sf() { $R exec --lab "$LAB" london -- vtysh -c 'show ip route 10.0.1.0/24 json' 2>/dev/null | jq -e 'has("10.0.1.0/24")' >/dev/null 2>&1; }
for _ in $(seq 120); do
  [ "$($R exec --lab "$LAB" london -- vtysh -c 'show ip route bgp json' | jq '[keys[] | select(. == "10.0.3.0/24" or . == "10.0.4.0/24")] | length')" = 2 ] && break
  sleep 0.5
done
times=()
for r in $(seq "$ROUNDS"); do
  t0=$(date +%s%N)
  $R global-reach add --lab "$LAB" er-sv er-london --address-prefix 192.168.8.0/29 -q >/dev/null
  until has_sf; do sleep 0.01; done
  times+=($(( ($(date +%s%N) - t0) / 1000000 )))
  $R global-reach remove --lab "$LAB" er-sv er-london -q >/dev/null
  for _ in $(seq 500); do has_sf || break; sleep 0.02; done
done
med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "global-reach add -> in London's FRR: median ${med} ms over $ROUNDS (${times[*]} ms; includes ~10 ms per vtysh poll)"
