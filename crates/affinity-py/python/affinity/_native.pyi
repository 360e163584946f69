"""Type stubs of the native module; the documented API is in ``affinity/__init__.py``."""

from typing import Any, List, Optional, Tuple

import pyarrow as pa

__version__: str
DEFAULT_MAX_ITEMSETS: int

class CapExceeded(MemoryError): ...

def mine(
    baskets: List[Any],
    *,
    min_support: Optional[str] = None,
    min_count: Optional[int] = None,
    max_len: Optional[int] = None,
    target: str = "frequent",
    threads: Optional[int] = None,
    max_itemsets: Optional[int] = 10_000_000,
    duplicates: str = "merge",
) -> pa.Table: ...
def rules(
    items: List[Any],
    freq: List[Any],
    n_transactions: int,
    *,
    min_confidence: float = 0.5,
    min_lift: Optional[float] = None,
    any_consequent: bool = False,
    max_rules: Optional[int] = None,
) -> pa.Table: ...
def top_k(
    vectors: Any,
    n_items: int,
    dim: int,
    queries: Any,
    n_queries: int,
    query_dim: int,
    k: int,
    *,
    exclude: Optional[List[Any]] = None,
    history: Optional[List[Any]] = None,
    mode: str = "mixed",
    metric: str = "cosine",
    threads: Optional[int] = None,
) -> Tuple[pa.Array, pa.Array]: ...
def pfp_shard(baskets: List[Any], frequent_items: List[Any], num_groups: int) -> pa.RecordBatch: ...
def pfp_mine(
    prefixes: List[Any],
    group: int,
    num_groups: int,
    min_count: int,
    *,
    max_len: Optional[int] = None,
    threads: int = 1,
    weights: Optional[List[Any]] = None,
) -> pa.RecordBatch: ...

class PfpGroup:
    def __init__(self, group: int, num_groups: int) -> None: ...
    def add(self, prefixes: List[Any], weights: Optional[List[Any]] = None) -> None: ...
    @property
    def distinct(self) -> int: ...
    def mine(
        self, min_count: int, *, max_len: Optional[int] = None, threads: int = 1
    ) -> pa.RecordBatch: ...
