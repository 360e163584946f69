"""Association rules and predictions, computed by Spark joins (nothing collected to the driver).

Rules follow MLlib's ``AssociationRules.run``: each itemset X with |X| > 1 and each item c in X
give the candidate X \\ {c} => [c], joined with the antecedent's count. The measures use MLlib's
operations in MLlib's order, all in doubles, so the values are bit-identical:
``confidence = freq(X) / freq(A)``, ``lift = confidence / (freq(c) / n)``,
``support = freq(X) / n``; rules with ``confidence >= minConfidence`` are kept.
"""

from pyspark.sql import functions as F


def rules_of_ranks(ranked, n, min_confidence):
    """Rules over rank lists: DataFrame(antecedent, consequent: array<int>, confidence, lift,
    support). Antecedents keep the itemset's rank order, so they equal the stored itemsets."""
    candidates = ranked.where(F.size("ranks") > 1).select(
        "ranks", F.col("freq").alias("union"), F.explode("ranks").alias("c")
    )
    candidates = candidates.select(
        F.filter("ranks", lambda x: x != F.col("c")).alias("antecedent"), "c", "union"
    )
    antecedents = ranked.select(F.col("ranks").alias("antecedent"), F.col("freq").alias("ante"))
    # The single items' counts are few (one per frequent item): broadcast to every task.
    singles = F.broadcast(
        ranked.where(F.size("ranks") == 1).select(
            F.col("ranks")[0].alias("c"), F.col("freq").alias("single")
        )
    )
    joined = candidates.join(antecedents, "antecedent").join(singles, "c")
    union = F.col("union").cast("double")
    confidence = union / F.col("ante").cast("double")
    item_support = F.col("single").cast("double") / F.lit(float(n))
    return (
        joined.select(
            "antecedent",
            F.array("c").alias("consequent"),
            confidence.alias("confidence"),
            item_support.alias("_item_support"),
            (union / F.lit(float(n))).alias("support"),
        )
        .where(F.col("confidence") >= F.lit(float(min_confidence)))
        .select(
            "antecedent",
            "consequent",
            "confidence",
            (F.col("confidence") / F.col("_item_support")).alias("lift"),
            "support",
        )
    )


def predict(dataset, rules, items_col, prediction_col):
    """MLlib's predictions (the consequents of the rules whose antecedent the basket holds,
    minus the basket's items), by a join instead of a broadcast of every rule.

    Each rule is keyed by the last item of its antecedent (the least frequent one, since
    antecedents are in rank order: the key that the fewest baskets hold); each basket meets the
    rules keyed by one of its items, and the full containment is checked in SQL. Baskets with
    no match, empty or null get an empty list, as in MLlib. The rows come back in the input's
    order, as MLlib's row-by-row predictions do: the joins reorder them, a sort by row id
    restores it.
    """
    dtype = dataset.schema[items_col].dataType
    keyed = rules.select(
        F.element_at("antecedent", -1).alias("_key"),
        F.col("antecedent").alias("_ante"),
        F.col("consequent")[0].alias("_c"),
    )
    rows = dataset.withColumn("_rid", F.monotonically_increasing_id())
    exploded = rows.select(
        "_rid", F.col(items_col).alias("_basket"), F.explode(items_col).alias("_key")
    )
    hits = (
        exploded.join(keyed, "_key")
        .where(
            (F.size(F.array_except("_ante", "_basket")) == 0)
            & ~F.array_contains("_basket", F.col("_c"))
        )
        .groupBy("_rid")
        .agg(F.array_sort(F.collect_set("_c")).alias("_pred"))
    )
    empty = F.array().cast(dtype)
    return (
        rows.join(hits, "_rid", "left")
        .orderBy("_rid")
        .select(
            *[F.col(c) for c in dataset.columns if c != prediction_col],
            F.coalesce(F.col("_pred"), empty).alias(prediction_col),
        )
    )
