#!/usr/bin/env bash
# Makes sure the Rust toolchain that rust-toolchain.toml pins is installed with its components
# and targets (wasm32-wasip2 builds the plugins). rustup on the build machines does not install
# what rust-toolchain.toml lists by itself (RUSTUP_AUTO_INSTALL=0), so every entry point —
# .ci/run, scripts/test.sh, scripts/demo.sh — runs this first. Only touches the network when
# something is missing; takes well under a second otherwise.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

[ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) PATH=$HOME/.cargo/bin:$PATH ;; esac
command -v rustup >/dev/null || die "rustup not found (PATH=$PATH): install it from https://rustup.rs"

# The channel, components and targets rust-toolchain.toml names.
channel=$(sed -n 's/^channel *= *"\(.*\)".*/\1/p' rust-toolchain.toml)
list() { sed -n "s/^$1 *= *\[\(.*\)\].*/\1/p" rust-toolchain.toml | tr -d '" ' | tr ',' ' '; }
components=$(list components)
targets=$(list targets)
[ -n "$channel" ] || die "rust-toolchain.toml names no channel"

if ! grep -q "^$channel-" <<<"$(rustup toolchain list)"; then
    log "installing toolchain $channel"
    rustup toolchain install "$channel" --profile minimal >&2
fi
installed_components=$(rustup component list --installed --toolchain "$channel")
for c in $components; do
    grep -q "^$c-" <<<"$installed_components" || {
        log "adding component $c"
        rustup component add --toolchain "$channel" "$c" >&2
    }
done
installed_targets=$(rustup target list --installed --toolchain "$channel")
for t in $targets; do
    grep -qx "$t" <<<"$installed_targets" || {
        log "adding target $t"
        rustup target add --toolchain "$channel" "$t" >&2
    }
done
