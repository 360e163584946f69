"""Batch ranking on Spark: each history against the item vectors, inside ``mapInArrow``.

A history's query is the mean of its known items' L2-normalised vectors; items are scored by
cosine with ``affinity.top_k``. The item matrix is broadcast (shipped once per executor, read
once per Python worker and kept there). With ``rules``, an item that is the consequent of a rule
whose antecedent the history holds gets ``ruleWeight * confidence`` added to its cosine (the
best such rule counts); the rule matches are found by a join, never collected to the driver.
"""

import functools
import json
import os
import struct

import numpy as np
import pyarrow as pa
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_type, to_arrow_type
from pyspark.sql.types import ArrayType, FloatType, StructField, StructType

from . import _arrow
from ._native import native
from ._workers import local_python


def _bad(path, reason):
    return ValueError(f"{path}: {reason}")


def _read_safetensors_matrix(path, name="vectors"):
    """A 2-D F32 or BF16 tensor of a safetensors file as float32 (a few lines, no dependency):
    8 bytes little-endian header length, a JSON header, then the raw little-endian data."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise _bad(path, "not a safetensors file (shorter than its 8-byte header length)")
    (size,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + size])
        entry = header[name]
        dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
    except (ValueError, KeyError, TypeError) as e:
        raise _bad(path, f"no readable tensor {name!r} in the safetensors header ({e})") from e
    raw = data[8 + size + start : 8 + size + end]
    if len(shape) != 2:
        raise _bad(path, f"tensor {name!r} has shape {shape}, expected a matrix")
    width = {"F32": 4, "BF16": 2}.get(dtype)
    if width is None:
        raise _bad(path, f"tensor {name!r} is {dtype}, expected F32 or BF16")
    if len(raw) != shape[0] * shape[1] * width:
        raise _bad(path, f"tensor {name!r} holds {len(raw)} bytes, not {shape} x {width}")
    if dtype == "F32":
        values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    else:
        values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    return values.reshape(shape)


def load_vectors(source, items=None):
    """(item ids, float32 matrix) from a numpy array, a Parquet file or a bundle directory.

    - numpy array ``[n, d]``: the ids are `items` (n of them), else the row numbers 0..n-1;
    - Parquet file with columns ``item`` and ``vector: list<float>``;
    - a fitted affinity bundle directory: ``catalog.json`` (``items``) and
      ``vectors.safetensors`` (tensor ``vectors``, f32 or bf16).
    """
    if isinstance(source, np.ndarray):
        matrix = np.asarray(source, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError(f"vectors: expected a matrix, got shape {matrix.shape}")
        ids = list(items) if items is not None else list(range(matrix.shape[0]))
        if len(ids) != matrix.shape[0]:
            raise ValueError(f"vectors: {matrix.shape[0]} rows but {len(ids)} items")
        return ids, matrix
    path = os.fspath(source)
    if os.path.isdir(path):
        catalog = os.path.join(path, "catalog.json")
        try:
            with open(catalog, encoding="utf-8") as f:
                ids = json.load(f)["items"]
        except (OSError, ValueError, KeyError) as e:
            raise _bad(catalog, f"cannot read the catalogue's items ({e})") from e
        file = os.path.join(path, "vectors.safetensors")
        if not os.path.exists(file):
            raise _bad(path, "the bundle has no vectors.safetensors (fitted without vectors?)")
        matrix = _read_safetensors_matrix(file)
        if matrix.shape[0] != len(ids):
            raise _bad(file, f"{matrix.shape[0]} vectors for {len(ids)} catalogue items")
        return ids, matrix
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for column in ("item", "vector"):
        if column not in table.column_names:
            raise _bad(path, f"no column {column!r} (columns: {table.column_names})")
    vectors = table.column("vector").combine_chunks()
    if vectors.null_count:
        raise _bad(path, "column 'vector' has null rows")
    lengths = vectors.value_lengths().to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != lengths[0]).any():
        row = int(np.argmax(lengths != lengths[0]))
        raise _bad(path, f"row {row} of 'vector' has {lengths[row]} values, row 0 {lengths[0]}")
    dim = int(lengths[0]) if len(lengths) else 0
    values = vectors.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return table.column("item").to_pylist(), values.reshape(len(lengths), dim)


def _normalise(matrix):
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1)).astype(np.float32)


def _score(batches, bc, history_col, k, exclude_history, weight, id_type, out_names):
    """mapInArrow body: top-k items for each history of each batch."""
    affinity = native()
    for batch in batches:
        ids, matrix = bc.value
        index = _arrow.cached(bc, "index", lambda v: {item: i for i, item in enumerate(v[0])})
        histories = batch.column(batch.schema.get_field_index(history_col)).to_pylist()
        boosts = [None] * batch.num_rows
        if "_boost_c" in batch.schema.names:
            bc_items = batch.column(batch.schema.get_field_index("_boost_c")).to_pylist()
            bc_conf = batch.column(batch.schema.get_field_index("_boost_w")).to_pylist()
            boosts = [
                None if c is None else {index[i]: w for i, w in zip(c, ws) if i in index}
                for c, ws in zip(bc_items, bc_conf)
            ]
        known = [[index[i] for i in h or () if i in index] for h in histories]
        live = [r for r, h in enumerate(known) if h]
        recs, scores = [[] for _ in known], [[] for _ in known]
        if live:
            queries = _normalise(np.stack([matrix[known[r]].mean(axis=0) for r in live]))
            extra = max((len(boosts[r] or ()) for r in live), default=0)
            exclude = None
            if exclude_history:
                exclude = pa.array([sorted(set(known[r])) for r in live], pa.list_(pa.int32()))
            want = min(k + extra, len(ids))
            top, sims = affinity.top_k(matrix, queries, want, exclude=exclude, metric="cosine")
            top, sims = np.asarray(top), np.asarray(sims)
            for q, r in enumerate(live):
                keep = top[q] >= 0
                pairs = dict(zip(top[q][keep].tolist(), sims[q][keep].tolist()))
                for item, w in (boosts[r] or {}).items():
                    if exclude_history and item in known[r]:
                        continue
                    # The boosted item may lie outside the top list: its cosine directly.
                    cos = pairs.get(item, float(np.dot(matrix[item], queries[q])))  # both unit
                    pairs[item] = cos + weight * w
                best = sorted(pairs.items(), key=lambda p: (-p[1], p[0]))[:k]
                recs[r] = [ids[i] for i, _ in best]
                scores[r] = [float(s) for _, s in best]
        arrays = [batch.column(i) for i, name in enumerate(batch.schema.names) if name in out_names]
        names = [name for name in batch.schema.names if name in out_names]
        arrays += [pa.array(recs, pa.list_(id_type)), pa.array(scores, pa.list_(pa.float32()))]
        yield pa.RecordBatch.from_arrays(arrays, names=names + list(out_names[len(names) :]))


def _rule_boosts(rows, rules, history_col):
    """Per history (`_rid`), the consequents of the rules it satisfies and their best
    confidence, by a join keyed on each antecedent's last item (see ``_rules.predict``)."""
    keyed = rules.select(
        F.element_at("antecedent", -1).alias("_key"),
        F.col("antecedent").alias("_ante"),
        F.col("consequent")[0].alias("_c"),
        F.col("confidence").alias("_w"),
    )
    exploded = rows.select(
        "_rid", F.col(history_col).alias("_h"), F.explode(history_col).alias("_key")
    )
    return (
        exploded.join(keyed, "_key")
        .where(F.size(F.array_except("_ante", "_h")) == 0)
        .groupBy("_rid", "_c")
        .agg(F.max("_w").alias("_w"))
        .groupBy("_rid")
        .agg(F.collect_list("_c").alias("_boost_c"), F.collect_list("_w").alias("_boost_w"))
    )


def recommend(
    histories_df,
    vectors,
    k,
    *,
    rules=None,
    items=None,
    historyCol="history",
    exclude_history=True,
    outputCol="recommendations",
    scoreCol="scores",
    ruleWeight=1.0,
):
    """Adds the top `k` items of each history (``outputCol``) and their scores (``scoreCol``).

    `vectors` is a numpy array (ids from `items`, else row numbers), a Parquet file (``item``,
    ``vector``) or a fitted bundle directory (see :func:`load_vectors`). `rules` is an optional
    rules DataFrame (``antecedent``, ``consequent``, ``confidence``), e.g. a model's
    ``associationRules``. Histories with no known item get empty lists; items of the history
    are left out when `exclude_history`. Row order is not kept when `rules` is given.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, not {k!r}")
    if historyCol not in histories_df.columns:
        raise ValueError(f"no column {historyCol!r} (columns: {histories_df.columns})")
    if not isinstance(histories_df.schema[historyCol].dataType, ArrayType):
        raise ValueError(f"column {historyCol!r} must be an array of item ids")
    ids, matrix = load_vectors(vectors, items)
    id_type = pa.array(ids[:1]).type if ids else pa.string()
    if id_type == pa.null():
        id_type = pa.string()
    spark = histories_df.sparkSession
    local_python(spark)
    bc = spark.sparkContext.broadcast((ids, _normalise(matrix)))
    columns = [c for c in histories_df.columns if c not in (outputCol, scoreCol)]
    frame = histories_df.select(*columns)
    if rules is not None:
        rows = frame.withColumn("_rid", F.monotonically_increasing_id())
        frame = rows.join(_rule_boosts(rows, rules, historyCol), "_rid", "left").drop("_rid")
    schema = StructType(
        [histories_df.schema[c] for c in columns]
        + [
            StructField(outputCol, ArrayType(from_arrow_type(id_type))),
            StructField(scoreCol, ArrayType(FloatType())),
        ]
    )
    body = functools.partial(
        _score,
        bc=bc,
        history_col=historyCol,
        k=k,
        exclude_history=exclude_history,
        weight=float(ruleWeight),
        id_type=to_arrow_type(from_arrow_type(id_type)),
        out_names=tuple(columns) + (outputCol, scoreCol),
    )
    return frame.mapInArrow(body, schema)
