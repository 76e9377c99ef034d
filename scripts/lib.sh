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
