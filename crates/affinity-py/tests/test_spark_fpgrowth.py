"""affinity_spark.FPGrowth against pyspark.ml.fpm.FPGrowth (row for row) and a Python oracle."""

import csv
import os
import random

import pytest

from _reference_pfp import all_itemsets

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
GROCERIES = os.path.join(ROOT, "data", "groceries.csv")


def groceries_baskets(limit=None):
    """Member-day baskets of data/groceries.csv, each item once, in file order."""
    baskets = {}
    with open(GROCERIES, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            basket = baskets.setdefault((row["Member_number"], row["Date"]), [])
            if row["itemDescription"] not in basket:
                basket.append(row["itemDescription"])
    out = list(baskets.values())
    return out[:limit] if limit else out


def generated_baskets():
    """100 baskets where item 'seven' is in exactly 7 (and 'pair' with it in 7), so that a
    minSupport of 0.07 keeps it in exact mode (count >= 7) and drops it in Spark's (>= 8)."""
    rng = random.Random(12)
    pool = [f"i{j}" for j in range(12)]
    baskets = []
    for n in range(100):
        basket = rng.sample(pool, rng.randint(0, 5))
        if n % 15 == 0:
            basket += ["seven", "pair"]
        baskets.append(basket)
    return baskets


def frame(spark, baskets):
    rows = [(i, b) for i, b in enumerate(baskets)]
    return spark.createDataFrame(rows, "id long, items array<string>").cache()


def itemsets(df):
    return sorted((tuple(sorted(r["items"])), r["freq"]) for r in df.collect())


def rules(df):
    # Antecedent items compared as a set (MLlib's order within an itemset differs).
    return sorted(
        (tuple(sorted(r["antecedent"])), tuple(r["consequent"]), r["confidence"], r["lift"],
         r["support"])
        for r in df.collect()
    )


def predictions(df):
    return sorted((r["id"], tuple(sorted(r["prediction"]))) for r in df.collect())


def fit_both(spark, df, **params):
    from pyspark.ml.fpm import FPGrowth as MLlibFPGrowth

    import affinity_spark

    mode = params.pop("thresholdMode", "exact")
    ours = affinity_spark.FPGrowth(thresholdMode=mode, **params).fit(df)
    theirs = MLlibFPGrowth(**params).fit(df)
    return ours, theirs


def assert_same(ours, theirs, df):
    assert itemsets(ours.freqItemsets) == itemsets(theirs.freqItemsets)
    # Bit-identical measures: compared with ==, not approximately.
    assert rules(ours.associationRules) == rules(theirs.associationRules)
    assert predictions(ours.transform(df)) == predictions(theirs.transform(df))
    # In the input's order, as MLlib's row-by-row predictions are.
    assert [r["id"] for r in ours.transform(df).collect()] == [r["id"] for r in df.collect()]


def test_threshold_modes_differ_where_documented():
    from affinity_spark import min_count_for

    assert min_count_for(100, 0.07) == 7
    assert min_count_for(100, 0.07, "spark") == 8
    assert min_count_for(14963, 0.005) == min_count_for(14963, 0.005, "spark") == 75
    assert min_count_for(10, 0.0) == 1
    with pytest.raises(ValueError):
        min_count_for(10, 0.5, "float")


def test_groceries_exact_mode_matches_mllib(spark):
    from affinity_spark import min_count_for

    baskets = groceries_baskets()
    support = 0.004
    assert min_count_for(len(baskets), support) == min_count_for(len(baskets), support, "spark")
    df = frame(spark, baskets)
    ours, theirs = fit_both(spark, df, minSupport=support, minConfidence=0.1)
    assert ours.freqItemsets.count() > 150
    assert ours.associationRules.count() > 5
    assert_same(ours, theirs, df)
    # And the itemsets are those of one whole mining (the parallel split loses nothing).
    expected = all_itemsets(baskets, min_count_for(len(baskets), support))
    assert itemsets(ours.freqItemsets) == sorted(expected.items())


def test_groups_streamed_in_small_batches_lose_nothing(spark):
    # Each group reaches its PfpGroup in many Arrow batches of 50 prefixes, and identical
    # prefixes in different batches are merged there: still one whole mining's itemsets.
    import affinity_spark

    baskets = groceries_baskets(4000)
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    old = spark.conf.get(key)
    spark.conf.set(key, "50")
    try:
        model = affinity_spark.FPGrowth(minSupport=0.005, numPartitions=3).fit(
            frame(spark, baskets)
        )
        got = itemsets(model.freqItemsets)
    finally:
        spark.conf.set(key, old)
    expected = all_itemsets(baskets, model.minCountUsed)
    assert len(expected) > 100
    assert got == sorted(expected.items())


def test_spark_mode_reproduces_mllib_rounding(spark):
    baskets = generated_baskets()
    df = frame(spark, baskets)
    ours, theirs = fit_both(
        spark, df, minSupport=0.07, minConfidence=0.3, numPartitions=3, thresholdMode="spark"
    )
    assert ours.minCountUsed == 8
    assert_same(ours, theirs, df)
    assert ("seven",) not in dict(itemsets(ours.freqItemsets))

    exact = __import__("affinity_spark").FPGrowth(minSupport=0.07, minConfidence=0.3).fit(df)
    assert exact.minCountUsed == 7
    found = dict(itemsets(exact.freqItemsets))
    assert found[("pair", "seven")] == 7
    assert found == all_itemsets(baskets, 7)


def test_null_and_empty_baskets_and_int_items(spark):
    rows = [(0, [1, 2, 5]), (1, [1, 2, 3, 5]), (2, [1, 2]), (3, None), (4, [])]
    df = spark.createDataFrame(rows, "id long, items array<int>")
    ours, theirs = fit_both(spark, df, minSupport=0.3, minConfidence=0.5, numPartitions=2)
    assert ours.numTrainingRecords == 4
    assert ours.freqItemsets.schema == theirs.freqItemsets.schema
    assert ours.associationRules.schema["consequent"].dataType.simpleString() == "array<int>"
    assert_same(ours, theirs, df)


def test_min_count_and_max_len(spark):
    import affinity_spark

    baskets = groceries_baskets(3000)
    df = frame(spark, baskets)
    model = affinity_spark.FPGrowth(minCount=20, maxLen=2, numPartitions=4).fit(df)
    assert model.minCountUsed == 20
    got = dict(itemsets(model.freqItemsets))
    assert got == all_itemsets(baskets, 20, max_len=2)
    assert max(len(s) for s in got) == 2
    # Changing minConfidence on the model recomputes the rules, as in MLlib.
    few = model.setMinConfidence(0.9).associationRules.count()
    many = model.setMinConfidence(0.0).associationRules.count()
    assert few < many


def test_save_and_load_keep_the_model_and_the_estimator(spark, tmp_path):
    import affinity_spark

    rows = [(0, [1, 2, 5]), (1, [1, 2, 3, 5]), (2, [1, 2]), (3, [2, 5]), (4, [])]
    df = spark.createDataFrame(rows, "id long, items array<int>")
    estimator = affinity_spark.FPGrowth(minSupport=0.4, minConfidence=0.6, maxLen=3)
    model = estimator.fit(df).setPredictionCol("next")
    model.write().overwrite().save(str(tmp_path / "model"))
    loaded = affinity_spark.FPGrowthModel.load(str(tmp_path / "model"))
    assert loaded.uid == model.uid
    assert (loaded.numTrainingRecords, loaded.minCountUsed) == (5, 2)
    assert loaded.getPredictionCol() == "next" and loaded.getMaxLen() == 3
    assert loaded.freqItemsets.schema == model.freqItemsets.schema
    assert itemsets(loaded.freqItemsets) == itemsets(model.freqItemsets)
    assert rules(loaded.associationRules) == rules(model.associationRules)
    assert loaded.transform(df).collect() == model.transform(df).collect()
    # Saving again over it needs overwrite(), as in MLlib.
    with pytest.raises(Exception, match="already exists"):
        model.write().save(str(tmp_path / "model"))

    estimator.save(str(tmp_path / "estimator"))
    again = affinity_spark.FPGrowth.load(str(tmp_path / "estimator"))
    assert again.uid == estimator.uid
    assert {p.name: v for p, v in again.extractParamMap().items()} == {
        p.name: v for p, v in estimator.extractParamMap().items()
    }
    # A saved estimator is not a model.
    with pytest.raises(AssertionError, match="FPGrowthModel"):
        affinity_spark.FPGrowthModel.load(str(tmp_path / "estimator"))


def test_params_match_mllib_defaults():
    from pyspark.ml.fpm import FPGrowth as MLlibFPGrowth

    import affinity_spark

    ours, theirs = affinity_spark.FPGrowth(), MLlibFPGrowth()
    for name in ("itemsCol", "minSupport", "minConfidence", "predictionCol"):
        assert ours.getOrDefault(name) == theirs.getOrDefault(name), name
    assert not ours.isSet("numPartitions")
    assert ours.getMaxLen() is None and ours.getMinCount() is None
    assert ours.getThresholdMode() == "exact"
    assert ours.setMinSupport(0.1).getMinSupport() == 0.1
    assert ours.setNumPartitions(3).getNumPartitions() == 3
    assert ours.setItemsCol("basket").getItemsCol() == "basket"


def test_errors(spark):
    from pyspark.errors import IllegalArgumentException
    from pyspark.ml.fpm import FPGrowth as MLlibFPGrowth

    import affinity_spark

    dup = spark.createDataFrame([(["a", "b"],), (["a", "a"],)], "items array<string>")
    for estimator in (affinity_spark.FPGrowth(minSupport=0.1), MLlibFPGrowth(minSupport=0.1)):
        with pytest.raises(Exception, match="Items in a transaction must be unique"):
            estimator.fit(dup)
    text = spark.createDataFrame([("a b",)], "items string")
    with pytest.raises(IllegalArgumentException, match="must be array"):
        affinity_spark.FPGrowth().fit(text)
    ok = spark.createDataFrame([(["a"],)], "items array<string>")
    for bad in (
        {"minSupport": 1.5},
        {"minConfidence": -0.1},
        {"numPartitions": 0},
        {"maxLen": 0},
        {"minCount": 0},
        {"thresholdMode": "float"},
    ):
        name = next(iter(bad))
        with pytest.raises(IllegalArgumentException, match=name):
            affinity_spark.FPGrowth(**bad).fit(ok)


def test_partition_keys_give_each_group_its_own_partition(spark):
    from pyspark.sql import functions as F

    from affinity_spark.fpgrowth import partition_keys

    for groups in (1, 2, 3, 7, 16):
        keys = partition_keys(groups)
        df = spark.createDataFrame([(k,) for k in keys], "key int")
        parts = [r[0] for r in df.select(F.pmod(F.hash("key"), F.lit(groups))).collect()]
        assert parts == list(range(groups))
