#!/usr/bin/env python3
"""The per-group figures behind docs/spark.md's "100 nodes, 10^10 transactions" arithmetic.

On a generated file (`affinity data generate`, Parquet `items: list<int32>`), with the wheel's
own parallel FP-growth steps and no Spark: the frequent items, then `affinity.pfp_shard` into
G groups (the shuffle's content: prefixes per transaction, int32 ranks per transaction), then
`affinity.pfp_mine` of every group, timed one by one (the largest group is the job's tail).

    python benches/pfp_arithmetic.py FILE.parquet [--support 0.001] [--groups 2,200,1600]
"""

import argparse
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import affinity


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file")
    parser.add_argument("--support", type=float, default=0.001)
    parser.add_argument("--groups", default="2,200,1600")
    args = parser.parse_args()

    baskets = pq.read_table(args.file).column("items").combine_chunks()
    n = len(baskets)
    min_count = int(np.ceil(n * args.support - 1e-9))
    counts = pc.value_counts(pc.list_flatten(baskets))
    items, freq = counts.field("values").to_numpy(), counts.field("counts").to_numpy()
    keep = freq >= min_count
    order = np.lexsort((items[keep], -freq[keep]))
    frequent = pa.array(items[keep][order], type=pa.int32())
    lengths = pc.list_value_length(baskets).to_numpy()
    report = {"transactions": n, "mean_length": float(lengths.mean()), "min_count": min_count,
              "frequent_items": len(frequent), "groups": []}
    for g in (int(x) for x in args.groups.split(",")):
        start = time.perf_counter()
        shards = pa.Table.from_batches([affinity.pfp_shard(baskets, frequent, g)])
        shard_s = time.perf_counter() - start
        prefix_items = pc.list_value_length(shards.column("prefix")).to_numpy()
        groups = shards.column("group").to_numpy()
        per_group_items = np.bincount(groups, weights=prefix_items, minlength=g)
        per_group_rows = np.bincount(groups, minlength=g)
        # Mine the heaviest groups (all of them when few): the job waits for the slowest.
        heaviest = np.argsort(-per_group_items)[: min(g, 8)]
        times, itemsets = [], 0
        for grp in heaviest:
            rows = shards.filter(pc.equal(shards.column("group"), int(grp))).column("prefix")
            t0 = time.perf_counter()
            mined = affinity.pfp_mine(rows, int(grp), g, min_count)
            times.append(time.perf_counter() - t0)
            itemsets += mined.num_rows
        report["groups"].append({
            "groups": g,
            "shard_seconds": shard_s,
            "prefixes_per_transaction": len(groups) / n,
            "ranks_per_transaction": float(prefix_items.sum()) / n,
            # int32 group + int32 list offset + int32 per rank: what the shuffle carries, before
            # Spark's compression and row overhead.
            "shuffle_bytes_per_transaction": (8 * len(groups) + 4 * float(prefix_items.sum())) / n,
            "largest_group_ranks": float(per_group_items.max()),
            "largest_group_prefixes": int(per_group_rows.max()),
            "mean_group_ranks": float(per_group_items.mean()),
            "heaviest_mined": len(heaviest),
            "heaviest_mine_seconds": times,
        })
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
