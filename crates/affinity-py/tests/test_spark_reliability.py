"""Issue 36, the Spark layer's parts of items 11 and 12: a null item is a clear error naming
the column, minCount and minSupport are one or the other, and a local session finds its
Python workers without PYSPARK_PYTHON."""

import sys

import pytest

pytest.importorskip("pyspark")


def test_a_null_item_is_a_value_error_naming_the_column(spark):
    import affinity_spark

    df = spark.createDataFrame(
        [(["a", "b"],), (["a", None],), (None,), (["c"],)], "basket array<string>"
    )
    with pytest.raises(
        ValueError,
        match=r"^itemsCol 'basket': 1 basket holds a null item, e\.g\. \[a, null\]; drop the "
        r"nulls first",
    ):
        affinity_spark.FPGrowth(itemsCol="basket", minSupport=0.1).fit(df)
    # Integers too (the basket is shown as Spark casts it to strings).
    ints = spark.createDataFrame([([1, None, 2],), ([3, None],)], "items array<int>")
    with pytest.raises(ValueError, match=r"^itemsCol 'items': 2 baskets hold a null item, e\.g\. "):
        affinity_spark.FPGrowth(minCount=1).fit(ints)


def test_min_count_and_min_support_are_one_or_the_other():
    from pyspark.errors import IllegalArgumentException

    import affinity_spark

    both = "parameter minCount given invalid value: set minCount or minSupport, not both"
    with pytest.raises(IllegalArgumentException, match=both):
        affinity_spark.FPGrowth(minSupport=0.2, minCount=2).check()
    with pytest.raises(IllegalArgumentException, match=both):
        affinity_spark.FPGrowth(minCount=2).setMinSupport(0.3).check()
    with pytest.raises(IllegalArgumentException, match=both):
        affinity_spark.FPGrowth(minSupport=0.3).setMinCount(5).check()
    # Either alone is fine (minSupport keeps MLlib's default when unset).
    affinity_spark.FPGrowth(minCount=2).check()
    affinity_spark.FPGrowth(minSupport=0.2).check()
    affinity_spark.FPGrowth().check()


def test_a_local_session_starts_its_workers_with_this_python(spark, monkeypatch):
    """docs/spark.md's local run (`venv/bin/python my_job.py`, no PYSPARK_PYTHON): pyspark
    then starts its workers with `python3` from PATH, which lacks the wheel unless the venv is
    activated. Every entry point points a local session's workers at this interpreter."""
    import numpy as np

    import affinity_spark

    sc = spark.sparkContext
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    # What pyspark sets without PYSPARK_PYTHON (restored to this session's at the end).
    monkeypatch.setattr(sc, "pythonExec", "python3")
    df = spark.createDataFrame([(["a", "b"],), (["a"],)], "items array<string>")
    model = affinity_spark.FPGrowth(minSupport=0.5, numPartitions=1).fit(df)
    assert sc.pythonExec == sys.executable
    got = sorted((tuple(r["items"]), r["freq"]) for r in model.freqItemsets.collect())
    assert got == [(("a",), 2), (("a", "b"), 1), (("b",), 1)]

    sc.pythonExec = "python3"
    histories = df.withColumnRenamed("items", "history")
    out = affinity_spark.recommend(histories, np.eye(2, dtype=np.float32), 1, items=["a", "b"])
    assert sc.pythonExec == sys.executable
    assert sorted(r["recommendations"] for r in out.collect()) == [[], ["b"]]

    # A Python named by PYSPARK_PYTHON (or spark.pyspark.python) is left alone.
    from affinity_spark._workers import local_python

    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/their/python")
    sc.pythonExec = "/opt/their/python"
    local_python(spark)
    assert sc.pythonExec == "/opt/their/python"
