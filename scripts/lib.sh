# Shared by the scripts (sourced, not run): who builds, who runs, and whether Rust is there.
#
# reachlab runs as root (namespaces, TUN devices) but builds as the person who asked: under
# `sudo`, cargo runs as $SUDO_USER with that user's own toolchain (~/.cargo/bin, which sudo's
# secure_path drops), so target/ never becomes root's. As plain root, root builds.

# The minimum Rust, read from Cargo.toml's rust-version so there is one place that says it.
RUST_MIN=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml")

# The user who builds: the one who ran sudo, else whoever runs the script.
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "${SUDO_USER}" != root ]; then
  BUILD_USER=$SUDO_USER
  BUILD_HOME=$(getent passwd "$BUILD_USER" | cut -d: -f6)
else
  BUILD_USER=$(id -un)
  BUILD_HOME=$HOME
fi

# Runs a command as the build user, with that user's cargo first on PATH.
as_builder() {
  local path="$BUILD_HOME/.cargo/bin:$PATH"
  if [ "$BUILD_USER" = "$(id -un)" ]; then
    PATH="$path" "$@"
  else
    # runuser ships with util-linux (always there); sudo may not be installed.
    runuser -u "$BUILD_USER" -- env HOME="$BUILD_HOME" USER="$BUILD_USER" PATH="$path" \
      ${CARGO_TARGET_DIR:+CARGO_TARGET_DIR="$CARGO_TARGET_DIR"} ${CI:+CI="$CI"} "$@"
  fi
}

# Stops the script with one clear message unless the build user has cargo >= RUST_MIN.
require_rust() {
  local v
  if ! v=$(as_builder cargo --version 2>/dev/null); then
    echo "reachlab needs Rust >= $RUST_MIN, and $BUILD_USER has no cargo (looked on PATH and in $BUILD_HOME/.cargo/bin)." >&2
    echo "Install it with rustup (https://rustup.rs): distribution packages are older than $RUST_MIN on Debian 12 and Ubuntu 24.04." >&2
    exit 1
  fi
  v=$(echo "$v" | awk '{print $2}')
  if [ "$(printf '%s\n%s\n' "$RUST_MIN" "${v%%-*}" | sort -V | head -1)" != "$RUST_MIN" ]; then
    echo "reachlab needs Rust >= $RUST_MIN; $BUILD_USER has cargo $v. Update it: rustup update stable" >&2
    exit 1
  fi
}

# Stops the script unless it runs as root.
require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "$1 makes network namespaces and TUN devices: run it as root, or with sudo (it builds as you)." >&2
    exit 1
  fi
}

# The kernel's own forwarding, to measure reachlab against: namespaces $1-a (host A,
# 10.99.1.1), $1-r (a router, ip_forward on) and $1-b (host B, 10.99.2.1), joined by veths
# $1-a0/$1-r0 and $1-b0/$1-r1. The caller removes the namespaces (ip netns del), veths with
# them.
kernel_path() {
  local tag=$1 ka=$1-a kr=$1-r kb=$1-b ns
  for ns in "$ka" "$kr" "$kb"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip link add "$tag-a0" netns "$ka" type veth peer name "$tag-r0" netns "$kr"
  ip link add "$tag-b0" netns "$kb" type veth peer name "$tag-r1" netns "$kr"
  ip -n "$ka" addr add 10.99.1.1/24 dev "$tag-a0"; ip -n "$ka" link set "$tag-a0" up
  ip -n "$kb" addr add 10.99.2.1/24 dev "$tag-b0"; ip -n "$kb" link set "$tag-b0" up
  ip -n "$kr" addr add 10.99.1.254/24 dev "$tag-r0"; ip -n "$kr" link set "$tag-r0" up
  ip -n "$kr" addr add 10.99.2.254/24 dev "$tag-r1"; ip -n "$kr" link set "$tag-r1" up
  ip -n "$ka" route add default via 10.99.1.254
  ip -n "$kb" route add default via 10.99.2.254
  ip netns exec "$kr" sysctl -qw net.ipv4.ip_forward=1
}
