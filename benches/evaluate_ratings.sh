#!/usr/bin/env bash
# `affinity evaluate` as a whole process on a generated file shaped like the public 100k-rating
# data of issue 13 (943 users, 1,682 titled items, 100,000 events; benches/ratings_like.py),
# with and without --tune, printing each row's seconds from the JSON and the process's wall
# time and peak memory. Uses the pretrained model the bootstrap fetches.
#
#   bash benches/evaluate_ratings.sh
#
# Do not run it while anything else is busy on the machine: the figures are wall times.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/bootstrap.sh"
(cd "$root" && cargo build --release --bin affinity --bin affinity-model >/dev/null)
out=$root/target/bench-data
mkdir -p "$out"
python3 "$root/benches/ratings_like.py" "$out/ratings_like.csv"
for tune in "" "--tune"; do
    /usr/bin/time -f "%e %M" -o "$out/time.txt" "$root/target/release/affinity" evaluate \
        -i "$out/ratings_like.csv" --hold-out last-item $tune --json >"$out/evaluate.json"
    read -r wall kb <"$out/time.txt"
    echo "evaluate ${tune:-(no --tune)}: ${wall} s, $((kb / 1024)) MiB peak"
    python3 - "$out/evaluate.json" <<'PY'
import json, sys
for row in json.load(open(sys.argv[1])):
    print(f"  {row['name']:<28} NDCG@10 {row['summary']['ndcg']:.4f}  {row['seconds']:6.2f} s")
PY
done
