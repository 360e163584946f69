"""Issue 36 (items 7, 8 and the wheel's part of 11): bad arguments raise Python exceptions
instead of aborting the interpreter, and inconsistent input is refused instead of answered.

Whatever could abort the interpreter runs in a child process under an address-space limit
(`RLIMIT_AS`), so that a regression fails the test (the child dies of SIGABRT) instead of
killing pytest, and an allocation the size of the machine fails at once instead of waking the
kernel's out-of-memory killer."""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pytest

import affinity

RANKS = pa.list_(pa.int32())


def run_isolated(code, limit_gib=4, timeout=300):
    """Runs `code` in a fresh interpreter limited to `limit_gib` GiB of address space; returns
    the completed process (stdout and stderr as text)."""

    def limit():
        size = limit_gib << 30
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def last_line(done):
    """The child's last line of output, once it is known to have exited normally."""
    assert done.returncode == 0, (
        f"the interpreter died (exit status {done.returncode}) instead of raising:\n"
        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return done.stdout.strip().splitlines()[-1]


def itemsets(rows):
    """Itemset rows as {tuple(items): freq}."""
    return {tuple(r["items"]): r["freq"] for r in rows}


# --- item 7: no abort -------------------------------------------------------------------------


def test_a_huge_k_raises_value_error_instead_of_aborting():
    done = run_isolated(
        """
        import numpy as np, affinity
        vectors = np.eye(3, dtype=np.float32)
        try:
            affinity.top_k(vectors, vectors, 10**12)
        except ValueError as e:
            print("ValueError:", e)
        """
    )
    assert last_line(done) == (
        "ValueError: invalid setting k: 1000000000000 is more than the 3 items of the index"
    )


def test_k_is_bounded_by_the_catalogue_and_pads_only_for_exclusions():
    vectors = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"^invalid setting k: 4 is more than the 3 items"):
        affinity.top_k(vectors, vectors[:1], 4)
    with pytest.raises(ValueError, match=r"^invalid setting k: -1 must be at least 0$"):
        affinity.top_k(vectors, vectors[:1], -1)
    # k up to the catalogue is fine; rows left short by exclusions are padded.
    idx, scores = affinity.top_k(vectors, vectors[:1], 3, exclude=[[0, 1]])
    assert idx.tolist() == [[2, -1, -1]] and np.isnan(scores[0, 1:]).all()
    empty = np.zeros((0, 3), dtype=np.float32)
    idx, _ = affinity.top_k(empty, vectors[:2], 0)
    assert idx.shape == (2, 0)


def test_a_rank_of_2_31_minus_1_costs_its_distinct_items_not_a_17_gb_table():
    done = run_isolated(
        """
        import json, pyarrow as pa, affinity
        top = 2**31 - 1
        prefixes = pa.array([[5, top], [top], [5]], pa.list_(pa.int32()))
        whole = affinity.pfp_mine(prefixes, 0, 1, 1).to_pylist()
        g = affinity.PfpGroup(top % 7, 7)
        g.add(prefixes)
        print(json.dumps([whole, g.mine(1).to_pylist()]))
        """,
        limit_gib=3,
    )
    whole, owned = json.loads(last_line(done))
    top = 2**31 - 1
    assert itemsets(whole) == {(5,): 2, (top,): 2, (5, top): 1}
    # The group of 2**31 - 1 owns the itemsets whose largest rank it is.
    assert itemsets(owned) == {(top,): 2, (5, top): 1}


def test_sparse_ranks_mine_as_dense_ones():
    # Ranks far apart (mined as their positions among the distinct ranks) give the itemsets of
    # the same prefixes with ranks 0, 1, 2, and each group owns those whose largest rank, as
    # given, is its own.
    dense = [[0, 1, 2], [0, 2], [1, 2], [0, 1], [2]]
    spread = {0: 7, 1: 70_001, 2: 1_000_003}
    sparse = pa.array([[spread[r] for r in p] for p in dense], RANKS)
    mined = affinity.pfp_mine(pa.array(dense, RANKS), 0, 1, 2).to_pylist()
    expected = {tuple(spread[r] for r in items): f for items, f in itemsets(mined).items()}
    assert len(expected) == 6
    assert itemsets(affinity.pfp_mine(sparse, 0, 1, 2).to_pylist()) == expected
    for num_groups in (2, 3, 5):
        for group in range(num_groups):
            got = itemsets(affinity.pfp_mine(sparse, group, num_groups, 2).to_pylist())
            assert got == {s: f for s, f in expected.items() if s[-1] % num_groups == group}


def test_mine_has_a_default_cap_that_raises_cap_exceeded():
    assert affinity.DEFAULT_MAX_ITEMSETS == 10_000_000
    done = run_isolated(
        """
        import affinity
        try:
            affinity.mine([list(range(30))], min_count=1)
        except affinity.CapExceeded as e:
            print(type(e).__name__, isinstance(e, MemoryError), e)
        """
    )
    assert last_line(done) == (
        "CapExceeded True more than 10000000 itemsets: raise the minimum support, set a max "
        "length, or raise the cap"
    )
    # The cap is a keyword like any other: None lifts it, a number sets it.
    assert affinity.mine([list(range(5))], min_count=1, max_itemsets=None).num_rows == 31
    with pytest.raises(affinity.CapExceeded):
        affinity.mine([list(range(5))], min_count=1, max_itemsets=30)


def test_running_out_of_memory_while_collecting_itemsets_is_a_memory_error():
    # No cap, and an address space too small for 2^40 itemsets: the collection of the
    # itemsets fails its allocation, which is a MemoryError, not an abort.
    done = run_isolated(
        """
        import affinity
        try:
            affinity.mine([list(range(40))], min_count=1, max_itemsets=None, threads=1)
        except MemoryError as e:
            print(type(e).__name__, e)
        """,
        limit_gib=2,
    )
    assert re.match(
        r"^MemoryError ran out of memory holding \d+ itemsets: raise the minimum support, "
        r"set max_len, or lower max_itemsets$",
        last_line(done),
    ), done.stdout


# --- item 8: no silent wrong answers ----------------------------------------------------------


def test_a_group_mines_again_and_keeps_its_prefixes_when_more_are_added():
    g = affinity.PfpGroup(0, 1)
    g.add(pa.array([[0, 1], [0]], RANKS))
    first = g.mine(1).to_pylist()
    assert itemsets(first) == {(0,): 2, (1,): 1, (0, 1): 1}
    # Mining again gives the same answer.
    assert g.mine(1).to_pylist() == first
    assert g.distinct == 2
    # Adding after mining keeps what was there.
    g.add(pa.array([[0, 1]], RANKS))
    assert g.distinct == 2
    again = {tuple(r["items"]): r["freq"] for r in g.mine(1).to_pylist()}
    assert again == {(0,): 3, (1,): 2, (0, 1): 2}


def fx_hash(ranks):
    """The hash `PfpGroup` files a prefix under: rustc's FxHasher over Rust's `Hash` of a
    `[u32]` (its length as a usize word, then its bytes in 8-byte little-endian words)."""
    mask, seed = (1 << 64) - 1, 0x517CC1B727220A95

    def add(h, word):
        return ((((h << 5) | (h >> 59)) & mask ^ word) * seed) & mask

    h = add(0, len(ranks))
    data = b"".join(r.to_bytes(4, "little") for r in ranks)
    for i in range(0, len(data), 8):
        h = add(h, int.from_bytes(data[i : i + 8].ljust(8, b"\0"), "little"))
    return h


def test_prefixes_whose_hashes_collide_stay_apart():
    # [1, 2, 7] and [455804982, 1043146550] have the same hash (solved for, above): a group
    # must still hold them as two prefixes with their own weights.
    three, two = [1, 2, 7], [455804982, 1043146550]
    assert fx_hash(three) == fx_hash(two)
    g = affinity.PfpGroup(0, 1)
    g.add(pa.array([three, two, three], RANKS), weights=[3, 2, 1])
    g.add(pa.array([two], RANKS))
    assert g.distinct == 2
    got = itemsets(g.mine(1).to_pylist())
    assert got[(1, 2, 7)] == 4 and got[(455804982, 1043146550)] == 3
    assert got[(7,)] == 4 and got[(455804982,)] == 3 and len(got) == 7 + 3


def test_weights_that_would_pass_int64_raise_instead_of_saturating():
    big = 2**62
    g = affinity.PfpGroup(0, 1)
    g.add(pa.array([[0]], RANKS), weights=[big])
    with pytest.raises(ValueError, match=r"^weights row 0: .*2\^63 - 1"):
        g.add(pa.array([[0]], RANKS), weights=[big])
    # The failed batch added nothing.
    assert g.mine(1).to_pylist() == [{"items": [0], "freq": big}]
    with pytest.raises(ValueError, match=r"^weights row 1: .*2\^63 - 1"):
        affinity.pfp_mine(pa.array([[0], [1]], RANKS), 0, 1, 1, weights=[big, big])
    with pytest.raises(ValueError, match=r"^weights row 1: .*2\^63 - 1"):
        affinity.pfp_mine(pa.array([[0], [0]], RANKS), 0, 1, 1, weights=[2**63 - 1, 1])
    # Up to the limit is fine.
    out = affinity.pfp_mine(pa.array([[0], [0]], RANKS), 0, 1, 1, weights=[2**63 - 2, 1])
    assert out.to_pylist() == [{"items": [0], "freq": 2**63 - 1}]


def table(rows):
    return pa.table({"items": [r[0] for r in rows], "freq": [r[1] for r in rows]})


@pytest.mark.parametrize(
    "rows, n, message",
    [
        # support 2.5: a count above the number of transactions
        ([(["a"], 5)], 2, r"^freq row 0: 5 is more than n_transactions \(2\)$"),
        # confidence 5 (and lift 50): a superset counted more often than its subset
        (
            [(["a"], 1), (["b"], 10), (["a", "b"], 5)],
            10,
            r'^items row 2: count 5 is more than the count 1 of its subset \["a"\] \(row 0\)$',
        ),
        # infinite confidence: a zero count
        ([(["a"], 0), (["b"], 3), (["a", "b"], 0)], 5, r"^freq row 0: 0 is not a count of a "),
        ([(["a"], -2)], 5, r"^freq row 0: -2 is negative$"),
        # the same itemset twice: the last one used to win
        (
            [(["a"], 3), (["b"], 3), (["b", "a"], 2), (["a", "b"], 3)],
            5,
            r"^items row 3: repeats the itemset of row 2$",
        ),
    ],
)
def test_rules_refuse_inconsistent_counts_naming_the_row(rows, n, message):
    with pytest.raises(ValueError, match=message):
        affinity.rules(table(rows), n, min_confidence=0.0)


def test_rules_need_at_least_one_transaction():
    itemsets = table([(["a"], 1), (["b"], 1), (["a", "b"], 1)])
    with pytest.raises(ValueError, match=r"^invalid setting n_transactions: 0 must be at least 1$"):
        affinity.rules(itemsets, 0)
    # Consistent counts still give their rules, every measure finite.
    rules = affinity.rules(itemsets, 1, min_confidence=0.0).to_pylist()
    assert len(rules) == 2
    assert all(r["confidence"] == 1.0 and r["lift"] == 1.0 and r["support"] == 1.0 for r in rules)


# --- item 11: null baskets as the CLI counts them ---------------------------------------------


def test_a_null_basket_is_skipped_as_the_cli_and_spark_skip_it():
    # 3 baskets and 2 nulls: at 0.5 an item needs ceil(3 * 0.5) = 2 baskets, not ceil(2.5).
    baskets = [["a"], ["a", "b"], None, ["b"], None]
    assert {tuple(i): f for i, f in zip(*affinity.mine(baskets, min_support=0.5)
                                        .to_pydict().values())} == {("a",): 2, ("b",): 2}
    # An empty basket is a transaction: 4 of them need 2 at 0.5 ...
    assert affinity.mine([["a"], ["a"], [], []], min_support=0.5).num_rows == 1
    # ... and 5 need 3.
    assert affinity.mine([["a"], ["a"], [], [], []], min_support=0.5).num_rows == 0
    # A repeated item is reported at its row, nulls before it counted.
    with pytest.raises(ValueError, match=r'^transaction 3 lists item "x" more than once$'):
        affinity.mine([["a"], None, None, ["x", "x"]], min_count=1, duplicates="reject")
