#!/usr/bin/env bash
# Installs the tools the demo and the tests drive, when missing: ping, traceroute, iperf3, ip, jq,
# tcpdump (reads the pcap `reachlab capture` writes).
set -euo pipefail
missing=()
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
command -v traceroute >/dev/null 2>&1 || missing+=(traceroute)
command -v iperf3 >/dev/null 2>&1 || missing+=(iperf3)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
