"""affinity on Apache Spark.

``affinity_spark.FPGrowth`` is a drop-in for ``pyspark.ml.fpm.FPGrowth``: the same parameters,
outputs and defaults, with parallel FP-growth whose local mining runs in affinity's Rust miner
(the ``affinity`` module of the ``affinity-rs`` wheel) inside ``applyInArrow``, an exact count
threshold by default, and ``maxLen`` / ``minCount``. ``affinity_spark.recommend`` scores users'
histories against item vectors inside ``mapInArrow``. See docs/spark.md.
"""

from .fpgrowth import FPGrowth, FPGrowthModel, min_count_for
from .recommend import load_vectors, recommend

__all__ = ["FPGrowth", "FPGrowthModel", "load_vectors", "min_count_for", "recommend"]
