#!/usr/bin/env bash
# Fitted bundles on Amazon Scientific (4,385 items), measured as users run them: whole
# processes of the release binary, side by side in one run.
#
#   bash benches/bundle_scientific.sh [SCIENTIFIC_PREFIX]
#
# 1. `affinity fit --tune` once; the bundle's size with f32 and with bf16 vectors.
# 2. `affinity recommend --bundle` (load + one answer) against fitting on the spot with
#    `recommend --input` (what every call did before bundles), 7 and 3 runs.
# 3. `Recommender::load` alone (examples/bundle.rs --timings).
# 4. `affinity update` with 1 % new events against a fresh `fit` on all events, and the two
#    bundles compared file by file.
# Set AFFINITY_BASELINE_BIN to a binary built before bundles to time its `recommend --input`
# instead of this one's (both fit on the spot the same way).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${1:-$root/../shared/datasets/amazon-scientific/Scientific}
out=${OUT:-$root/out/bench-bundle}
A=$root/target/release/affinity
base=${AFFINITY_BASELINE_BIN:-$A}
if [ ! -f "$prefix.test.inter" ]; then
  echo "no Scientific data at $prefix (see ../shared/datasets); nothing measured" >&2
  exit 0
fi
(cd "$root" && cargo build --release --bin affinity --bin affinity-model --example bundle >/dev/null)
mkdir -p "$out"
# The example's settings: history of 5 titles, 128 tokens, fp32 on this CPU.
model=(--max-len 128 --batch-size 128 --history-items 5)
mining=(--min-support 0.0005 --min-confidence 0.02)

seconds() { # seconds of one whole-process run of "$@" (stdout discarded)
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
bytes() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(f["bytes"] for f in m["files"].values()))' "$1/manifest.json"; }

echo "== fit (tuned on validation) =="
fit_s=$(seconds "$A" fit -i "$prefix" -f unisrec "${model[@]}" "${mining[@]}" --tune -o "$out/sci")
"$A" fit -i "$prefix" -f unisrec "${model[@]}" "${mining[@]}" --vectors bf16 -o "$out/sci-bf16" >/dev/null
echo "fit: $fit_s s; bundle $(bytes "$out/sci") bytes (f32 vectors), $(bytes "$out/sci-bf16") bytes (bf16)"
python3 - "$out" <<'PY'
import json, sys
for name in ("sci", "sci-bf16"):
    m = json.load(open(f"{sys.argv[1]}/{name}/manifest.json"))
    enc = sum(f["bytes"] for k, f in m["files"].items() if k.startswith("encoder/"))
    rest = {k: f["bytes"] for k, f in m["files"].items() if not k.startswith("encoder/")}
    print(name, "encoder", enc, rest)
PY

user=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["users"][100])' "$out/sci/users.json")
echo "== recommend, whole process, user $user =="
for _ in 1 2 3 4 5 6 7; do seconds "$A" recommend -b "$out/sci" --user "$user"; done | median > "$out/bundle.s"
for _ in 1 2 3; do
  seconds "$base" recommend -i "$prefix" -f unisrec "${model[@]}" "${mining[@]}" --user "$user"
done | median > "$out/spot.s"
for _ in 1 2 3 4 5 6 7; do seconds "$A" --version; done | median > "$out/version.s"
echo "recommend --bundle: $(cat "$out/bundle.s") s (median of 7); recommend --input: $(cat "$out/spot.s") s (median of 3); affinity --version: $(cat "$out/version.s") s"
echo "ratio: $(echo "scale=1; $(cat "$out/spot.s") / $(cat "$out/bundle.s")" | bc)x"

echo "== Recommender::load alone =="
"$root/target/release/examples/bundle" --timings "$out/sci" --user "$user"

echo "== update with 1 % new events vs a fresh fit on all events =="
python3 - "$prefix" "$out" <<'PY'
import csv, sys
prefix, out = sys.argv[1], sys.argv[2]
def index(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path, encoding="utf-8")]
    return {int(i): name for name, i in rows if i.isdigit()}
users, items = index(prefix + ".user2index"), index(prefix + ".item2index")
text = {}
for line in list(open(prefix + ".text", encoding="utf-8"))[1:]:
    name, _, body = line.rstrip("\n").partition("\t")
    text[name] = body
events = []
for line in list(open(prefix + ".test.inter", encoding="utf-8"))[1:]:
    u, history, target = line.rstrip("\n").split("\t")
    seq = [int(i) for i in history.split()] + [int(target)]
    events.append([(users[int(u)], items[i], t, text.get(items[i], "")) for t, i in enumerate(seq)])
# The newest event of every 14th user is new: about 1 % of all events.
old, new = [], []
for n, seq in enumerate(events):
    if n % 14 == 0:
        old += seq[:-1]; new.append(seq[-1])
    else:
        old += seq
def write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "timestamp", "title"])
        w.writerows(rows)
write(out + "/old.csv", old); write(out + "/new.csv", new); write(out + "/all.csv", old + new)
print(f"{len(old)} old events, {len(new)} new ({100 * len(new) / (len(old) + len(new)):.2f} %)")
PY
fmt=(--time-format unix --baskets user)
"$A" fit -i "$out/old.csv" "${fmt[@]}" "${model[@]}" "${mining[@]}" -o "$out/old" >/dev/null
update_s=$(seconds "$A" update -b "$out/old" --events "$out/new.csv" --time-format unix -o "$out/updated")
refit_s=$(seconds "$A" fit -i "$out/all.csv" "${fmt[@]}" "${model[@]}" "${mining[@]}" -o "$out/refit")
echo "update: $update_s s; fresh fit on all events: $refit_s s; ratio $(echo "scale=1; $refit_s / $update_s" | bc)x"
"$A" update -b "$out/old" --events "$out/new.csv" --time-format unix -o "$out/updated" --json | head -c 600; echo
python3 - "$out/updated" "$out/refit" <<'PY'
import json, sys
a, b = (json.load(open(d + "/manifest.json")) for d in sys.argv[1:])
print("counts identical:", a["counts"] == b["counts"], a["counts"])
for name in sorted(set(a["files"]) | set(b["files"])):
    if not name.startswith("encoder/"):
        print(f"  {name}: {'identical' if a['files'].get(name) == b['files'].get(name) else 'DIFFERENT'}")
PY
