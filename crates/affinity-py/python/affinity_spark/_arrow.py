"""Arrow helpers that run on executors: rank lists to item lists, per-worker caches."""

import pyarrow as pa
import pyarrow.compute as pc

# Values derived from a broadcast, kept for the life of the Python worker (workers are reused
# across tasks), keyed by the id of the broadcast's value, which pins that value.
_CACHE = {}


def cached(broadcast, tag, build):
    """``build(broadcast.value)``, computed once per Python worker for each `tag`."""
    value = broadcast.value
    key = (id(value), tag)
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not value:
        hit = (value, build(value))
        _CACHE[key] = hit
    return hit[1]


def items_array(broadcast, arrow_type):
    """The frequent items (rank order) as one Arrow array of the item column's type."""
    return cached(broadcast, ("items", str(arrow_type)), lambda items: pa.array(items, type=arrow_type))


def take_lists(items, ranks):
    """A list<item> array from a list<int32> array of ranks (offsets kept, values looked up)."""
    if isinstance(ranks, pa.ChunkedArray):
        ranks = ranks.combine_chunks()
    offsets = ranks.offsets
    if len(offsets) and offsets[0].as_py() != 0:
        offsets = pc.subtract(offsets, offsets[0])
    return pa.ListArray.from_arrays(offsets, items.take(ranks.flatten()))


def ranks_to_items(batches, broadcast, arrow_type, columns):
    """mapInArrow body: replaces each of `columns` (lists of ranks) by the items they name."""
    for batch in batches:
        items = items_array(broadcast, arrow_type)
        arrays = [
            take_lists(items, batch.column(i)) if name in columns else batch.column(i)
            for i, name in enumerate(batch.schema.names)
        ]
        yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
