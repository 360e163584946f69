#!/usr/bin/env bash
# Fuzzes the loaders and the miner with cargo-fuzz (libFuzzer): see docs/fuzzing.md.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target (all by default) for SECONDS (default 600), starting from the committed
# seeds in fuzz/seeds/TARGET and the working corpus fuzz/corpus/TARGET (kept between runs, not
# committed). Prints, per target, the executions run and whether it found a crash (with the
# path of the reproducer libFuzzer wrote); exits non-zero if any target crashed or failed to
# run. Needs the nightly toolchain; installs cargo-fuzz on first use. Builds and runs at the
# lowest priority on one job, so a shared machine stays usable.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz="$root/fuzz"

seconds=600
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
if [[ $# -gt 0 && ${1:-} == -* ]]; then
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
fi

all=()
for file in "$fuzz"/fuzz_targets/*.rs; do
    all+=("$(basename "$file" .rs)")
done
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
for target in "${targets[@]}"; do
    if [[ ! -f $fuzz/fuzz_targets/$target.rs ]]; then
        echo "unknown target $target; the targets are: ${all[*]}" >&2
        exit 2
    fi
done

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (once)..." >&2
    CARGO_BUILD_JOBS=1 nice -n 19 cargo install cargo-fuzz --locked -j1
fi

# load_model links libtorch: the bootstrap's libtorch, no sanitizer (libtorch is not built
# for one; Rust's overflow checks and panics still count as crashes) and no leak checks.
flags() {
    if [[ $1 == load_model ]]; then
        echo "--features model --sanitizer none"
    fi
}
for target in "${targets[@]}"; do
    if [[ $target == load_model ]]; then
        bash "$root/scripts/bootstrap.sh"
        # cargo fuzz runs the binary itself: libtorch is found through the bootstrap's path.
        LD_LIBRARY_PATH=$(sed -n 's/^AFFINITY_TORCH_LIB = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
        export LD_LIBRARY_PATH
        break
    fi
done

export CARGO_BUILD_JOBS=1
cd "$root"
echo "building ${#targets[@]} target(s)..." >&2
for target in "${targets[@]}"; do
    # shellcheck disable=SC2046
    nice -n 19 cargo +nightly fuzz build $(flags "$target") "$target"
done

logs="$fuzz/target/logs"
mkdir -p "$logs"
failed=0
summary=()
for target in "${targets[@]}"; do
    corpus="$fuzz/corpus/$target"
    seeds="$fuzz/seeds/$target"
    mkdir -p "$corpus" "$seeds" "$fuzz/artifacts/$target"
    log="$logs/$target.log"
    echo "fuzzing $target for ${seconds}s (log: ${log#"$root"/})..." >&2
    status=0
    # The working corpus first: libFuzzer adds new inputs to the first directory only, so the
    # committed seeds are never written to.
    # shellcheck disable=SC2046
    nice -n 19 cargo +nightly fuzz run $(flags "$target") "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?

    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [[ -n $runs ]] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    [[ -n $runs ]] || runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [[ -n $artifact ]]; then
        [[ $artifact == /* ]] || artifact="$root/fuzz/$artifact"
        kind=$(grep -m1 -oE 'panicked at [^ ]+|ERROR: (libFuzzer|AddressSanitizer): [a-z-]+( [a-z-]+)?' "$log" || true)
        line="$target: ${runs:-?} executions (${rate:-?}/s), CRASH (${kind:-see log}): ${artifact#"$root"/}"
        failed=1
    elif [[ $status -ne 0 ]]; then
        line="$target: ${runs:-?} executions, FAILED to run (exit $status): see ${log#"$root"/}"
        failed=1
    else
        line="$target: ${runs:-?} executions (${rate:-?}/s), no crash"
    fi
    echo "$line" >&2
    summary+=("$line")
done

echo
echo "fuzzing summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
