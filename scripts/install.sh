#!/usr/bin/env bash
# Builds reachlab (release, as the invoking user under sudo) and installs it where
# `sudo reachlab ...` finds it, with shell completions for bash.
#
#   sudo scripts/install.sh            # /usr/local/bin/reachlab
#   sudo PREFIX=/opt/reachlab scripts/install.sh
#   sudo scripts/install.sh --uninstall
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
PREFIX=${PREFIX:-/usr/local}
BIN="$PREFIX/bin/reachlab"
COMPLETION=/usr/share/bash-completion/completions/reachlab
require_root install.sh
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$BIN" "$COMPLETION"
  echo "removed $BIN and $COMPLETION"
  exit 0
fi
require_rust
scripts/install-deps.sh
as_builder cargo build --release --quiet --locked
install -D -m 0755 target/release/reachlab "$BIN"
if [ -d "$(dirname "$COMPLETION")" ]; then
  "$BIN" completions bash > "$COMPLETION"
fi
echo "installed $BIN ($("$BIN" --version))"
# Debian's and Ubuntu's sudo secure_path.
case ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "note: $PREFIX/bin is not on sudo's default PATH (secure_path); call $BIN by its full path" ;;
esac
