#!/usr/bin/env bash
# Soak: SF <-> London under load while Global Reach is switched on and off every second.
#
#   scripts/soak.sh [SECONDS]       (as root; default 600)
#
# Brings up the seed (Global Reach removed at start), runs iperf3 -P 4 SF -> London and a ping
# -i 0.2 alongside for the whole time, and toggles `global-reach add/remove` every second.
# Reports: panics in the lab's log (must be 0), the lab process's RSS measured twice under the
# same conditions - idle, queues drained, after a 20-s warm-up at full load and after the soak -
# (RSS under load follows the bytes in flight in the delay lines, so only idle samples compare),
# and ping loss counted only over pings sent while the link was up (and stayed up for the
# round trip). Cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
. scripts/lib.sh
require_root soak.sh
require_rust
scripts/install-deps.sh
as_builder cargo build --release --quiet
R=$PWD/target/release/reachlab
LAB="soak$$"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  $R down "$LAB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

sed -e "s/^name = \"global-reach\"/name = \"$LAB\"/" -e '/^\[\[global_reach\]\]/,$d' \
  topologies/global-reach.toml > "$WORK/soak.toml"
$R up "$WORK/soak.toml" --detach >/dev/null
PID=$(jq .pid "/run/reachlab/$LAB/state.json")
for ep in sf london; do
  $R exec --lab "$LAB" $ep -- sysctl -qw net.ipv4.tcp_rmem="4096 131072 33554432" net.ipv4.tcp_wmem="4096 131072 33554432"
done

# Linked at the start, so iperf3 can connect; its flows then ride out the toggling.
$R global-reach add er-sv er-london --address-prefix 192.168.8.0/29 --lab "$LAB" >/dev/null
linked=1
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
# Warm-up: the same load, linked, so the allocator reaches its working size; then idle.
$R exec --lab "$LAB" london -- iperf3 -s -1 -p 5701 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
$R exec --lab "$LAB" sf -- iperf3 -c 10.0.2.1 -p 5701 -P 4 -t 20 --connect-timeout 3000 > "$WORK/warmup.txt" 2>&1 || true
sleep 2
warm=$(rss)
: > "$WORK/toggles.txt"
echo "$(date +%s.%N) 1" >> "$WORK/toggles.txt"
# iperf3 -P 4 for the whole run; when a flapping path makes iperf3 give up (its idle timeout),
# it is started again while linked, and the restarts are counted.
RESTARTS=0
start_iperf() { # seconds
  $R exec --lab "$LAB" london -- iperf3 -s -1 -p 5701 >/dev/null 2>&1 &
  PIDS+=($!)
  sleep 0.5
  $R exec --lab "$LAB" sf -- iperf3 -c 10.0.2.1 -p 5701 -P 4 -t "$1" --connect-timeout 3000 >> "$WORK/iperf.txt" 2>&1 &
  CLIENT=$!
  PIDS+=($CLIENT)
}
start_iperf "$SECS"
$R exec --lab "$LAB" sf -- ping -n -D -O -i 0.2 -W 1 -c $((SECS * 5)) 10.0.2.1 > "$WORK/ping.txt" 2>&1 &
PIDS+=($!)

# Let iperf3's connections establish over the 141 ms round trip before the toggling starts.
sleep 3
end=$(( $(date +%s) + SECS ))
while [ "$(date +%s)" -lt "$end" ]; do
  if [ $linked = 0 ]; then
    $R global-reach add er-sv er-london --address-prefix 192.168.8.0/29 --lab "$LAB" >/dev/null
    linked=1
    left=$(( end - $(date +%s) ))
    if ! kill -0 "$CLIENT" 2>/dev/null && [ "$left" -gt 10 ]; then
      RESTARTS=$((RESTARTS + 1))
      start_iperf "$left"
    fi
  else
    $R global-reach remove er-sv er-london --lab "$LAB" >/dev/null
    linked=0
  fi
  echo "$(date +%s.%N) $linked" >> "$WORK/toggles.txt"
  sleep 1
done
peak=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
wait "$CLIENT" 2>/dev/null || true
# Idle again: every delay line and queue drained (the longest is well under a second).
sleep 2
end_rss=$(rss)

# Ping loss over requests sent while linked. A reply's send time is its arrival (-D) minus its
# RTT; a lost request's is interpolated between the nearest answered ones. A request counts
# when the link was up at its send time and stayed up for 0.3 s (a 141 ms round trip plus
# margin).
loss=$(awk '
  FNR == NR { t[NR] = $1; s[NR] = $2; n = NR; next }
  /bytes from/ {
    match($0, /icmp_seq=[0-9]+/); q = substr($0, RSTART + 9, RLENGTH - 9) + 0
    match($0, /time=[0-9.]+/); rtt = substr($0, RSTART + 5, RLENGTH - 5) / 1000
    ts = substr($1, 2, length($1) - 2)
    sent[q] = ts - rtt; if (q > maxq) maxq = q
  }
  /no answer yet|Unreachable/ { match($0, /icmp_seq=[0-9]+/); q = substr($0, RSTART + 9, RLENGTH - 9) + 0; if (q > maxq) maxq = q }
  END {
    prev = 0
    for (q = 1; q <= maxq; q++) {
      if (q in sent) { prev = q; continue }
      # interpolate between the answered neighbours
      nx = q + 1; while (nx <= maxq && !(nx in sent)) nx++
      if (prev && nx <= maxq) est[q] = sent[prev] + (sent[nx] - sent[prev]) * (q - prev) / (nx - prev)
    }
    for (q = 1; q <= maxq; q++) {
      at = (q in sent) ? sent[q] : ((q in est) ? est[q] : -1)
      if (at < 0) continue
      up = 0
      for (i = 1; i <= n; i++) if (t[i] <= at) up = s[i]
      ok = up
      for (i = 1; i <= n; i++) if (t[i] > at && t[i] < at + 0.3) ok = 0
      if (ok) { total++; if (q in sent) hit++ }
    }
    printf "%d %d", total, total - hit
  }' "$WORK/toggles.txt" "$WORK/ping.txt")
read -r sent lost <<< "$loss"
panics=$(grep -c "panicked" "/run/reachlab/$LAB.log" 2>/dev/null || true)
toggles=$(wc -l < "$WORK/toggles.txt")
echo "soak: $SECS s, Global Reach toggled $toggles times, iperf3 -P 4 alongside (restarted $RESTARTS times)"
echo "  panics in the lab log:          ${panics:-0}"
echo "  lab RSS idle after warm-up / idle at the end: $warm kB / $end_rss kB ($(awk -v a="$warm" -v b="$end_rss" 'BEGIN{printf "%+.1f%%", 100*(b-a)/a}')); peak under load $peak kB"
echo "  ping while linked:              $sent sent, $lost lost ($(awk -v s="$sent" -v l="$lost" 'BEGIN{printf "%.2f%%", s ? 100*l/s : 0}'))"
grep -E "SUM.*(sender|receiver)" "$WORK/iperf.txt" | sed 's/^/  iperf3 /' || true
grep -E "^iperf3: error" "$WORK/iperf.txt" | sort | uniq -c | sed 's/^/  /' || true
