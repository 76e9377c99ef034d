#!/usr/bin/env bash
# The test command: every test, including the ones that need root (namespaces, TUN devices,
# real ping / traceroute / iperf3). Fails when any test fails or when a test left a
# namespace behind.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh runs the namespace tests too: run it as root (or with sudo)." >&2
  echo "Without root, 'cargo test' runs them as SKIPPED with a loud message." >&2
  exit 1
fi
scripts/install-deps.sh
before=$(ip netns list | awk '{print $1}' | sort)
cargo test --locked --lib --bins --tests -- --test-threads 2
# The criterion benches run once each in test mode: they must keep working.
cargo test --locked --benches
after=$(ip netns list | awk '{print $1}' | sort)
leaked=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
if [ -n "$leaked" ]; then
  echo "tests left namespaces behind: $leaked" >&2
  exit 1
fi
echo "all tests passed; no namespace left behind"
