"""affinity's libtorch-free core for Python: exact frequent itemsets and association rules,
exact top-k ranking, and the local steps of parallel FP-growth (used by ``affinity_spark``).

Data moves through the Arrow C data interface: pyarrow arrays and tables go to the Rust core
and come back without a copy and without a Python object per item. pandas and polars columns,
numpy arrays and plain lists are accepted and converted to Arrow first. The GIL is released
while mining and ranking, so other Python threads run meanwhile.

Errors: invalid settings and bad input raise ``ValueError`` with the Rust core's message; a cap
(``max_itemsets``, ``max_rules``) raises :class:`CapExceeded`, a ``MemoryError``; an
allocation that fails raises ``MemoryError``. :func:`mine` holds at most
:data:`DEFAULT_MAX_ITEMSETS` itemsets unless told otherwise.

>>> import affinity
>>> table = affinity.mine([["milk", "bread"], ["milk"], ["bread", "eggs"]], min_count=2)
>>> sorted((sorted(items), freq) for items, freq in zip(*table.to_pydict().values()))
[(['bread'], 2), (['milk'], 2)]
"""

from __future__ import annotations

import decimal
import numbers
import operator
from typing import Any, List, Optional, Tuple, Union

import numpy as np
import pyarrow as pa

from . import _native
from ._native import CapExceeded

__version__: str = _native.__version__

#: The cap on the itemsets :func:`mine` holds when ``max_itemsets`` is not given (ten million,
#: the command line's cap on the itemsets it holds for rules); ``max_itemsets=None`` lifts it.
DEFAULT_MAX_ITEMSETS: int = _native.DEFAULT_MAX_ITEMSETS

__all__ = [
    "CapExceeded",
    "DEFAULT_MAX_ITEMSETS",
    "mine",
    "PfpGroup",
    "pfp_mine",
    "pfp_shard",
    "rules",
    "top_k",
]


def mine(
    baskets: Any,
    *,
    min_support: Optional[Union[float, str, decimal.Decimal]] = None,
    min_count: Optional[int] = None,
    max_len: Optional[int] = None,
    target: str = "frequent",
    threads: Optional[int] = None,
    max_itemsets: Optional[int] = DEFAULT_MAX_ITEMSETS,
    duplicates: str = "merge",
) -> pa.Table:
    """Frequent, closed or maximal itemsets of ``baskets`` by FP-growth.

    Args:
        baskets: one basket per row: a pyarrow ``ListArray`` / ``LargeListArray`` /
            ``ChunkedArray`` of strings or integers, anything exposing ``__arrow_c_array__``
            or ``__arrow_c_stream__`` (polars, pandas with Arrow dtypes), a pandas Series of
            lists, or a Python list of lists. A null basket is skipped: it is no transaction
            and does not count towards ``min_support`` (as ``affinity mine`` reads basket
            tables and as Spark's FPGrowth does); an empty basket is an empty transaction; a
            null item is an error.
        min_support: the minimum support as a fraction in (0, 1], read **exactly** as the
            decimal it is written as (a float through its shortest ``repr``: ``0.07`` is seven
            hundredths, not the binary double nearest to it): the minimum count is
            ``ceil(n * fraction)`` in integer arithmetic, so 0.07 of 100 baskets is 7.
            Strings and ``decimal.Decimal`` are read as written.
        min_count: the minimum support as a count of baskets. Give exactly one of the two.
        max_len: the longest itemset reported.
        target: ``"frequent"``, ``"closed"`` or ``"maximal"``.
        threads: worker threads (default: every core); the output does not depend on it.
        max_itemsets: raise :class:`CapExceeded` past this many itemsets instead of
            exhausting memory; :data:`DEFAULT_MAX_ITEMSETS` (ten million) unless given,
            ``None`` for no cap (memory running out is then a ``MemoryError``).
        duplicates: an item listed twice in one basket is counted once (``"merge"``) or is an
            error (``"reject"``, as Spark does).

    Returns:
        A table with ``items`` (``list<string>`` for string items, ``list<int64>`` for
        integers) and ``freq`` (``int64``), Spark FPGrowth's ``freqItemsets`` columns.
    """
    return _native.mine(
        _list_chunks(baskets),
        min_support=_fraction(min_support),
        min_count=_int_or_none(min_count, "min_count"),
        max_len=_int_or_none(max_len, "max_len"),
        target=target,
        threads=_int_or_none(threads, "threads"),
        max_itemsets=_int_or_none(max_itemsets, "max_itemsets"),
        duplicates=duplicates,
    )


def rules(
    itemsets: Any,
    n_transactions: int,
    *,
    min_confidence: float = 0.5,
    min_lift: Optional[float] = None,
    any_consequent: bool = False,
    max_rules: Optional[int] = None,
) -> pa.Table:
    """Association rules from frequent itemsets.

    Args:
        itemsets: a table with ``items`` and ``freq`` columns, as :func:`mine` returns with
            ``target="frequent"`` (every frequent itemset is needed: a missing subset is a
            ``ValueError``); a pyarrow Table or RecordBatch, a pandas DataFrame, or anything
            with ``__arrow_c_stream__``.
        n_transactions: the number of baskets mined (the denominator of every support), at
            least 1; null baskets, which :func:`mine` skips, are not counted.
        min_confidence: keep rules with at least this confidence, in [0, 1].
        min_lift: keep rules with at least this lift.
        any_consequent: consequents of any size (mlxtend); default one item (Spark, arules).
        max_rules: raise :class:`CapExceeded` past this many rules.

    The counts are checked before any rule is made (``ValueError`` naming the row): each is
    an integer from 1 to ``n_transactions``, no itemset is listed twice, and no itemset is
    counted more often than a subset of it, so that no support passes 1 and no confidence is
    above 1.

    Returns:
        A table sorted by confidence then lift, descending: ``antecedent``, ``consequent``
        (lists of the itemsets' item type), ``confidence``, ``lift``, ``support`` (of the
        whole rule, as Spark), then ``antecedent_support``, ``consequent_support``,
        ``leverage``, ``conviction`` (infinite at confidence 1), ``zhangs_metric``,
        ``jaccard``, ``certainty``, ``kulczynski`` (all ``float64``) and ``count``
        (``int64``: baskets holding the whole rule).
    """
    table = _table(itemsets)
    for name in ("items", "freq"):
        if name not in table.column_names:
            raise ValueError(f"itemsets: no column {name!r} (found {table.column_names})")
    return _native.rules(
        _list_chunks(table.column("items")),
        _flat_chunks(table.column("freq"), "freq"),
        _int(n_transactions, "n_transactions"),
        min_confidence=float(min_confidence),
        min_lift=None if min_lift is None else float(min_lift),
        any_consequent=bool(any_consequent),
        max_rules=_int_or_none(max_rules, "max_rules"),
    )


def top_k(
    vectors: Any,
    queries: Any,
    k: int,
    *,
    exclude: Optional[Any] = None,
    history: Optional[Any] = None,
    mode: str = "mixed",
    metric: str = "cosine",
    threads: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items (rows of ``vectors``) for each row of ``queries``, exactly.

    Args:
        vectors: the item matrix, 2-D, converted to C-contiguous float32 if it is not.
        queries: the query matrix, 2-D, of the same width.
        k: items per query, from 0 to the number of items (a larger ``k`` is a
            ``ValueError``: its extra columns could only ever be padding).
        exclude: per query, the item indices to leave out (a list of lists, or a pyarrow
            list array; ``None`` rows exclude nothing).
        history: per query, the items the shopper bought before (as ``exclude``); needed by
            the ``"discover"`` and ``"buy-again"`` modes.
        mode: which items a list may hold: ``"mixed"`` (anything not excluded),
            ``"discover"`` (nothing of the history: new to the shopper) or ``"buy-again"``
            (only the history).
        metric: ``"cosine"`` (vectors and queries normalised; a zero vector scores 0) or
            ``"inner_product"``.
        threads: worker threads (default: every core).

    Returns:
        ``(indices, scores)``: ``int64`` and ``float32`` arrays of shape ``(len(queries),
        k)``, best first, ties broken by the lower index. Where fewer than ``k`` items remain
        (exclusions, or a history shorter than ``k`` in ``"buy-again"`` mode), the row is
        padded with index ``-1`` and score ``NaN``.
    """
    items = _matrix(vectors, "vectors")
    asked = _matrix(queries, "queries")
    k = _int(k, "k")
    excluded = None if exclude is None else _list_chunks(exclude, argument="exclude")
    bought = None if history is None else _list_chunks(history, argument="history")
    indices, scores = _native.top_k(
        pa.array(items.reshape(-1)),
        items.shape[0],
        items.shape[1],
        pa.array(asked.reshape(-1)),
        asked.shape[0],
        asked.shape[1],
        k,
        exclude=excluded,
        history=bought,
        mode=mode,
        metric=metric,
        threads=_int_or_none(threads, "threads"),
    )
    shape = (asked.shape[0], max(k, 0))
    return (
        indices.to_numpy(zero_copy_only=False, writable=True).reshape(shape),
        scores.to_numpy(zero_copy_only=False, writable=True).reshape(shape),
    )


def pfp_shard(baskets: Any, frequent_items: Any, num_groups: int) -> pa.RecordBatch:
    """Parallel FP-growth, step 1 (Li et al., RecSys 2008): each basket's group-dependent
    transactions.

    Each basket's items become global ranks (the index in ``frequent_items``: 0 is the most
    frequent), infrequent items are dropped and the ranks sorted ascending; then, walking the
    positions ``j`` from the last to the first, the first time the group ``ranks[j] %
    num_groups`` is met the row ``(group, ranks[0..=j])`` is emitted. Null baskets are skipped.

    Args:
        baskets: list array of strings or integers (as for :func:`mine`).
        frequent_items: the frequent items in global rank order, of the baskets' item type
            (a pyarrow array or a list).
        num_groups: the number of groups.

    Returns:
        A record batch with ``group: int32`` and ``prefix: list<int32>``.
    """
    return _native.pfp_shard(
        _list_chunks(baskets),
        _flat_chunks(frequent_items, "frequent_items"),
        _int(num_groups, "num_groups"),
    )


def pfp_mine(
    prefixes: Any,
    group: int,
    num_groups: int,
    min_count: int,
    *,
    max_len: Optional[int] = None,
    threads: int = 1,
    weights: Optional[Any] = None,
) -> pa.RecordBatch:
    """Parallel FP-growth, step 2: the frequent itemsets one group owns.

    Args:
        prefixes: the group's prefixes (``list<int32>`` ranks, as :func:`pfp_shard` emits).
        group: the group mined, in ``[0, num_groups)``.
        num_groups: the number of groups.
        min_count: the whole data's minimum count.
        max_len: the longest itemset reported.
        threads: worker threads.
        weights: optional ``int64`` multiplicity of each prefix (identical prefixes merged);
            none negative, and together at most 2**63 - 1 (``ValueError`` naming the row
            where they pass it, rather than a count that saturates).

    Returns:
        A record batch with ``items: list<int32>`` (ranks, ascending) and ``freq: int64``:
        every itemset of the prefixes with a count of at least ``min_count`` whose largest
        rank ``r`` has ``r % num_groups == group``. Over all groups, these are the frequent
        itemsets of the whole data, each once, with exact counts.
    """
    return _native.pfp_mine(
        _list_chunks(prefixes, argument="prefixes"),
        _int(group, "group"),
        _int(num_groups, "num_groups"),
        _int(min_count, "min_count"),
        max_len=_int_or_none(max_len, "max_len"),
        threads=_int(threads, "threads"),
        weights=None if weights is None else _flat_chunks(weights, "weights"),
    )


class PfpGroup:
    """Parallel FP-growth, step 2 for a group that arrives in batches (Spark's iterator form
    of ``applyInArrow``): the prefixes are gathered with identical ones merged into one
    weighted prefix, so a group costs its distinct prefixes, never all its rows at once.

    :meth:`mine` mines what has been gathered so far and keeps it: it can be called again
    (with another ``min_count``, say), and :meth:`add` can go on after it. Ranks may be any
    in ``[0, 2**31)``: the memory is proportional to the distinct ranks, not to the largest.

    >>> g = PfpGroup(group=1, num_groups=2)
    >>> g.add(pa.array([[0, 1], [0, 1], [1]], pa.list_(pa.int32())))
    >>> g.distinct
    2
    >>> g.mine(min_count=2).to_pylist()
    [{'items': [1], 'freq': 3}, {'items': [0, 1], 'freq': 2}]
    """

    def __init__(self, group: int, num_groups: int) -> None:
        self._inner = _native.PfpGroup(_int(group, "group"), _int(num_groups, "num_groups"))

    def add(self, prefixes: Any, weights: Optional[Any] = None) -> None:
        """Adds prefixes (``list<int32>`` ranks), each once or ``weights`` times. The batch is
        checked whole first (a batch that raises adds nothing); the weights of all batches
        together may not pass 2**63 - 1."""
        self._inner.add(
            _list_chunks(prefixes, argument="prefixes"),
            None if weights is None else _flat_chunks(weights, "weights"),
        )

    @property
    def distinct(self) -> int:
        """The distinct prefixes held."""
        return self._inner.distinct

    def mine(
        self, min_count: int, *, max_len: Optional[int] = None, threads: int = 1
    ) -> pa.RecordBatch:
        """The group's itemsets, as :func:`pfp_mine` gives them; the prefixes are kept."""
        return self._inner.mine(
            _int(min_count, "min_count"),
            max_len=_int_or_none(max_len, "max_len"),
            threads=_int(threads, "threads"),
        )


# --- conversions -------------------------------------------------------------------------


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an integer, found a bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, found {type(value).__name__}") from None


def _int_or_none(value: Any, name: str) -> Optional[int]:
    return None if value is None else _int(value, name)


def _fraction(value: Any) -> Optional[str]:
    """``min_support`` as the decimal text the core reads exactly."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise TypeError("min_support: expected a number, found a bool")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, np.floating):
        # numpy prints the shortest text that reads back as the same float32/float64.
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    raise TypeError(f"min_support: expected a number or a decimal string, found {type(value).__name__}")


def _matrix(value: Any, name: str) -> np.ndarray:
    array = np.ascontiguousarray(value, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array, found {array.ndim} dimension(s)")
    return array


def _table(value: Any) -> pa.Table:
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if _is_pandas(value):
        return pa.Table.from_pandas(value, preserve_index=False)
    if hasattr(value, "__arrow_c_stream__"):
        return pa.table(value)
    raise TypeError(f"itemsets: expected a table, found {type(value).__name__}")


def _is_pandas(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "pandas"


def _chunked(value: pa.ChunkedArray) -> List[pa.Array]:
    # No chunks would lose the type (strings or integers) of an empty input.
    return value.chunks if value.num_chunks else [pa.array([], type=value.type)]


def _list_chunks(value: Any, argument: str = "baskets") -> List[Any]:
    """A column of lists as Arrow arrays the core reads without copying."""
    if isinstance(value, pa.ChunkedArray):
        return _chunked(value)
    if isinstance(value, pa.Array):
        return [value]
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        if value.num_columns != 1:
            raise ValueError(f"{argument}: expected one column, found {value.column_names}")
        return _list_chunks(value.column(0), argument)
    if _is_pandas(value):
        return _list_chunks(pa.Array.from_pandas(value), argument)
    if hasattr(value, "__arrow_c_array__"):
        return [value]
    if hasattr(value, "__arrow_c_stream__"):
        return _list_chunks(pa.chunked_array(value), argument)
    rows = list(value)
    if not rows:
        return [pa.array([], type=pa.list_(pa.string()))]
    return [pa.array(rows)]


def _flat_chunks(value: Any, argument: str) -> List[Any]:
    """A flat column (items, counts) as Arrow arrays."""
    if isinstance(value, pa.ChunkedArray):
        return _chunked(value)
    if isinstance(value, pa.Array):
        return [value]
    if _is_pandas(value):
        return [pa.Array.from_pandas(value)]
    if hasattr(value, "__arrow_c_array__"):
        return [value]
    if hasattr(value, "__arrow_c_stream__"):
        return _chunked(pa.chunked_array(value))
    if isinstance(value, np.ndarray):
        return [pa.array(value)]
    return [pa.array(list(value))]
