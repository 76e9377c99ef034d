#!/usr/bin/env bash
# Prints a topology of N circuits (Premium, 1 Gbit/s, peering locations with Global Reach in
# turn) in a full Global Reach mesh, each with one site whose router is FRR: the lab the idle
# cost of the MSEEs' BGP sessions is measured on (benches/mesh-frr-16.toml is `mesh.sh 16`).
# Past the catalogue's 29 Global Reach locations two circuits share a location, and Global
# Reach joins circuits at different locations only: those pairs are left out of the mesh.
#
#   scripts/mesh.sh N [LAB]      (N from 2 to 64)
set -euo pipefail
N=${1:?usage: scripts/mesh.sh N [LAB]}
LAB=${2:-mesh-frr-$N}
if ! [[ $N =~ ^[0-9]+$ ]] || [ "$N" -lt 2 ] || [ "$N" -gt 64 ]; then
  echo "mesh.sh: N must be a number from 2 to 64" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
mapfile -t LOCS < <(awk '/^\[\[location\]\]/{n=""} /^name = /{n=$0} /^global_reach = true/{sub(/^name = /,"",n); print n}' src/catalogue.toml)
echo "#:schema ../topologies/reachlab.schema.json"
echo "# $N circuits in a full Global Reach mesh (but pairs at one location), FRR at every site (scripts/mesh.sh $N)."
echo
echo "[lab]"
echo "name = \"$LAB\""
for ((i = 0; i < N; i++)); do
  echo
  echo "[[circuit]]"
  echo "name = \"er-$i\""
  echo "peering_location = ${LOCS[i % ${#LOCS[@]}]}"
  echo "bandwidth = \"1Gbps\""
  echo "sku = \"Premium\""
  echo "peering_prefix = \"172.16.$((i / 32)).$(((i % 32) * 8))/29\""
done
for ((i = 0; i < N; i++)); do
  echo
  echo "[[site]]"
  echo "name = \"s$i\""
  echo "circuit = \"er-$i\""
  echo "prefixes = [\"10.$((i / 200 + 1)).$((i % 200)).0/24\"]"
  echo "router = \"frr\""
done
g=0
for ((i = 0; i < N; i++)); do
  for ((j = i + 1; j < N; j++)); do
    [ $((i % ${#LOCS[@]})) -ne $((j % ${#LOCS[@]})) ] || continue
    echo
    echo "[[global_reach]]"
    echo "circuits = [\"er-$i\", \"er-$j\"]"
    echo "address_prefix = \"100.64.$((g / 32)).$(((g % 32) * 8))/29\""
    g=$((g + 1))
  done
done
