"""The `affinity` wheel against brute force, numpy and its own documented contract."""

from __future__ import annotations

import decimal
import itertools
import os
import random
import threading
import time
from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

import affinity


def brute_force(baskets, min_count, max_len=None):
    """Every itemset with its count, by enumerating each basket's subsets."""
    counts = Counter()
    for basket in baskets:
        items = sorted(set(basket))
        top = len(items) if max_len is None else min(max_len, len(items))
        for size in range(1, top + 1):
            counts.update(frozenset(c) for c in itertools.combinations(items, size))
    return {s: c for s, c in counts.items() if c >= min_count}


def as_dict(table):
    """A mined table as {frozenset(items): freq}; each itemset must appear once."""
    rows = table.to_pydict()
    out = {frozenset(items): freq for items, freq in zip(rows["items"], rows["freq"])}
    assert len(out) == table.num_rows, "an itemset is reported twice"
    for items in rows["items"]:
        assert len(set(items)) == len(items)
    return out


def random_baskets(seed, n, items, max_size):
    rng = random.Random(seed)
    return [rng.sample(items, rng.randint(0, max_size)) for _ in range(n)]


STRINGS = ["milk", "bread", "eggs", "whole milk", "beer", "diapers", "é", "a,b", ""]


@pytest.mark.parametrize("min_count", [1, 2, 5])
def test_mine_strings_equals_brute_force(min_count):
    baskets = random_baskets(1, 60, STRINGS, 6)
    table = affinity.mine(pa.array(baskets), min_count=min_count)
    assert table.schema == pa.schema([("items", pa.list_(pa.string())), ("freq", pa.int64())])
    assert as_dict(table) == brute_force(baskets, min_count)


def test_mine_ints_equals_brute_force_and_keeps_int_type():
    baskets = random_baskets(2, 80, [0, 7, -3, 2**40, 11, 12, 13], 5)
    table = affinity.mine(baskets, min_count=3, threads=2)
    assert table.schema.field("items").type == pa.list_(pa.int64())
    assert as_dict(table) == brute_force(baskets, 3)
    # Narrow and large-list inputs read the same and still give int64 items.
    narrow = pa.array([[x % 100 for x in b] for b in baskets], pa.large_list(pa.int32()))
    assert as_dict(affinity.mine(narrow, min_count=3)) == brute_force(
        [[x % 100 for x in b] for b in baskets], 3
    )


def test_mine_max_len_closed_maximal():
    baskets = random_baskets(3, 50, STRINGS[:6], 5)
    frequent = brute_force(baskets, 4)
    assert as_dict(affinity.mine(baskets, min_count=4, max_len=2)) == {
        s: c for s, c in frequent.items() if len(s) <= 2
    }
    closed = {
        s: c for s, c in frequent.items() if not any(s < t and frequent[t] == c for t in frequent)
    }
    maximal = {s: c for s, c in frequent.items() if not any(s < t for t in frequent)}
    assert as_dict(affinity.mine(baskets, min_count=4, target="closed")) == closed
    assert as_dict(affinity.mine(baskets, min_count=4, target="maximal")) == maximal


def test_min_support_is_exact_at_the_threshold():
    # 0.07 * 100 is 7.000000000000001 in doubles: a float ceil would ask for 8.
    assert np.ceil(0.07 * 100) == 8
    baskets = [["a"]] * 7 + [["b"]] * 93
    for support in (0.07, "0.07", decimal.Decimal("0.07"), np.float64(0.07)):
        assert as_dict(affinity.mine(baskets, min_support=support)) == {
            frozenset(["a"]): 7,
            frozenset(["b"]): 93,
        }
    assert as_dict(affinity.mine(baskets, min_support=0.0701)) == {frozenset(["b"]): 93}
    # A null basket is no transaction (as `affinity mine` and Spark read it): 100 baskets and
    # 10 nulls still need 7, where 110 transactions would need 8.
    assert as_dict(affinity.mine(baskets + [None] * 10, min_support=0.07)) == {
        frozenset(["a"]): 7,
        frozenset(["b"]): 93,
    }


def test_chunked_pandas_and_stream_inputs():
    pd = pytest.importorskip("pandas")
    baskets = random_baskets(4, 40, STRINGS, 4)
    expected = brute_force(baskets, 2)
    chunked = pa.chunked_array([pa.array(baskets[:15]), pa.array(baskets[15:])])
    assert as_dict(affinity.mine(chunked, min_count=2)) == expected
    assert as_dict(affinity.mine(pd.Series(baskets), min_count=2)) == expected
    arrow_series = pd.Series(pa.array(baskets)).astype(pd.ArrowDtype(pa.list_(pa.string())))
    assert as_dict(affinity.mine(arrow_series, min_count=2)) == expected
    assert as_dict(affinity.mine(pa.table({"b": pa.array(baskets)}), min_count=2)) == expected
    assert as_dict(affinity.mine(pa.RecordBatchReader.from_batches(
        pa.schema([("b", pa.list_(pa.string()))]),
        [pa.record_batch([pa.array(baskets)], names=["b"])],
    ).read_all(), min_count=2)) == expected


class CArray:
    """Only the Arrow PyCapsule array protocol (as polars and nanoarrow objects have)."""

    def __init__(self, array):
        self.array = array

    def __arrow_c_array__(self, requested_schema=None):
        return self.array.__arrow_c_array__(requested_schema)


class CStream:
    """Only the Arrow PyCapsule stream protocol."""

    def __init__(self, chunked):
        self.chunked = chunked

    def __arrow_c_stream__(self, requested_schema=None):
        return self.chunked.__arrow_c_stream__(requested_schema)


def test_arrow_pycapsule_inputs():
    baskets = random_baskets(6, 40, list(range(9)), 4)
    expected = brute_force(baskets, 2)
    assert as_dict(affinity.mine(CArray(pa.array(baskets)), min_count=2)) == expected
    chunked = pa.chunked_array([pa.array(baskets[:5]), pa.array(baskets[5:])])
    assert as_dict(affinity.mine(CStream(chunked), min_count=2)) == expected
    frequent = affinity.mine(baskets, min_count=2)
    assert affinity.rules(CStream(frequent), len(baskets)).equals(
        affinity.rules(frequent, len(baskets))
    )


def test_empty_inputs_keep_their_type():
    assert affinity.mine([], min_count=1).num_rows == 0
    empty_ints = pa.chunked_array([], type=pa.list_(pa.int64()))
    table = affinity.mine(empty_ints, min_count=1)
    assert table.num_rows == 0 and table.schema.field("items").type == pa.list_(pa.int64())
    assert affinity.mine([[], []], min_count=1).num_rows == 0


def test_duplicates_merge_or_reject():
    assert as_dict(affinity.mine([["a", "a", "b"]], min_count=1)) == {
        frozenset("a"): 1,
        frozenset("b"): 1,
        frozenset("ab"): 1,
    }
    with pytest.raises(ValueError, match=r'^transaction 1 lists item "x" more than once$'):
        affinity.mine([["a"], ["x", "b", "x"]], min_count=1, duplicates="reject")
    with pytest.raises(ValueError, match=r"^transaction 0 lists item 5 more than once$"):
        affinity.mine([[5, 5]], min_count=1, duplicates="reject")


def test_errors_are_value_errors_with_the_rust_message():
    with pytest.raises(ValueError, match=r'^invalid setting min_support: "1.5": must be in \(0, 1\]$'):
        affinity.mine([["a"]], min_support=1.5)
    with pytest.raises(ValueError, match="^invalid setting min_support: give exactly one"):
        affinity.mine([["a"]], min_support=0.5, min_count=1)
    with pytest.raises(ValueError, match="^invalid setting min_support: give exactly one"):
        affinity.mine([["a"]])
    with pytest.raises(ValueError, match=r"^invalid setting max_len: 0 must be at least 1$"):
        affinity.mine([["a"]], min_count=1, max_len=0)
    with pytest.raises(ValueError, match='^invalid setting target: "all" is not one of'):
        affinity.mine([["a"]], min_count=1, target="all")
    with pytest.raises(ValueError, match=r"^baskets row 1: holds a null item$"):
        affinity.mine([["a"], ["b", None]], min_count=1)
    with pytest.raises(ValueError, match=r"^baskets row 1: holds a null item$"):
        affinity.mine([[], [None]], min_count=1)  # list<null>
    with pytest.raises(ValueError, match="^baskets: expected a list of strings or integers"):
        affinity.mine(pa.array([1, 2]), min_count=1)
    with pytest.raises(ValueError, match="^baskets: items are strings here but integers before"):
        # (pyarrow cannot chunk two types together; the native call takes chunks as a list)
        affinity._native.mine([pa.array([[1]]), pa.array([["a"]])], min_count=1)
    with pytest.raises(ValueError, match=r"^invalid setting min_confidence: 1.5 is outside \[0, 1\]$"):
        affinity.rules(affinity.mine([["a"]], min_count=1), 1, min_confidence=1.5)


def test_cap_exceeded():
    assert issubclass(affinity.CapExceeded, MemoryError)
    baskets = [list(range(12))] * 3
    with pytest.raises(affinity.CapExceeded, match="^more than 100 itemsets: raise the minimum"):
        affinity.mine(baskets, min_count=1, max_itemsets=100)


def test_rules_measures_against_their_definitions():
    baskets = random_baskets(5, 120, STRINGS[:6], 4)
    n = len(baskets)
    frequent = brute_force(baskets, 6)
    table = affinity.rules(affinity.mine(baskets, min_count=6), n, min_confidence=0.2)
    assert table.column_names[:5] == ["antecedent", "consequent", "confidence", "lift", "support"]
    assert table.column_names[5:] == [
        "antecedent_support", "consequent_support", "leverage", "conviction",
        "zhangs_metric", "jaccard", "certainty", "kulczynski", "count",
    ]
    assert table.schema.field("antecedent").type == pa.list_(pa.string())
    rows = table.to_pylist()
    expected = set()
    for s, c in frequent.items():
        for item in s:
            a = s - {item}
            if a and c / frequent[a] >= 0.2:
                expected.add((a, frozenset([item])))
    assert {(frozenset(r["antecedent"]), frozenset(r["consequent"])) for r in rows} == expected
    for r in rows:
        a, c = frozenset(r["antecedent"]), frozenset(r["consequent"])
        pa_, pc, pac = frequent[a] / n, frequent[c] / n, frequent[a | c] / n
        assert r["count"] == frequent[a | c]
        assert r["support"] == pytest.approx(pac)
        assert r["confidence"] == pytest.approx(pac / pa_)
        assert r["lift"] == pytest.approx(pac / pa_ / pc)
        assert r["leverage"] == pytest.approx(pac - pa_ * pc)
        assert r["jaccard"] == pytest.approx(pac / (pa_ + pc - pac))
        assert r["kulczynski"] == pytest.approx(0.5 * (pac / pa_ + pac / pc))
        if pac < pa_:
            assert r["conviction"] == pytest.approx((1 - pc) / (1 - pac / pa_))
        else:
            assert r["conviction"] == float("inf")
    keys = [(-r["confidence"], -r["lift"]) for r in rows]
    assert keys == sorted(keys)
    # Any consequent (mlxtend) gives more rules, min_lift fewer.
    more = affinity.rules(affinity.mine(baskets, min_count=6), n, min_confidence=0.2,
                          any_consequent=True)
    assert more.num_rows >= table.num_rows
    lifted = affinity.rules(affinity.mine(baskets, min_count=6), n, min_confidence=0.2,
                            min_lift=1.1)
    assert all(r["lift"] >= 1.1 for r in lifted.to_pylist())


def test_rules_name_a_missing_subset_with_the_callers_items():
    itemsets = pa.table({"items": [["x"], ["x", "y"]], "freq": [3, 2]})
    with pytest.raises(ValueError, match=r'^invalid setting itemsets: subset \["y"\] is missing'):
        affinity.rules(itemsets, 5)
    pd = pytest.importorskip("pandas")
    ok = pd.DataFrame({"items": [["x"], ["y"], ["x", "y"]], "freq": [3, 2, 2]})
    assert affinity.rules(ok, 5, min_confidence=0.0).num_rows == 2


def numpy_top_k(vectors, queries, k, exclude, cosine=True):
    v, q = vectors.astype(np.float64), queries.astype(np.float64)
    if cosine:
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-30)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)
    scores = q @ v.T
    out = []
    for row, excluded in enumerate(exclude):
        order = [i for i in np.lexsort((np.arange(len(v)), -scores[row])) if i not in excluded]
        out.append((order[:k], scores[row, order[:k]]))
    return out


@pytest.mark.parametrize("metric", ["cosine", "inner_product"])
def test_top_k_matches_numpy_with_exclusions(metric):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    queries = rng.normal(size=(25, 16))  # float64 and not C-contiguous after slicing: converted
    queries = np.asfortranarray(queries)
    exclude = [sorted(rng.choice(300, size=row % 7, replace=False).tolist()) for row in range(25)]
    idx, scores = affinity.top_k(vectors, queries, 10, exclude=exclude, metric=metric)
    assert idx.shape == scores.shape == (25, 10)
    assert idx.dtype == np.int64 and scores.dtype == np.float32
    for row, (order, expected) in enumerate(
        numpy_top_k(vectors, queries, 10, exclude, cosine=metric == "cosine")
    ):
        assert not set(idx[row]) & set(exclude[row])
        np.testing.assert_allclose(scores[row], expected, rtol=1e-4, atol=1e-4)
        # Same items wherever the scores are not within float error of a tie.
        gaps = np.abs(np.diff(expected)) > 1e-4
        for col in range(10):
            if (col == 0 or gaps[col - 1]) and (col == 9 or gaps[col]):
                assert idx[row, col] == order[col]
    # exclusions as an Arrow list array, with a null row meaning none
    arrow = pa.array([exclude[0], None] + exclude[2:], pa.list_(pa.int32()))
    idx2, _ = affinity.top_k(vectors, queries, 10, exclude=arrow, metric=metric)
    np.testing.assert_array_equal(idx2[0], idx[0])
    idx3, _ = affinity.top_k(vectors, queries, 10, metric=metric)
    np.testing.assert_array_equal(idx2[1], idx3[1])


def test_top_k_pads_with_minus_one_and_nan():
    vectors = np.eye(3, dtype=np.float32)
    idx, scores = affinity.top_k(vectors, vectors[:2], 3, exclude=[[0], [0, 1, 2]])
    assert idx.tolist() == [[1, 2, -1], [-1] * 3]
    assert np.isnan(scores[0, 2:]).all() and np.isnan(scores[1]).all()
    assert scores[0, 0] == 0.0
    idx, scores = affinity.top_k(vectors, vectors, 0)
    assert idx.shape == (3, 0)
    idx[...] = 0  # writable


def test_top_k_modes_discover_mixed_and_buy_again():
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    history = [[0, 5, 9], [1], [], [2, 3]]
    mixed, _ = affinity.top_k(vectors, queries, 5)
    discover, _ = affinity.top_k(vectors, queries, 5, history=history, mode="discover")
    again, scores = affinity.top_k(vectors, queries, 5, history=history, mode="buy-again")
    for row, bought in enumerate(history):
        assert not set(discover[row].tolist()) & set(bought)
        # Buy again holds exactly the history (padded), in the mixed list's order.
        kept = [i for i in again[row].tolist() if i >= 0]
        assert sorted(kept) == sorted(bought)
        full, _ = affinity.top_k(vectors, queries[row : row + 1], 40)
        assert kept == [i for i in full[0].tolist() if i in bought]
        assert np.isnan(scores[row, len(bought) :]).all()
    # Mixed with a history excludes nothing of it.
    same, _ = affinity.top_k(vectors, queries, 5, history=history, mode="mixed")
    np.testing.assert_array_equal(same, mixed)
    # Exclusions still apply on top.
    again2, _ = affinity.top_k(
        vectors, queries[:1], 5, history=history[:1], exclude=[[5]], mode="buy-again"
    )
    assert sorted(i for i in again2[0].tolist() if i >= 0) == [0, 9]
    with pytest.raises(ValueError, match=r"^history: discover and buy-again lists need"):
        affinity.top_k(vectors, queries, 5, mode="discover")
    with pytest.raises(ValueError, match=r'^invalid setting mode: "sideways" is not one of'):
        affinity.top_k(vectors, queries, 5, history=history, mode="sideways")
    with pytest.raises(ValueError, match=r"^history: 1 rows for 4 queries$"):
        affinity.top_k(vectors, queries, 5, history=history[:1], mode="buy-again")


def test_top_k_errors():
    vectors = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"^queries has dimension 2, the index has 3$"):
        affinity.top_k(vectors, np.ones((1, 2)), 2)
    with pytest.raises(ValueError, match=r"^exclude row 0: item 3 is out of range"):
        affinity.top_k(vectors, vectors[:1], 2, exclude=[[3]])
    with pytest.raises(ValueError, match=r"^invalid setting exclude: 1 exclusion lists for 3"):
        affinity.top_k(vectors, vectors, 2, exclude=[[0]])
    with pytest.raises(ValueError, match=r"^item vector row 1 holds a NaN or infinite value$"):
        bad = vectors.copy()
        bad[1, 1] = np.nan
        affinity.top_k(bad, vectors, 2)
    with pytest.raises(ValueError, match=r'^invalid setting metric: "l2"'):
        affinity.top_k(vectors, vectors, 2, metric="l2")


def test_pfp_shard_hand_example():
    # Ranks: a=0, b=1, c=2, d=3 (e is infrequent); two groups: even and odd ranks.
    baskets = pa.array([["d", "a", "e", "c"], ["b"], None, ["e"], ["c", "b", "a", "d"]])
    out = affinity.pfp_shard(baskets, pa.array(["a", "b", "c", "d"]), 2)
    assert isinstance(out, pa.RecordBatch)
    assert out.schema == pa.schema([("group", pa.int32()), ("prefix", pa.list_(pa.int32()))])
    assert out.to_pylist() == [
        # [0, 2, 3]: position 2 (rank 3) is group 1, position 1 (rank 2) group 0.
        {"group": 1, "prefix": [0, 2, 3]},
        {"group": 0, "prefix": [0, 2]},
        {"group": 1, "prefix": [1]},
        {"group": 1, "prefix": [0, 1, 2, 3]},
        {"group": 0, "prefix": [0, 1, 2]},
    ]
    ints = affinity.pfp_shard([[30, 10], [20]], [10, 20, 30], 3)
    assert ints.to_pylist() == [
        {"group": 2, "prefix": [0, 2]},
        {"group": 0, "prefix": [0]},
        {"group": 1, "prefix": [1]},
    ]
    with pytest.raises(ValueError, match=r'^frequent_items row 2: repeats item "a" of row 0$'):
        affinity.pfp_shard(baskets, ["a", "b", "a"], 2)
    with pytest.raises(ValueError, match=r"^invalid setting num_groups: 0 must be at least 1$"):
        affinity.pfp_shard(baskets, ["a"], 0)


@pytest.mark.parametrize("num_groups", [1, 3, 7])
def test_pfp_mine_over_all_groups_is_mine(num_groups):
    baskets = random_baskets(8, 150, list(range(20)), 8)
    min_count = 6
    whole = as_dict(affinity.mine(baskets, min_count=min_count))
    # Global ranks: descending count, ties by item.
    counts = Counter(item for b in baskets for item in set(b))
    frequent = sorted((i for i, c in counts.items() if c >= min_count),
                      key=lambda i: (-counts[i], i))
    shards = affinity.pfp_shard(baskets, frequent, num_groups)
    union = {}
    groups = shards.column("group").to_numpy()
    for group in range(num_groups):
        prefixes = shards.column("prefix").filter(pa.array(groups == group))
        out = affinity.pfp_mine(prefixes, group, num_groups, min_count, threads=2)
        assert out.schema == pa.schema([("items", pa.list_(pa.int32())), ("freq", pa.int64())])
        for ranks, freq in zip(out.column("items").to_pylist(), out.column("freq").to_pylist()):
            assert ranks == sorted(ranks) and max(ranks) % num_groups == group
            key = frozenset(frequent[r] for r in ranks)
            assert key not in union
            union[key] = freq
    assert union == whole
    # Identical prefixes merged into weights give the same counts.
    group = 0
    prefixes = shards.column("prefix").filter(pa.array(groups == group)).to_pylist()
    merged = Counter(tuple(p) for p in prefixes)
    weighted = affinity.pfp_mine(
        pa.array([list(p) for p in merged], pa.list_(pa.int32())), group, num_groups, min_count,
        weights=pa.array(list(merged.values()), pa.int64()),
    )
    plain = affinity.pfp_mine(pa.array(prefixes, pa.list_(pa.int32())), group, num_groups,
                              min_count)
    assert sorted(weighted.to_pylist(), key=str) == sorted(plain.to_pylist(), key=str)


@pytest.mark.parametrize("batch_rows", [1, 7, 1000])
def test_a_group_gathered_in_batches_mines_as_one(batch_rows):
    baskets = random_baskets(11, 200, list(range(15)), 7)
    min_count, num_groups = 5, 3
    counts = Counter(item for b in baskets for item in set(b))
    frequent = sorted((i for i, c in counts.items() if c >= min_count),
                      key=lambda i: (-counts[i], i))
    shards = affinity.pfp_shard(baskets, frequent, num_groups)
    groups = shards.column("group").to_numpy()
    for group in range(num_groups):
        prefixes = shards.column("prefix").filter(pa.array(groups == group))
        whole = affinity.pfp_mine(prefixes, group, num_groups, min_count)
        gathered = affinity.PfpGroup(group, num_groups)
        for start in range(0, len(prefixes), batch_rows):
            gathered.add(prefixes[start:start + batch_rows])
        # Identical prefixes are held once.
        assert gathered.distinct == len({tuple(p) for p in prefixes.to_pylist()})
        out = gathered.mine(min_count, threads=2)
        assert sorted(out.to_pylist(), key=str) == sorted(whole.to_pylist(), key=str)
        assert len(out) > 0
        # Mining kept the prefixes: mining again gives the same itemsets.
        assert gathered.distinct == len({tuple(p) for p in prefixes.to_pylist()})
        assert gathered.mine(min_count).equals(out)


def test_a_gathered_group_adds_weights_and_checks_its_input():
    g = affinity.PfpGroup(0, 2)
    g.add(pa.array([[0], [0, 2]], pa.list_(pa.int32())), weights=[3, 1])
    g.add(pa.array([[0]], pa.list_(pa.int32())))
    assert g.mine(4).to_pylist() == [{"items": [0], "freq": 5}]
    with pytest.raises(ValueError, match=r"^invalid setting group: 2 is outside \[0, 2\)$"):
        affinity.PfpGroup(2, 2)
    with pytest.raises(ValueError, match=r"^weights: 1 weights for 2 prefixes$"):
        g.add(pa.array([[0], [1]], pa.list_(pa.int32())), weights=[1])
    with pytest.raises(ValueError, match=r"^weights row 0: -1 is negative$"):
        g.add(pa.array([[0]], pa.list_(pa.int32())), weights=[-1])
    with pytest.raises(ValueError, match=r"^invalid setting min_count: 0 must be at least 1$"):
        g.mine(0)


def test_pfp_mine_errors():
    with pytest.raises(ValueError, match=r"^invalid setting group: 3 is outside \[0, 3\)$"):
        affinity.pfp_mine(pa.array([[0]]), 3, 3, 1)
    with pytest.raises(ValueError, match=r"^prefixes row 1: -1 is outside \[0, 2\^31\)$"):
        affinity.pfp_mine(pa.array([[0], [-1]]), 0, 1, 1)
    with pytest.raises(ValueError, match=r"^weights: 1 weights for 2 prefixes$"):
        affinity.pfp_mine(pa.array([[0], [1]]), 0, 1, 1, weights=[1])


def test_the_gil_is_released_while_mining():
    # 8,000 baskets of 20 of 40 items: mining to length 4 takes a few hundred milliseconds.
    rng = np.random.default_rng(9)
    values = np.argsort(rng.random((8000, 40)), axis=1)[:, :20].astype(np.int64).ravel()
    baskets = pa.ListArray.from_arrays(np.arange(0, values.size + 1, 20, dtype=np.int32), values)
    affinity.mine(baskets[:10], min_count=1, max_len=1)  # warm up
    window = {}

    def work():
        window["start"] = time.perf_counter()
        affinity.mine(baskets, min_count=800, threads=1, max_len=4)
        window["end"] = time.perf_counter()

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    start, end = window["start"], window["end"]
    assert end - start > 0.05, "the workload is too small to tell"
    inside = [t for t in ticks if start <= t <= end]
    # With the GIL held for the whole call this thread could not run in the window but for
    # the wrapper's few Python lines.
    assert len(inside) >= 10
    gaps = np.diff([start] + inside + [end])
    assert gaps.max() < 0.5 * (end - start)


def test_the_readme_python_example_runs():
    readme = os.path.join(os.path.dirname(__file__), "..", "..", "..", "README.md")
    if not os.path.exists(readme):
        pytest.skip("not in the repository (no README.md three folders up)")
    with open(readme, encoding="utf-8") as f:
        section = f.read().split("\n## Python\n")[1].split("\n## ")[0]
    blocks = [b.split("```")[0] for b in section.split("```python\n")[1:]]
    assert blocks, "the README's Python section has an example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
