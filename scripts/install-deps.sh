#!/usr/bin/env bash
# Installs what the build, the demo and the tests need, when missing: a C toolchain and linker
# (build-essential: cargo links with cc), ping, traceroute, iperf3, ip, jq, tcpdump (reads the
# pcap `reachlab capture` writes), FRR (the real router of the demo and the BGP tests); for the
# tests also curl, Chromium (the browser the live view's tests drive, headless) and BIRD 2 (a
# second BGP implementation, as an external site's router).
#
#   scripts/install-deps.sh          everything (the tests, CI)
#   scripts/install-deps.sh demo     only what scripts/demo.sh uses, so a first run is short
#
# For
# apt-based distributions (Debian, Ubuntu); elsewhere it names the packages to install. Rust
# itself comes from rustup (see README, Prerequisites).
set -euo pipefail
missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v traceroute >/dev/null 2>&1 || missing+=(traceroute)
command -v iperf3 >/dev/null 2>&1 || missing+=(iperf3)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
[ -x /usr/lib/frr/bgpd ] || missing+=(frr)
if [ "${1:-}" != demo ]; then
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v bird >/dev/null 2>&1 || missing+=(bird2)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing: ${missing[*]} (Debian package names); install them with your distribution's package manager" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) or run this as root" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
# bird2's package enables and starts a BIRD in the root namespace where systemd runs; the tests
# start their own, in lab namespaces, so the one just installed is stopped and disabled.
if [[ " ${missing[*]} " == *" bird2 "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now bird.service >/dev/null 2>&1 || true
fi
