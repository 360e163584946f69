"""A slow, obviously correct pure-Python model of the parts of the `affinity` module that
affinity_spark uses (`pfp_shard`, `pfp_mine`, `top_k`), with the same signatures.

It is a test oracle (the parallel split must give the same itemsets as one whole mining); it
was the stand-in for the native module while the wheel was being written (pass it to the code
under test in place of `affinity` to check an idea without a build).
"""

import math

import numpy as np
import pyarrow as pa


def _rows(lists):
    """Python lists from a pyarrow ListArray / ChunkedArray / list of lists (None kept)."""
    if isinstance(lists, (pa.Array, pa.ChunkedArray)):
        return lists.to_pylist()
    return list(lists)


def ranks_of(basket, rank):
    """A basket's global ranks, infrequent items dropped, ascending."""
    return sorted({rank[i] for i in basket if i in rank})


def pfp_shard(baskets, frequent_items, num_groups):
    """Per basket, one conditional prefix per group (Li et al. 2008), as a RecordBatch."""
    items = frequent_items.to_pylist() if hasattr(frequent_items, "to_pylist") else list(frequent_items)
    rank = {item: r for r, item in enumerate(items)}
    groups, prefixes = [], []
    for basket in _rows(baskets):
        if basket is None:
            continue
        ranks = ranks_of(basket, rank)
        seen = set()
        for j in range(len(ranks) - 1, -1, -1):
            g = ranks[j] % num_groups
            if g not in seen:
                seen.add(g)
                groups.append(g)
                prefixes.append(ranks[: j + 1])
    return pa.RecordBatch.from_arrays(
        [pa.array(groups, pa.int32()), pa.array(prefixes, pa.list_(pa.int32()))],
        names=["group", "prefix"],
    )


def _eclat(tids, order, min_count, max_len, emit):
    """Depth-first itemset enumeration over item -> bitset of rows (Python ints)."""

    def grow(prefix, prefix_tids, candidates):
        for i, item in enumerate(candidates):
            t = prefix_tids & tids[item]
            c = bin(t).count("1")
            if c < min_count:
                continue
            itemset = prefix + [item]
            emit(itemset, c)
            if max_len is None or len(itemset) < max_len:
                grow(itemset, t, candidates[i + 1 :])

    everything = (1 << max(1, max((t.bit_length() for t in tids.values()), default=1))) - 1
    grow([], everything, order)


def all_itemsets(rows, min_count, max_len=None):
    """Every itemset of `rows` (lists of hashable, sortable items) with its count."""
    tids = {}
    for n, row in enumerate(rows):
        for item in set(row):
            tids[item] = tids.get(item, 0) | (1 << n)
    out = {}
    _eclat(tids, sorted(tids), min_count, max_len, lambda s, c: out.__setitem__(tuple(s), c))
    return out


def pfp_mine(prefixes, group, num_groups, min_count, *, max_len=None, threads=1):
    """The itemsets of one group's prefixes that the group owns (largest rank in the group)."""
    del threads
    rows = [p for p in _rows(prefixes) if p is not None]
    found = all_itemsets(rows, max(1, min_count), max_len)
    owned = sorted((list(s), c) for s, c in found.items() if s[-1] % num_groups == group)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([s for s, _ in owned], pa.list_(pa.int32())),
            pa.array([c for _, c in owned], pa.int64()),
        ],
        names=["items", "freq"],
    )


def top_k(vectors, queries, k, *, exclude=None, metric="cosine"):
    """Brute-force top-k by dot product of L2-normalised rows, padded with -1 / NaN."""
    v = np.asarray(vectors, dtype=np.float32)
    q = np.asarray(queries, dtype=np.float32)
    if metric == "cosine":
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    scores = q @ v.T
    if exclude is not None and hasattr(exclude, "to_pylist"):
        exclude = exclude.to_pylist()
    idx = np.full((len(q), k), -1, dtype=np.int64)
    val = np.full((len(q), k), np.nan, dtype=np.float32)
    for r in range(len(q)):
        s = scores[r].astype(np.float64)
        if exclude is not None and exclude[r] is not None:
            s[list(exclude[r])] = -math.inf
        order = [j for j in np.argsort(-s, kind="stable") if s[j] != -math.inf][:k]
        idx[r, : len(order)] = order
        val[r, : len(order)] = scores[r, order]
    return idx, val
