"""affinity_spark.recommend against a numpy brute force, and the three ways to give vectors."""

import json
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

N_ITEMS, DIM, K = 40, 8, 5


def vectors():
    rng = np.random.default_rng(7)
    return rng.standard_normal((N_ITEMS, DIM)).astype(np.float32)


def ids():
    return [f"item{i}" for i in range(N_ITEMS)]


def histories():
    rng = np.random.default_rng(3)
    rows = [(u, [f"item{i}" for i in rng.choice(N_ITEMS, rng.integers(1, 6), replace=False)])
            for u in range(30)]
    # Unknown items are ignored; a history of unknown items only, empty or null gets nothing.
    rows += [(30, ["item1", "nope"]), (31, ["nope"]), (32, []), (33, None)]
    return rows


def brute_force(matrix, history, k, exclude=True, boost=None, weight=1.0, every=False):
    """The expected (ids, scores): cosine of the mean of unit vectors (+ rule boosts); with
    `every`, the score of every item instead."""
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    known = [int(i[4:]) for i in history or () if i.startswith("item")]
    if not known:
        return [], []
    q = unit[known].mean(axis=0)
    scores = unit @ (q / np.linalg.norm(q))
    for item, w in (boost or {}).items():
        scores[item] += weight * w
    if every:
        return {f"item{i}": float(s) for i, s in enumerate(scores)}
    order = [i for i in np.argsort(-scores, kind="stable") if not (exclude and i in known)]
    return [f"item{i}" for i in order[:k]], [float(scores[i]) for i in order[:k]]


def assert_ranked(row, k, **options):
    """The scores are the brute force's top k, and each item's score is its own (items of equal
    scores may come in either order)."""
    _, want_scores = brute_force(vectors(), row["history"], k, **options)
    np.testing.assert_allclose(row["scores"], want_scores, rtol=1e-5, atol=1e-6)
    every = brute_force(vectors(), row["history"], k, every=True, **options)
    if row["recommendations"]:
        own = [every[i] for i in row["recommendations"]]
        np.testing.assert_allclose(row["scores"], own, rtol=1e-5, atol=1e-6)
    assert len(set(row["recommendations"])) == len(row["recommendations"])


def test_recommend_matches_brute_force(spark):
    import affinity_spark

    df = spark.createDataFrame(histories(), "user long, history array<string>")
    out = affinity_spark.recommend(df, vectors(), K, items=ids()).collect()
    assert len(out) == len(histories())
    for row in out:
        assert_ranked(row, K)
        assert not set(row["recommendations"]) & set(row["history"] or ())
    assert sum(1 for row in out if not row["recommendations"]) == 3
    keep = affinity_spark.recommend(df, vectors(), K, items=ids(), exclude_history=False)
    for row in keep.collect():
        assert_ranked(row, K, exclude=False)


def test_recommend_with_rule_boost(spark):
    import affinity_spark

    rules = spark.createDataFrame(
        [(["item1"], ["item39"], 0.9), (["item1", "item2"], ["item38"], 0.5),
         (["item3"], ["item1"], 0.7)],
        "antecedent array<string>, consequent array<string>, confidence double",
    )
    rows = [(0, ["item1"]), (1, ["item1", "item2"]), (2, ["item2"]), (3, ["item3", "item1"])]
    df = spark.createDataFrame(rows, "user long, history array<string>")
    out = affinity_spark.recommend(df, vectors(), K, items=ids(), rules=rules, ruleWeight=2.0)
    boosts = {0: {39: 0.9}, 1: {39: 0.9, 38: 0.5}, 2: {}, 3: {39: 0.9, 1: 0.7}}
    for row in out.collect():
        assert_ranked(row, K, boost=boosts[row["user"]], weight=2.0)
    assert "item39" in out.where("user = 0").first()["recommendations"]


def write_bundle(path, matrix, bf16):
    if bf16:
        bits = matrix.astype(np.float32).view(np.uint32)
        data = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()
    else:
        data = matrix.astype("<f4").tobytes()
    header = json.dumps(
        {"vectors": {"dtype": "BF16" if bf16 else "F32", "shape": list(matrix.shape),
                     "data_offsets": [0, len(data)]}}
    ).encode()
    path.mkdir()
    (path / "vectors.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    (path / "catalog.json").write_text(json.dumps({"items": ids(), "text": []}))


def test_load_vectors_from_parquet_and_bundles(tmp_path):
    from affinity_spark import load_vectors

    m = vectors()
    table = pa.table({"item": ids(), "vector": pa.array(m.tolist(), pa.list_(pa.float32()))})
    pq.write_table(table, tmp_path / "v.parquet")
    got_ids, got = load_vectors(str(tmp_path / "v.parquet"))
    assert got_ids == ids() and np.array_equal(got, m)

    write_bundle(tmp_path / "f32", m, bf16=False)
    got_ids, got = load_vectors(tmp_path / "f32")
    assert got_ids == ids() and np.array_equal(got, m)

    write_bundle(tmp_path / "bf16", m, bf16=True)
    _, got = load_vectors(tmp_path / "bf16")
    np.testing.assert_allclose(got, m, rtol=1 / 128)

    got_ids, got = load_vectors(m)
    assert got_ids == list(range(N_ITEMS))


def test_load_vectors_errors(tmp_path):
    from affinity_spark import load_vectors

    with pytest.raises(ValueError, match="rows but"):
        load_vectors(vectors(), items=["a"])
    pq.write_table(pa.table({"item": ["a", "b"], "vector": [[1.0, 2.0], [1.0]]}),
                   tmp_path / "ragged.parquet")
    with pytest.raises(ValueError, match="ragged.parquet: row 1"):
        load_vectors(tmp_path / "ragged.parquet")
    pq.write_table(pa.table({"id": ["a"]}), tmp_path / "nocol.parquet")
    with pytest.raises(ValueError, match="no column 'item'"):
        load_vectors(tmp_path / "nocol.parquet")
    write_bundle(tmp_path / "b", vectors(), bf16=False)
    (tmp_path / "b" / "vectors.safetensors").write_bytes(b"\x01\x00")
    with pytest.raises(ValueError, match="vectors.safetensors"):
        load_vectors(tmp_path / "b")
