#!/usr/bin/env bash
# The test command: every test, including the ones that need root (namespaces, TUN devices,
# real ping / traceroute / iperf3). Builds as the invoking user (under sudo: $SUDO_USER, with
# that user's toolchain, so target/ stays theirs), runs the test binaries as root. Fails when
# any test fails or when a test left a namespace or a /etc/netns entry behind.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh runs the namespace tests too: run it as root, or with sudo (it builds as you)." >&2
  echo "Without root, 'cargo test' runs them as SKIPPED with a loud message." >&2
  exit 1
fi
require_rust
scripts/install-deps.sh
before=$(ip netns list | awk '{print $1}' | sort)
etc_before=$(ls /etc/netns 2>/dev/null | sort || true)

# Build every test binary (unit, integration, and the benches in test mode) as the build user,
# and list them as cargo would run them.
bins=$(as_builder cargo test --locked --lib --bins --tests --benches --no-run \
  --message-format=json-render-diagnostics | jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .executable != null) | "\(.target.kind[0]) \(.target.name) \(.executable)"')

log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0; failed=0; failing=()
while read -r kind name exe; do
  [ -n "$exe" ] || continue
  echo
  echo "== $kind $name"
  args=(--test-threads 2)
  # Criterion benches take no libtest flags: without --bench they run each bench once.
  [ "$kind" = bench ] && args=()
  set +e
  "$exe" "${args[@]}" < /dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  p=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\1/p' "$log" | tail -1)
  f=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\2/p' "$log" | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ]; then
    failing+=("$kind $name")
    [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))
  fi
done <<< "$bins"

after=$(ip netns list | awk '{print $1}' | sort)
leaked=$(comm -13 <(echo "$before") <(echo "$after") | grep . || true)
etc_after=$(ls /etc/netns 2>/dev/null | sort || true)
etc_leaked=$(comm -13 <(echo "$etc_before") <(echo "$etc_after") | grep . || true)
echo
if [ -n "$leaked" ]; then
  echo "tests left namespaces behind: $leaked" >&2
  failed=$((failed + 1))
fi
if [ -n "$etc_leaked" ]; then
  echo "tests left /etc/netns entries behind: $etc_leaked" >&2
  failed=$((failed + 1))
fi
[ ${#failing[@]} -gt 0 ] && echo "failing: ${failing[*]}" >&2
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failing[@]} -eq 0 ] || exit 1
echo "all tests passed; no namespace left behind"
