"""Shared fixtures: one local[2] SparkSession for the whole session (Spark tests only)."""

import atexit
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_SRC = os.path.join(os.path.dirname(HERE), "python")


def _link_affinity_spark():
    """Makes this checkout's affinity_spark importable (here and, through PYTHONPATH, in
    Spark's Python workers). Only affinity_spark is linked, not the whole python/ folder, so an
    installed `affinity` is never shadowed by the source folder of its Python part."""
    link_dir = tempfile.mkdtemp(prefix="affinity-spark-path-")
    os.symlink(os.path.join(PYTHON_SRC, "affinity_spark"), os.path.join(link_dir, "affinity_spark"))
    sys.path.insert(0, link_dir)
    atexit.register(shutil.rmtree, link_dir, True)
    return link_dir


LINK_DIR = _link_affinity_spark()


def _worker_path():
    """PYTHONPATH for Spark's Python workers (they import affinity_spark by name)."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([LINK_DIR] + ([old] if old else []))


@pytest.fixture(scope="session")
def spark():
    """A local[2] SparkSession without UI; skips (saying why) where Java is absent."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark tests need Java (17 or 21): no `java` on PATH and no JAVA_HOME")
    _worker_path()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("affinity-spark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    # Start the Python workers (and their pyarrow / affinity imports) here, so that the first
    # test's time is its own. Nested, so that it is pickled by value (workers cannot import
    # conftest).
    def _warm_up(batches):
        import affinity  # noqa: F401
        import affinity_spark  # noqa: F401

        yield from batches

    session.range(0, 2, numPartitions=2).mapInArrow(_warm_up, "id long").count()
    yield session
    session.stop()
