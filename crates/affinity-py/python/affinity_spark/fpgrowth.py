"""FPGrowth: parallel FP-growth (Li et al., RecSys 2008) with affinity's Rust miner per group.

Layout of one fit (docs/spark.md has the picture):

1. Spark SQL counts the baskets and each item (explode + groupBy); the frequent items, ordered
   by (count desc, item), are the ranks. That list is small and goes to the driver (as in MLlib).
2. ``mapInArrow`` + ``affinity.pfp_shard`` turns each basket into at most one conditional prefix
   per item group (group of rank r: ``r % G``), the frequent items broadcast.
3. The prefixes are shuffled by group. ``applyInArrow`` streams each group's batches into an
   ``affinity.PfpGroup``, which merges identical prefixes as they arrive (so a group costs its
   distinct prefixes, never all its rows at once), then mines it once, emitting only the
   itemsets whose largest rank the group owns, so no itemset comes twice. Merging there and
   not in a Spark aggregation keeps the JVM's heap out of it: a hash aggregation keyed by
   arrays ran out of a 1 GB heap at 10^7 baskets (docs/spark.md).
4. The itemsets (as rank lists) are persisted; the items are put back by a broadcast lookup.
"""

import functools
import json
import math
import os
from fractions import Fraction
from typing import Iterator, Tuple

import pyarrow as pa
from pyspark import StorageLevel, TaskContext, keyword_only
from pyspark.errors import IllegalArgumentException
from pyspark.ml.base import Estimator, Model
from pyspark.ml.util import (
    DefaultParamsReadable,
    DefaultParamsReader,
    DefaultParamsWritable,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StructField,
    StructType,
)

from . import _arrow, _rules
from ._native import native
from ._params import FPGrowthParams
from ._workers import local_python

_UNIQUE = "Items in a transaction must be unique but got "


def min_count_for(n, min_support, mode="exact"):
    """The smallest count an itemset needs among `n` baskets at `min_support`.

    ``mode="spark"`` is MLlib's ``ceil(minSupport * n)`` in doubles, where 0.07 * 100 is
    7.000000000000001 and gives 8; ``mode="exact"`` reads `min_support` as the decimal it is
    written as (``Fraction(repr(0.07)) == 7/100``) and gives 7. Never below 1.

    >>> min_count_for(100, 0.07), min_count_for(100, 0.07, "spark")
    (7, 8)
    """
    if mode == "spark":
        count = math.ceil(min_support * n)
    elif mode == "exact":
        f = Fraction(repr(float(min_support)))
        count = -(-n * f.numerator // f.denominator)
    else:
        raise ValueError(f"thresholdMode must be 'exact' or 'spark', not {mode!r}")
    return max(1, int(count))


def _murmur3_int(value, seed=42):
    """Spark's ``hash(int)`` (Murmur3 x86 32-bit over 4 bytes, seed 42), as a signed int."""
    mask = 0xFFFFFFFF

    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & mask

    k = (value & mask) * 0xCC9E2D51 & mask
    k = rotl(k, 15) * 0x1B873593 & mask
    h = rotl(seed ^ k, 13)
    h = (h * 5 + 0xE6546B64) & mask
    h ^= 4
    h ^= h >> 16
    h = h * 0x85EBCA6B & mask
    h ^= h >> 13
    h = h * 0xC2B2AE35 & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def partition_keys(num_groups):
    """For each group g, an int key that Spark's hash partitioning into `num_groups` partitions
    sends to partition g, so that each group's mining gets a task (and a core) of its own
    instead of sharing one with a group whose number happens to hash alike."""
    keys, found, candidate = [None] * num_groups, 0, 0
    while found < num_groups:
        part = _murmur3_int(candidate) % num_groups
        if keys[part] is None:
            keys[part] = candidate
            found += 1
        candidate += 1
    return keys


def _shard(batches, items_bc, arrow_type, num_groups, keys):
    """mapInArrow body: baskets to (key, group, prefix) rows with affinity.pfp_shard."""
    affinity = native()
    key_of = pa.array(keys, pa.int32())
    for batch in batches:
        items = _arrow.items_array(items_bc, arrow_type)
        out = affinity.pfp_shard(batch.column(0), items, num_groups)
        group = out.column(0).cast(pa.int32())
        yield pa.RecordBatch.from_arrays(
            [key_of.take(group), group, out.column(1)], names=["key", "group", "prefix"]
        )


def _group_miner(num_groups, min_count, max_len):
    """The applyInArrow body (the iterator form, chosen by the type hints): one group's
    batches gathered by affinity.PfpGroup, then mined."""

    def mine_group(
        key: Tuple[pa.Scalar, ...], batches: Iterator[pa.RecordBatch]
    ) -> Iterator[pa.RecordBatch]:
        gathered = None
        for batch in batches:
            if gathered is None:
                gathered = native().PfpGroup(batch.column(1)[0].as_py(), num_groups)
            gathered.add(batch.column(2))
        if gathered is None:
            return
        # As many miner threads as the task was given cores (spark.task.cpus, 1 by default).
        context = TaskContext.get()
        threads = max(1, context.cpus()) if context is not None else 1
        out = gathered.mine(min_count, max_len=max_len, threads=threads)
        del gathered  # the prefixes' memory, before the itemsets go out
        yield pa.RecordBatch.from_arrays([out.column(0), out.column(1)], names=["ranks", "freq"])

    return mine_group


_SHARD_SCHEMA = StructType(
    [
        StructField("key", IntegerType()),
        StructField("group", IntegerType()),
        StructField("prefix", ArrayType(IntegerType())),
    ]
)
_RANKED_SCHEMA = StructType(
    [StructField("ranks", ArrayType(IntegerType())), StructField("freq", LongType())]
)


class FPGrowth(Estimator, FPGrowthParams, DefaultParamsReadable, DefaultParamsWritable):
    """A drop-in for ``pyspark.ml.fpm.FPGrowth`` whose local mining runs in Rust.

    The same parameters, defaults and outputs, plus ``maxLen``, ``minCount`` and
    ``thresholdMode`` (``"exact"`` by default; ``"spark"`` reproduces MLlib's rounding).
    """

    @keyword_only
    def __init__(
        self,
        *,
        minSupport=0.3,
        minConfidence=0.8,
        itemsCol="items",
        predictionCol="prediction",
        numPartitions=None,
        maxLen=None,
        minCount=None,
        thresholdMode="exact",
    ):
        super().__init__()
        kwargs = {k: v for k, v in self._input_kwargs.items() if v is not None}
        self._set(**kwargs)

    @keyword_only
    def setParams(
        self,
        *,
        minSupport=0.3,
        minConfidence=0.8,
        itemsCol="items",
        predictionCol="prediction",
        numPartitions=None,
        maxLen=None,
        minCount=None,
        thresholdMode="exact",
    ):
        """Sets params for this FPGrowth (None leaves a param unset)."""
        kwargs = {k: v for k, v in self._input_kwargs.items() if v is not None}
        return self._set(**kwargs)

    def setItemsCol(self, value):
        """Sets the value of itemsCol."""
        return self._set(itemsCol=value)

    def setMinSupport(self, value):
        """Sets the value of minSupport."""
        return self._set(minSupport=value)

    def setNumPartitions(self, value):
        """Sets the value of numPartitions (the number of item groups)."""
        return self._set(numPartitions=value)

    def setMinConfidence(self, value):
        """Sets the value of minConfidence."""
        return self._set(minConfidence=value)

    def setPredictionCol(self, value):
        """Sets the value of predictionCol."""
        return self._set(predictionCol=value)

    def setMaxLen(self, value):
        """Sets the value of maxLen."""
        return self._set(maxLen=value)

    def setMinCount(self, value):
        """Sets the value of minCount."""
        return self._set(minCount=value)

    def setThresholdMode(self, value):
        """Sets the value of thresholdMode ('exact' or 'spark')."""
        return self._set(thresholdMode=value)

    def _fit(self, dataset):
        self.check()
        items_col = self.getItemsCol()
        if items_col not in dataset.columns:
            raise IllegalArgumentException(
                message=f"{items_col} does not exist. Available: {', '.join(dataset.columns)}"
            )
        dtype = dataset.schema[items_col].dataType
        if not isinstance(dtype, ArrayType):
            raise IllegalArgumentException(
                message=f"requirement failed: The input column must be array, but got "
                f"{dtype.simpleString()}."
            )
        spark = dataset.sparkSession
        local_python(spark)
        sc = spark.sparkContext
        arrow_type = to_arrow_type(dtype.elementType)

        base = dataset.select(F.col(items_col).alias("items")).where(F.col("items").isNotNull())
        cache_here = not dataset.storageLevel.useMemory and not dataset.storageLevel.useDisk
        if cache_here:
            # Read three times (counts, item counts, shards). On disk, not in the heap: the
            # heap is what the shuffle's sorting needs (a 1 GB heap that also held 10^7
            # baskets ran out while sorting the groups), and from the page cache it is as fast
            # (98.0 s against 97.8 s in memory at 10^7 with a 12 GB heap, docs/spark.md).
            base = base.persist(StorageLevel.DISK_ONLY)
        try:
            # One pass counts the baskets and fails, inside the job as MLlib does, on a basket
            # that repeats an item; it also counts the baskets that hold a null item (and
            # keeps one to show), which fail the fit before any mining.
            basket = F.concat(
                F.lit("["),
                F.array_join(F.col("items").cast("array<string>"), ", ", "null"),
                F.lit("]"),
            )
            shown = F.concat(F.lit(_UNIQUE), basket, F.lit("."))
            dup = F.size("items") != F.size(F.array_distinct("items"))
            has_null = F.exists("items", lambda item: item.isNull())
            summary = base.agg(
                F.count(F.lit(1)).alias("n"),
                F.sum(F.when(dup, F.raise_error(shown)).otherwise(F.lit(0))).alias("dups"),
                F.sum(F.when(has_null, F.lit(1)).otherwise(F.lit(0))).alias("nulls"),
                F.first(F.when(has_null, basket), ignorenulls=True).alias("null_basket"),
            ).first()
            n, nulls = summary["n"], summary["nulls"]
            if nulls:
                raise ValueError(
                    f"itemsCol {items_col!r}: {nulls} "
                    f"{'basket holds' if nulls == 1 else 'baskets hold'} a null item, e.g. "
                    f"{summary['null_basket']}; drop the nulls first "
                    f"(pyspark.sql.functions.array_compact) or fill them"
                )
            min_count = self.getMinCount() or min_count_for(
                n, self.getMinSupport(), self.getThresholdMode()
            )
            counted = (
                base.select(F.explode("items").alias("item"))
                .groupBy("item")
                .count()
                .where(F.col("count") >= min_count)
                .collect()
            )
            frequent = sorted(((-r["count"], r["item"]) for r in counted))
            items = [item for _, item in frequent]
            items_bc = sc.broadcast(items)
            groups = self.getNumPartitions() if self.isSet(self.numPartitions) else None
            groups = max(1, min(groups or base.rdd.getNumPartitions(), max(1, len(items))))
            keys = partition_keys(groups)
            shards = base.mapInArrow(
                functools.partial(
                    _shard, items_bc=items_bc, arrow_type=arrow_type, num_groups=groups, keys=keys
                ),
                _SHARD_SCHEMA,
            )
            ranked = (
                shards.repartition(groups, "key")
                .groupBy("key")
                .applyInArrow(
                    _group_miner(groups, min_count, self.getMaxLen()), _RANKED_SCHEMA
                )
                .persist(StorageLevel.MEMORY_AND_DISK)
            )
            ranked.count()
        finally:
            if cache_here:
                base.unpersist()
        model = FPGrowthModel._create(ranked, items_bc, dtype, n, min_count)
        return self._copyValues(model)


class FPGrowthModel(Model, FPGrowthParams, MLReadable, MLWritable):
    """The fitted model: ``freqItemsets``, ``associationRules`` and ``transform`` as MLlib's.

    ``model.write().overwrite().save(path)`` and ``FPGrowthModel.load(path)`` keep it as MLlib
    keeps its models: Spark's metadata JSON (params, uid) under ``metadata/``, the itemsets as
    rank lists and the ranked items as Parquet under ``itemsets/`` and ``items/``.
    """

    def __init__(self):
        super().__init__()
        self._ranked = None
        self._items_bc = None
        self._dtype = None
        self._n = None
        self._min_count = None
        self._freq = None
        self._rules = {}

    @classmethod
    def _create(cls, ranked, items_bc, dtype, n, min_count):
        model = cls()
        model._ranked, model._items_bc, model._dtype = ranked, items_bc, dtype
        model._n, model._min_count = n, min_count
        return model

    def setItemsCol(self, value):
        """Sets the value of itemsCol (the column transform reads)."""
        return self._set(itemsCol=value)

    def setMinConfidence(self, value):
        """Sets the value of minConfidence (the rules are recomputed)."""
        return self._set(minConfidence=value)

    def setPredictionCol(self, value):
        """Sets the value of predictionCol."""
        return self._set(predictionCol=value)

    @property
    def numTrainingRecords(self):
        """The number of non-null baskets the model was fitted on."""
        return self._n

    @property
    def minCountUsed(self):
        """The count threshold the fit applied (from minCount, or minSupport and the mode)."""
        return self._min_count

    def _to_items(self, df, columns, out_schema):
        local_python(df.sparkSession)
        arrow_type = to_arrow_type(self._dtype.elementType)
        body = functools.partial(
            _arrow.ranks_to_items,
            broadcast=self._items_bc,
            arrow_type=arrow_type,
            columns=frozenset(columns),
        )
        return df.mapInArrow(body, out_schema)

    @property
    def freqItemsets(self):
        """DataFrame(items: array, freq: long): the frequent itemsets, items most frequent first."""
        if self._freq is None:
            schema = StructType(
                [
                    StructField("items", self._dtype, False),
                    StructField("freq", LongType(), False),
                ]
            )
            ranked = self._ranked.select(F.col("ranks").alias("items"), "freq")
            self._freq = self._to_items(ranked, ["items"], schema)
        return self._freq

    @property
    def associationRules(self):
        """DataFrame(antecedent, consequent: array, confidence, lift, support: double).

        Generated from the itemsets without leaving the executors (a join of each itemset's
        one-item-out subsets with their counts), with MLlib's double arithmetic.
        """
        conf = self.getMinConfidence()
        if conf not in self._rules:
            ranked = _rules.rules_of_ranks(self._ranked, self._n, conf)
            schema = StructType(
                [
                    StructField("antecedent", self._dtype, False),
                    StructField("consequent", self._dtype, False),
                    StructField("confidence", ranked.schema["confidence"].dataType, False),
                    StructField("lift", ranked.schema["lift"].dataType, True),
                    StructField("support", ranked.schema["support"].dataType, False),
                ]
            )
            # Persisted (lazily) because transform reads them again; one confidence at a time.
            for stale in self._rules.values():
                stale.unpersist()
            rules = self._to_items(ranked, ["antecedent", "consequent"], schema)
            self._rules = {conf: rules.persist(StorageLevel.MEMORY_AND_DISK)}
        return self._rules[conf]

    def _transform(self, dataset):
        return _rules.predict(
            dataset, self.associationRules, self.getItemsCol(), self.getPredictionCol()
        )

    def write(self):
        """An MLWriter for this model (``.overwrite()``, ``.save(path)``)."""
        return _ModelWriter(self)

    @classmethod
    def read(cls):
        """An MLReader for saved models (``.load(path)``)."""
        return _ModelReader(cls)


_MODEL_CLASS = f"{__name__}.FPGrowthModel"


class _ModelWriter(MLWriter):
    def __init__(self, instance):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path):
        model, spark = self.instance, self.sparkSession
        extra = {
            "numTrainingRecords": model._n,
            "minCountUsed": model._min_count,
            "itemsType": json.loads(model._dtype.json()),
        }
        DefaultParamsWriter.saveMetadata(model, path, spark, extraMetadata=extra)
        items_schema = StructType(
            [
                StructField("rank", IntegerType(), False),
                StructField("item", model._dtype.elementType, False),
            ]
        )
        items = list(enumerate(model._items_bc.value))
        spark.createDataFrame(items, items_schema).write.parquet(os.path.join(path, "items"))
        model._ranked.write.parquet(os.path.join(path, "itemsets"))


class _ModelReader(MLReader):
    def __init__(self, cls):
        super().__init__()
        self.cls = cls

    def load(self, path):
        spark = self.sparkSession
        metadata = DefaultParamsReader.loadMetadata(path, spark, _MODEL_CLASS)
        dtype = ArrayType.fromJson(metadata["itemsType"])
        rows = spark.read.parquet(os.path.join(path, "items")).collect()
        rows.sort(key=lambda r: r["rank"])
        if [r["rank"] for r in rows] != list(range(len(rows))):
            raise ValueError(f"{path}/items: the ranks are not 0..{len(rows) - 1}")
        items = [r["item"] for r in rows]
        ranked = spark.read.parquet(os.path.join(path, "itemsets"))
        model = self.cls._create(
            ranked,
            spark.sparkContext.broadcast(items),
            dtype,
            metadata["numTrainingRecords"],
            metadata["minCountUsed"],
        )
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model
