#!/usr/bin/env bash
# The criterion benchmarks of every crate, with short settings, kept as named baselines and
# compared. Informational: these machines are noisy, so a slower figure is printed, never a
# failure (the script fails only when a benchmark cannot build or run).
#
#   scripts/bench.sh save NAME [ARGS...]     run every bench, keep the results as baseline NAME
#   scripts/bench.sh compare NAME [ARGS...]  run every bench again, print the changes against NAME
#   scripts/bench.sh table BASE [NEW]        print the changes between two stored baselines
#                                            (NEW defaults to `new`, the latest run)
#
# ARGS go to criterion after the settings: a filter (`fpgrowth`, `tune_minilm/train`) or more
# flags. Settings (environment):
#   BENCH_WARM_UP    seconds of warm-up per benchmark (0.5)
#   BENCH_MEASURE    seconds of measurement per benchmark (1; criterion stretches it to take
#                    its 10 samples of slow benchmarks)
#   BENCH_THRESHOLD  percent change of the mean time that counts, when the whole 95 %
#                    interval of the change lies beyond it (10); also criterion's
#                    --noise-threshold
#   BENCH_ALL=1      print every benchmark, not only the changes
# Results and HTML reports: target/criterion (report/index.html), or $CRITERION_HOME.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
    exit 2
}
[[ $# -ge 2 ]] || usage
command=$1
name=$2
shift 2
# `new` is criterion's latest run and `change` its comparison: not names to save under.
[[ $name =~ ^[A-Za-z0-9_.-]+$ && ($command == table || ($name != new && $name != change)) ]] || {
    echo "bench.sh: '$name' is not a usable baseline name (letters, digits, . _ -; not new or change)" >&2
    exit 2
}

warm_up=${BENCH_WARM_UP:-0.5}
measure=${BENCH_MEASURE:-1}
threshold=${BENCH_THRESHOLD:-10}
criterion_dir=${CRITERION_HOME:-${CARGO_TARGET_DIR:-$root/target}/criterion}
settings=(--warm-up-time "$warm_up" --measurement-time "$measure"
    --noise-threshold "$(awk "BEGIN { print $threshold / 100 }")")

# Prints the benchmarks whose mean time per iteration moved by more than the threshold between
# baselines $1 and $2 (only those run since epoch second $3, when given), as criterion decides:
# the whole 95 % bootstrap interval of the change lies beyond the threshold.
table() {
    python3 - "$criterion_dir" "$1" "$2" "$threshold" "${3:-0}" "${BENCH_ALL:-0}" <<'EOF'
import json, os, random, sys

root, base, new, threshold, since, show_all = sys.argv[1:]
threshold, since = float(threshold), float(since)
rng = random.Random(0)

def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

def rate(ns, throughput):
    if not throughput:
        return ""
    ((kind, n),) = throughput.items()
    per_s = n / (ns / 1e9)
    step, prefixes, unit = {
        "Bytes": (1024, ("", "Ki", "Mi", "Gi"), "B/s"),
        "BytesDecimal": (1000, ("", "K", "M", "G"), "B/s"),
        "Elements": (1000, ("", "K", "M", "G"), "elem/s"),
    }[kind]
    power = 0
    while power < 3 and per_s >= step ** (power + 1):
        power += 1
    return f"{per_s / step ** power:.3g} {prefixes[power]}{unit}"

def per_iteration(path):
    with open(path) as f:
        sample = json.load(f)
    return [t / i for t, i in zip(sample["times"], sample["iters"])]

def mean(xs):
    return sum(xs) / len(xs)

def change_interval(before, after, resamples=2000):
    """95 % bootstrap interval of mean(after) / mean(before) - 1, in percent."""
    ratios = sorted(
        mean(rng.choices(after, k=len(after))) / mean(rng.choices(before, k=len(before))) - 1
        for _ in range(resamples)
    )
    return ratios[int(0.025 * resamples)] * 100, ratios[int(0.975 * resamples) - 1] * 100

rows = []
for dirpath, dirs, files in os.walk(root):
    if os.path.basename(dirpath) != new or "sample.json" not in files:
        continue
    bench = os.path.dirname(dirpath)
    before_path = os.path.join(bench, base, "sample.json")
    after_path = os.path.join(dirpath, "sample.json")
    if not os.path.isfile(before_path) or os.path.getmtime(after_path) < since:
        continue
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        meta = json.load(f)
    before, after = per_iteration(before_path), per_iteration(after_path)
    change = (mean(after) / mean(before) - 1) * 100
    low, high = change_interval(before, after)
    verdict = "slower" if low > threshold else "faster" if high < -threshold else ""
    rows.append((meta["full_id"], mean(before), mean(after), change, low, high, verdict,
                 rate(mean(after), meta.get("throughput"))))

if not rows:
    print(f"no benchmark has both '{base}' and '{new}' results under {root}")
    sys.exit(0)
rows.sort()
shown = rows if show_all == "1" else [r for r in rows if r[6]]
print()
print(f"mean time per iteration, '{base}' -> '{new}': changes whose 95 % interval lies beyond "
      f"±{threshold:g}% (informational: shared machines are noisy)")
if shown:
    width = max(len(r[0]) for r in shown)
    print(f"{'benchmark':<{width}}  {base:>10}  {new:>10}  {'change':>8}  {'interval':>18}  "
          f"{'throughput':>12}")
    for full_id, old_ns, new_ns, change, low, high, verdict, throughput in shown:
        line = (f"{full_id:<{width}}  {fmt(old_ns):>10}  {fmt(new_ns):>10}  {change:>+7.1f}%  "
                f"[{low:>+6.1f}%, {high:>+6.1f}%]  {throughput:>12}  {verdict}")
        print(line.rstrip())
slower = sum(r[6] == "slower" for r in rows)
faster = sum(r[6] == "faster" for r in rows)
print(f"{len(rows)} benchmarks compared: {slower} slower, {faster} faster, "
      f"{len(rows) - slower - faster} within noise")
print(f"report: {os.path.join(root, 'report', 'index.html')}")
EOF
}

case $command in
save)
    bash scripts/bootstrap.sh
    cargo bench --workspace -- "${settings[@]}" --save-baseline "$name" "$@"
    echo "baseline '$name' saved under $criterion_dir; report: $criterion_dir/report/index.html"
    ;;
compare)
    bash scripts/bootstrap.sh
    started=$(date +%s)
    # Lenient: a benchmark added since the baseline was saved runs without a comparison.
    cargo bench --workspace -- "${settings[@]}" --baseline-lenient "$name" "$@"
    table "$name" new "$started"
    ;;
table)
    table "$name" "${1:-new}"
    ;;
*)
    usage
    ;;
esac
