"""The Python that Spark starts its workers with, in local mode."""

import os
import sys


def local_python(spark):
    """Points a local session's Python workers at this interpreter where nothing says which.

    In local mode (master ``local``, ``local[N]``, ``local[*]``, ``local-cluster[...]``) with
    neither ``PYSPARK_PYTHON`` nor ``spark.pyspark.python`` set, pyspark starts its workers
    with ``python3`` from ``PATH``: not the interpreter running the job unless its venv is
    activated, so the workers fail with ``ModuleNotFoundError`` (``affinity_spark``,
    ``affinity``, ``pyarrow``). They get ``sys.executable`` instead, which has them all (it
    imported this). Called by every entry point before it hands a Python function to Spark;
    a cluster, or a session whose workers' Python is set, is left as it is.
    """
    try:
        sc = spark.sparkContext
    except Exception:  # Spark Connect: no SparkContext here, the workers are the server's.
        return
    if not sc.master.startswith("local") or not sys.executable:
        return
    if os.environ.get("PYSPARK_PYTHON") or sc.getConf().get("spark.pyspark.python"):
        return
    # pyspark reads it when it wraps each Python function (mapInArrow, applyInArrow, UDFs).
    sc.pythonExec = sys.executable
