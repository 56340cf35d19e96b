"""What every part of :mod:`quantlib.dask` shares: :class:`ShardError`, the client-side checks of
Dask arrays of rows (shapes and dtypes only, no data), the merge tree and ``dask.compute``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dask
import dask.array as da
import numpy as np

from .._validation import as_array, describe
from ..errors import DTypeError, QuantlibError, ShapeError
from ..search import check_k


class ShardError(QuantlibError, RuntimeError):
    """A block or shard could not be searched (its worker kept dying, or it changed on disk).

    Raised instead of returning a top-k that misses rows.
    """


# ---------------------------------------------------------------------------
# Validation on the client: shapes and dtypes only, no data
# ---------------------------------------------------------------------------


def _rows_array(x: Any, name: str) -> da.Array:
    """A 2-D Dask array of rows, whole along axis 1, with known row counts.

    A list or tuple of blocks (Dask or numpy arrays) is concatenated after checking that
    every block has the same width and dtype.
    """
    if isinstance(x, (list, tuple)):
        if not x:
            raise ShapeError(f"{name}: expected at least one block, got an empty {type(x).__name__}")
        blocks = []
        for i, b in enumerate(x):
            if not isinstance(b, da.Array):
                b = as_array(b, f"{name}[{i}]")
                b = da.from_array(b, chunks=b.shape or (0,))
            if b.ndim != 2:
                raise ShapeError(f"{name}: block {i} has shape {b.shape}; expected 2-D (n, d) rows")
            first = blocks[0] if blocks else b
            if b.shape[1] != first.shape[1]:
                raise ShapeError(f"{name}: block {i} has rows of width {b.shape[1]}, block 0 of width "
                                 f"{first.shape[1]}; every block must have the same width")
            if b.dtype != first.dtype:
                raise DTypeError(f"{name}: block {i} has dtype {b.dtype}, block 0 has dtype {first.dtype}; "
                                 "every block must have the same dtype")
            blocks.append(b)
        x = blocks[0] if len(blocks) == 1 else da.concatenate(blocks, axis=0)
    if not isinstance(x, da.Array):
        raise DTypeError(f"{name}: expected a dask.array.Array (or a list of blocks), got {describe(x)}; "
                         "use quantlib.search / quantlib.quantize for numpy arrays")
    if x.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D (n, d) Dask array of rows, got shape {x.shape}")
    if any(np.isnan(c) for c in x.chunks[0]) or np.isnan(x.shape[1]):
        raise ShapeError(f"{name}: the Dask array has unknown chunk sizes {x.chunks}; call "
                         "compute_chunk_sizes() first, so that row numbers are known")
    if x.numblocks[1] != 1:
        raise ShapeError(
            f"{name}: expected one chunk along axis 1 (whole rows per block), got chunks {x.chunks[1]} "
            f"along axis 1; rechunk with {name}.rechunk({{1: -1}})"
        )
    return x


def _float_rows(x: Any, name: str) -> da.Array:
    x = _rows_array(x, name)
    if x.dtype.kind != "f" or x.dtype.itemsize > 8:
        raise DTypeError(f"{name}: expected floating-point rows (float16, float32 or float64), got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise ShapeError(f"{name}: expected at least one dimension, got shape {x.shape}")
    return x


def _offsets(chunks: Sequence[int]) -> list[int]:
    return [int(s) for s in np.concatenate(([0], np.cumsum(chunks)))[:-1]]


def _tree(parts: list[Any], combine: Callable[..., Any], split_every: int) -> Any:
    """Reduce Dask delayed ``parts`` with ``combine`` in a tree of fan-in ``split_every``."""
    while len(parts) > 1:
        parts = [dask.delayed(combine, pure=True)(*parts[i:i + split_every])
                 for i in range(0, len(parts), split_every)]
    return parts[0]


def _check_split_every(split_every: Any) -> int:
    value = check_k(split_every, "split_every")
    if value < 2:
        raise ShapeError(f"split_every: expected an integer >= 2, got {value}")
    return value


def _compute(*objects: Any) -> Any:
    """``dask.compute``, turning a worker that kept dying into :class:`ShardError`."""
    try:
        return dask.compute(*objects)
    except Exception as exc:
        if type(exc).__name__ == "KilledWorker":
            raise ShardError(f"a block's task failed on several workers in a row, which all died ({exc}); "
                             "no partial result is returned") from exc
        raise
