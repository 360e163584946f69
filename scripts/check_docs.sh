#!/usr/bin/env bash
# The documentation builds without libtorch, as docs.rs builds it: each crate with the
# features its `[package.metadata.docs.rs]` names (`doc-only` is tch's switch that builds and
# links nothing of libtorch), warnings as errors (broken links included). Run by CI before the
# bootstrap, when no libtorch is installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export RUSTDOCFLAGS="-D warnings"
# A target folder of its own: the doc-only build of torch-sys must not replace the real one.
export CARGO_TARGET_DIR=$PWD/target/docs-only
cargo doc --no-deps -p affinity-core -p affinity-data -p affinity-mine -p affinity-rank -p affinity-cli
cargo doc --no-deps -p affinity-tune --features doc-only
cargo doc --no-deps -p affinity-recommend -p affinity-serve --features doc-only
cargo doc --no-deps -p affinity --no-default-features --features model,serve,doc-only
echo "docs: every crate documents without libtorch"
