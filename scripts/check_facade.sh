#!/usr/bin/env bash
# The facade stays thin for a library user: `affinity` without default features compiles none
# of the binary's dependencies (clap, progress bars, the server's tokio and axum), and with
# only `model` neither. Run by CI; needs no libtorch (`cargo tree` builds nothing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
banned='^(tokio|axum|hyper|hyper-util|tower|tower-http|clap|clap_complete|clap_mangen|indicatif|tracing-subscriber|anyhow) '
for features in "" "model"; do
    tree=$(cargo tree -p affinity --no-default-features ${features:+--features "$features"} \
        -e normal --prefix none --format '{p}' | sort -u)
    if found=$(grep -E "$banned" <<<"$tree"); then
        echo "error: affinity --no-default-features ${features:+--features $features} compiles:" >&2
        echo "$found" >&2
        exit 1
    fi
done
# And the libraries below it never draw: no indicatif, clap or anyhow in any library crate.
for crate in affinity-core affinity-data affinity-mine affinity-rank affinity-tune affinity-recommend; do
    if found=$(cargo tree -p "$crate" -e normal --prefix none --format '{p}' | sort -u | grep -E "$banned"); then
        echo "error: $crate compiles:" >&2
        echo "$found" >&2
        exit 1
    fi
done
echo "facade: no binary dependency in the libraries or in affinity without default features"
