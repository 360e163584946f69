"""The native module, imported where it is used (on executors too) with a clear error."""


def native():
    """The ``affinity`` extension module (from the ``affinity-rs`` wheel)."""
    try:
        import affinity
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "affinity_spark needs the `affinity` module of the affinity-rs wheel on the driver "
            "and on every executor (install the wheel into the Python that PYSPARK_PYTHON "
            "names; on a cluster ship it in a packed venv, see docs/spark.md)"
        ) from e
    return affinity
