#!/usr/bin/env bash
# Every crate is publishable on its own: `cargo package` lists and checks each package, the
# libtorch-free ones are built and tested from their packaged sources (`--verify`), no build
# script reaches outside its package, and no locked dependency needs a newer Rust than the
# workspace's `rust-version` (clippy's `incompatible_msrv` lint, on in CI, covers the standard
# library APIs our own code uses).
#
#   bash scripts/check_packages.sh [--verify]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# A package cannot include another package's files: cargo leaves them out of the tarball.
if grep -rn 'include!("\.\./\|include!("crates/' --include=build.rs . 2>/dev/null | grep -v '^./target/'; then
    echo "error: a build script includes a file outside its package" >&2
    exit 1
fi

out=$(cargo package --workspace --no-verify --allow-dirty 2>&1) || { echo "$out" >&2; exit 1; }
if grep -q '^warning' <<<"$out"; then
    echo "$out" >&2
    echo "error: cargo package warned" >&2
    exit 1
fi
echo "cargo package: $(grep -c 'Packaged' <<<"$out") packages"

if [[ ${1:-} == --verify ]]; then
    # Built from the tarballs, with their dependencies from the registry. Cargo treats the
    # packages of its temporary registry as immutable by name and version, sources and builds
    # alike: without removing both, a crate would be verified against an older package of its
    # workspace dependency. A target folder of its own keeps that away from everyday builds.
    export CARGO_TARGET_DIR=$PWD/target/package-verify
    rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/affinity-* \
        "$CARGO_TARGET_DIR"/debug/.fingerprint/affinity-* "$CARGO_TARGET_DIR"/debug/deps/*affinity*
    cargo package --allow-dirty -p affinity-core -p affinity-build -p affinity-data -p affinity-mine \
        -p affinity-rank -p affinity-cli
fi

cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
meta = json.load(sys.stdin)
def version(v): return tuple((list(map(int, v.split("."))) + [0, 0])[:3])
ours = {p["name"]: p["rust_version"] for p in meta["packages"] if p["source"] is None}
msrv = min(version(v) for v in ours.values())
newer = [(p["name"], p["version"], p["rust_version"]) for p in meta["packages"]
         if p["source"] and p.get("rust_version") and version(p["rust_version"]) > msrv]
if newer:
    sys.exit(f"error: dependencies need a newer Rust than rust-version {msrv}: {newer}")
print("rust-version", ".".join(map(str, msrv)), "covers every locked dependency")
'
