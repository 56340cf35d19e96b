"""pgvector's types and limits, and the checks every form runs on quantlib's arrays before writing them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._validation import as_array, as_float_matrix, check_finite, describe
from ...codecs.binary import UBINARY
from ...errors import DTypeError, OutOfRangeError, ShapeError, short_repr

#: pgvector's types.
TYPES = ("vector", "halfvec", "bit", "sparsevec")
#: The most dimensions a ``vector`` holds (pgvector 0.8: "vector cannot have more than 16000 dimensions").
VECTOR_MAX_DIM = 16000
#: The most dimensions a ``halfvec`` holds.
HALFVEC_MAX_DIM = 16000
#: The largest ``sparsevec`` dimension.
SPARSEVEC_MAX_DIM = 1_000_000_000
#: The most non-zero entries of one ``sparsevec``.
SPARSEVEC_MAX_NNZ = 16000
#: The most bits an HNSW index on ``bit`` takes; the ``bit`` type itself holds far more.
BIT_HNSW_MAX_DIM = 64000
#: The most bits quantlib writes in one ``bit`` value (its binary form counts them in an int32).
_BIT_MAX = 2**31 - 1
_HALF_MAX = 65504.0
_F32_MAX = float(np.finfo(np.float32).max)


# ---------------------------------------------------------------------------------------------- checks

def _check_type(type: Any, name: str = "type") -> str:
    if not isinstance(type, str) or type.strip().lower() not in TYPES:
        raise DTypeError(f"{name}: expected one of {', '.join(map(repr, TYPES))}, got {short_repr(type)}")
    return type.strip().lower()


def _limit(type: str) -> int:
    return VECTOR_MAX_DIM if type == "vector" else HALFVEC_MAX_DIM


def _dense(x: Any, name: str, type: str) -> np.ndarray:
    """A finite (n, d) float32 (vector) or float16 (halfvec) matrix within pgvector's limits."""
    arr, _ = as_float_matrix(x, name)
    d = arr.shape[1]
    if d > _limit(type):
        raise ShapeError(f"{name}: pgvector's {type} holds at most {_limit(type)} dimensions, got {d}")
    if type == "halfvec" and arr.dtype == np.float32:
        # quantlib's float16 kernel: one pass that also checks finiteness and overflow (the path below
        # words the error when it fails)
        from ..._kernels.codecs import float32_to_float16

        out = np.empty(arr.shape, np.float16)
        if float32_to_float16(arr, arr.view(np.int32), out.view(np.int16)):
            return out
    check_finite(arr, name)
    if type == "vector":
        if arr.dtype == np.float32:
            return arr
        with np.errstate(over="ignore"):
            single = arr.astype(np.float32)  # rounds to nearest: 3.4028235e+38 is float32's largest
        if not np.isfinite(single).all():
            at = tuple(int(i) for i in np.argwhere(~np.isfinite(single))[0])
            raise OutOfRangeError(f"{name}: {float(arr[at])!r} at index {at} is beyond float32 (vector stores "
                                  f"float32; largest {_F32_MAX:g})")
        return single
    with np.errstate(over="ignore"):
        half = arr.astype(np.float16)
    if not np.isfinite(half).all():
        at = tuple(int(i) for i in np.argwhere(~np.isfinite(half))[0])
        raise OutOfRangeError(f"{name}: {float(arr[at])!r} at index {at} is beyond float16 (halfvec stores "
                              f"float16; largest {_HALF_MAX:g})")
    return half


def _bits(x: Any, name: str, dim: int | None) -> tuple[np.ndarray, int]:
    """uint8 packed codes (n, ceil(dim / 8)) with zero padding bits, and the bit length."""
    arr = as_array(x, name)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ShapeError(f"{name}: expected a batch of codes (n, bytes), got an array of shape {arr.shape}")
    if arr.dtype == np.bool_:  # one bool per bit
        if dim is not None and dim != arr.shape[1]:
            raise ShapeError(f"{name}: {arr.shape[1]} bits per row do not match dim={dim}")
        dim = arr.shape[1]
        arr = np.packbits(arr, axis=1)
    elif arr.dtype != np.uint8:
        hint = ("; int8 'binary' codes become pgvector bits with quantlib.convert_codes(codes, 'binary', "
                "'ubinary')" if arr.dtype == np.int8 else "")
        raise DTypeError(f"{name}: bit values are uint8 packed codes (quantlib's 'ubinary'), got dtype "
                         f"{arr.dtype}{hint}")
    width = arr.shape[1]
    if dim is None:
        dim = 8 * width
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= _BIT_MAX:
        raise ShapeError(f"dim: expected a bit length from 1 to {_BIT_MAX}, got {short_repr(dim)}")
    dim = int(dim)
    if width != UBINARY.width(dim):
        raise ShapeError(f"{name}: {dim} bits are {UBINARY.width(dim)} bytes per row, got {width}")
    if dim % 8 and arr.size:
        pad = arr[:, -1] & np.uint8((1 << (8 - dim % 8)) - 1)
        if pad.any():
            r = int(np.flatnonzero(pad)[0])
            raise OutOfRangeError(f"{name}: row {r} has padding bits set beyond bit {dim} (they must be 0)")
    return np.ascontiguousarray(arr), dim


def _sparse(x: Any, name: str) -> Any:
    from ...sparse import SparseBatch

    if not isinstance(x, SparseBatch):
        raise DTypeError(f"{name}: sparsevec values come from a quantlib.SparseBatch, got {describe(x)}")
    return x


def _sparse_dim(batch: Any, name: str, dim: int | None = None) -> int:
    """The sparsevec dimension: ``dim``, else ``vocab_size``, else the largest index + 1 (at least 1)."""
    d = dim if dim is not None else batch.vocab_size if batch.vocab_size is not None else max(batch.n_cols, 1)
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ShapeError(f"dim: expected a positive sparsevec dimension, got {short_repr(d)}")
    if d > SPARSEVEC_MAX_DIM:
        raise ShapeError(f"{name}: pgvector's sparsevec has at most {SPARSEVEC_MAX_DIM} dimensions, got {d}")
    if batch.n_cols > d:
        raise ShapeError(f"{name}: id {batch.n_cols - 1} does not fit a sparsevec of dimension {d}")
    nnz = np.diff(batch.indptr)
    if nnz.size and nnz.max() > SPARSEVEC_MAX_NNZ:
        r = int(np.argmax(nnz))
        raise ShapeError(f"{name}: row {r} has {int(nnz[r])} entries; a sparsevec holds at most "
                         f"{SPARSEVEC_MAX_NNZ} non-zero entries")
    return int(d)


def _same_dim(dim: int | None, d: int, where: str, first: str, error: type[Exception], what: str = "value") -> int:
    """``d``, the dimension of the value at ``where``, which must equal ``dim``: the first value's (None for it)."""
    if dim is not None and d != dim:
        raise error(f"{where}: every {what} must have the same dimension; {first} has {dim}, this one {d}")
    return d


def _nonzero_rows(batch: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row (ids, values) without explicit zeros (pgvector drops them)."""
    out = []
    ptr = batch.indptr
    for i in range(len(batch)):
        ids, vals = batch.indices[ptr[i]:ptr[i + 1]], batch.values[ptr[i]:ptr[i + 1]]
        keep = vals != 0
        out.append((ids[keep], vals[keep]) if not keep.all() else (ids, vals))
    return out
