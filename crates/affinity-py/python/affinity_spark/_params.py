"""The parameters of FPGrowth, the same as pyspark.ml.fpm.FPGrowth's plus three of affinity's."""

from pyspark.errors import IllegalArgumentException
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasPredictionCol

THRESHOLD_MODES = ("exact", "spark")


class FPGrowthParams(HasPredictionCol):
    """Params shared by :class:`FPGrowth` and :class:`FPGrowthModel`."""

    itemsCol = Param(Params._dummy(), "itemsCol", "items column name", TypeConverters.toString)
    minSupport = Param(
        Params._dummy(),
        "minSupport",
        "Minimal support level of the frequent pattern. [0.0, 1.0]. Any pattern that appears "
        "more than (minSupport * size-of-the-dataset) times will be output in the frequent "
        "itemsets.",
        TypeConverters.toFloat,
    )
    numPartitions = Param(
        Params._dummy(),
        "numPartitions",
        "Number of item groups (and partitions) used by parallel FP-growth. By default the "
        "number of partitions of the input. Must be >= 1.",
        TypeConverters.toInt,
    )
    minConfidence = Param(
        Params._dummy(),
        "minConfidence",
        "Minimal confidence for generating Association Rule. [0.0, 1.0]. minConfidence will "
        "not affect the mining for frequent itemsets, but will affect the association rules "
        "generation.",
        TypeConverters.toFloat,
    )
    maxLen = Param(
        Params._dummy(),
        "maxLen",
        "Largest itemset size mined (affinity only; unset: no limit). Must be >= 1.",
        TypeConverters.toInt,
    )
    minCount = Param(
        Params._dummy(),
        "minCount",
        "Absolute minimum count, set instead of minSupport: setting both is an error "
        "(affinity only).",
        TypeConverters.toInt,
    )
    thresholdMode = Param(
        Params._dummy(),
        "thresholdMode",
        "How minSupport becomes a count: 'exact' (ceil(n * minSupport) with minSupport read as "
        "the decimal it is written as) or 'spark' (ceil(minSupport * n) in doubles, as MLlib).",
        TypeConverters.toString,
    )

    def __init__(self, *args):
        super().__init__(*args)
        self._setDefault(
            itemsCol="items",
            minSupport=0.3,
            minConfidence=0.8,
            thresholdMode="exact",
        )

    def getItemsCol(self):
        """Gets the value of itemsCol or its default value."""
        return self.getOrDefault(self.itemsCol)

    def getMinSupport(self):
        """Gets the value of minSupport or its default value."""
        return self.getOrDefault(self.minSupport)

    def getNumPartitions(self):
        """Gets the value of numPartitions or its default value."""
        return self.getOrDefault(self.numPartitions)

    def getMinConfidence(self):
        """Gets the value of minConfidence or its default value."""
        return self.getOrDefault(self.minConfidence)

    def getMaxLen(self):
        """Gets the value of maxLen (None when unset)."""
        return self.getOrDefault(self.maxLen) if self.isDefined(self.maxLen) else None

    def getMinCount(self):
        """Gets the value of minCount (None when unset)."""
        return self.getOrDefault(self.minCount) if self.isDefined(self.minCount) else None

    def getThresholdMode(self):
        """Gets the value of thresholdMode or its default value."""
        return self.getOrDefault(self.thresholdMode)

    def check(self):
        """Fails on the first invalid setting, before any Spark job runs.

        Raises pyspark's ``IllegalArgumentException`` (what MLlib's own checks raise in
        Python), naming the parameter and the reason.
        """

        def bad(name, reason):
            raise IllegalArgumentException(
                message=f"{self.uid} parameter {name} given invalid value: {reason}"
            )

        s = self.getMinSupport()
        if not 0.0 <= s <= 1.0:
            bad("minSupport", f"{s} is not in [0, 1]")
        c = self.getMinConfidence()
        if not 0.0 <= c <= 1.0:
            bad("minConfidence", f"{c} is not in [0, 1]")
        if self.isDefined(self.numPartitions) and self.getNumPartitions() < 1:
            bad("numPartitions", f"{self.getNumPartitions()} is not >= 1")
        if self.getMaxLen() is not None and self.getMaxLen() < 1:
            bad("maxLen", f"{self.getMaxLen()} is not >= 1")
        if self.getMinCount() is not None and self.getMinCount() < 1:
            bad("minCount", f"{self.getMinCount()} is not >= 1")
        if self.isSet(self.minCount) and self.isSet(self.minSupport):
            bad("minCount", "set minCount or minSupport, not both")
        if self.getThresholdMode() not in THRESHOLD_MODES:
            bad("thresholdMode", f"{self.getThresholdMode()!r} is not one of {THRESHOLD_MODES}")
