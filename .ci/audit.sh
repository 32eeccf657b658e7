#!/usr/bin/env bash
# Dependency audit with cargo-deny, configured by deny.toml: security advisories (when the RustSec
# database can be fetched), licenses, bans (duplicate crates, wildcard versions) and sources.
#
# cargo-deny is installed from crates.io when missing; that build takes several minutes on a small
# machine. The advisory database lives on GitHub: when it cannot be fetched, the script says so
# loudly and runs the other checks; set MUTESTORE_AUDIT_REQUIRE_ADVISORIES=1 to fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "== cargo-deny is missing: cargo install --locked cargo-deny"
    started=$(date +%s)
    cargo install --locked cargo-deny
    echo "== cargo-deny installed in $(($(date +%s) - started)) s"
fi
cargo deny --version

checks=(licenses bans sources)
echo "== fetching the RustSec advisory database"
if cargo deny fetch db; then
    checks=(advisories "${checks[@]}")
else
    echo "!!"
    echo "!! ADVISORIES NOT CHECKED: the RustSec advisory database"
    echo "!! (https://github.com/RustSec/advisory-db) cannot be fetched from this machine."
    echo "!! Only licenses, bans (duplicate crates, wildcard versions) and sources are checked."
    echo "!!"
    if [[ "${MUTESTORE_AUDIT_REQUIRE_ADVISORIES:-0}" == 1 ]]; then
        echo "error: MUTESTORE_AUDIT_REQUIRE_ADVISORIES=1 and the advisories could not be checked" >&2
        exit 1
    fi
fi

echo "== cargo deny check ${checks[*]}"
cargo deny check "${checks[@]}"
