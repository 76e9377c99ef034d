#!/usr/bin/env bash
# Runs reachlab's cargo-fuzz targets (engine, topology, control, bgp, import, ether; see fuzz/) and reports the
# executions and crashes of each.
#
#   scripts/fuzz.sh [SECONDS]   each target for SECONDS (default 60), two at a time
#
# Needs cargo-fuzz (installed when missing) and libFuzzer's nightly-only flags, which the
# machine's stable toolchain accepts with RUSTC_BOOTSTRAP=1. Built in release with debug
# assertions (integer overflow panics) and without a sanitizer: the fuzzed code has no
# `unsafe`, so AddressSanitizer would only halve the executions. Corpora persist in
# fuzz/corpus/TARGET (seeded from the repository's topology files); a crash leaves its input in
# fuzz/artifacts/TARGET and makes this script exit 1. Runs as any user; touches no network.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
case $secs in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
flags=(-O -a -s none --no-trace-compares)
echo "== building the fuzz targets"
(cd fuzz && cargo fuzz build "${flags[@]}")
bin=fuzz/target/x86_64-unknown-linux-gnu/release

mkdir -p fuzz/corpus/{engine,topology,control,bgp,import,ether} fuzz/artifacts/{engine,topology,control,bgp,import,ether}
cp topologies/*.toml tests/topologies/good/*.toml tests/topologies/bad/*.toml fuzz/corpus/topology/
cp tests/fixtures/az/*.json fuzz/corpus/import/

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
run() { # target
    local t=$1 dict=()
    [[ -f fuzz/dicts/$t.dict ]] && dict=(-dict="fuzz/dicts/$t.dict")
    "$bin/$t" "fuzz/corpus/$t" "${dict[@]}" -artifact_prefix="fuzz/artifacts/$t/" \
        -max_total_time="$secs" -print_final_stats=1 -close_fd_mask=3 >"$logs/$t.log" 2>&1
}
echo "== fuzzing: engine, topology, control, bgp, import, ether, ${secs} s each, two at a time"
status=0
run engine & a=$!
run topology & b=$!
wait $a || status=1
run control & c=$!
wait $b || status=1
run bgp & d=$!
wait $c || status=1
run import & e=$!
wait $d || status=1
run ether & f=$!
wait $e || status=1
wait $f || status=1

total=0
crashes=0
printf '%-10s %14s %8s %8s\n' target executions exec/s crashes
for t in engine topology control bgp import ether; do
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)
    n=$(find "fuzz/artifacts/$t" -type f | wc -l)
    printf '%-10s %14s %8s %8s\n' "$t" "${runs:-?}" "${rate:-?}" "$n"
    total=$((total + ${runs:-0}))
    crashes=$((crashes + n))
    if grep -q -E "panicked|ERROR: libFuzzer|SUMMARY" "$logs/$t.log"; then
        status=1
        grep -E -A 12 "panicked|ERROR: libFuzzer" "$logs/$t.log" | head -30
    fi
done
printf '%-10s %14s %8s %8s\n' total "$total" "" "$crashes"
[[ $crashes -eq 0 ]] || status=1
exit $status
