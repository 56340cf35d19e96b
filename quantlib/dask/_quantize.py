"""Quantization of Dask arrays, block by block: :func:`calibration_ranges` and :func:`fit_codec` (one
Dask reduction), :func:`quantize` and :func:`truncate`.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import numpy as np

from .._validation import as_array
from ..codecs import Codec, ScalarCodec, get_codec
from ..codecs.scalar import MIN_CALIBRATION_ROWS, Rounding
from ..errors import CalibrationError, CalibrationWarning, ConfigError, NonFiniteError, QuantlibError
from ..matryoshka import ZeroPolicy
from ..matryoshka import truncate as _truncate
from ..precision import Precision, precision_info
from ._blocks import _check_split_every, _compute, _float_rows, _offsets, _rows_array, _tree

# ---------------------------------------------------------------------------
# Quantization
# ---------------------------------------------------------------------------


def _block_stats(block: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...] | None, Any]:
    arr = np.asarray(block)
    if arr.dtype.itemsize == 2:  # as quantlib's own float16 path: widened (exactly) first
        arr = arr.astype(np.float32)
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    if arr.shape[0] == 0:
        return np.full(arr.shape[1], np.inf, arr.dtype), np.full(arr.shape[1], -np.inf, arr.dtype), None, None
    finite = np.isfinite(arr)
    if not finite.all():
        i, j = (int(v) for v in np.argwhere(~finite)[0])
        return arr[0], arr[0], (start + i, j), arr[i, j].item()
    return arr.min(axis=0), arr.max(axis=0), None, None


def _combine_stats(*parts: tuple[np.ndarray, np.ndarray, Any, Any]) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    bad = [p for p in parts if p[2] is not None]
    if bad:
        return min(bad, key=lambda p: p[2])
    lo = parts[0][0]
    hi = parts[0][1]
    for p in parts[1:]:
        lo = np.minimum(lo, p[0])
        hi = np.maximum(hi, p[1])
    return lo, hi, None, None


def calibration_ranges(x: Any, *, split_every: int = 8) -> np.ndarray:
    """Per-dimension ``[min, max]`` of a Dask array, shape ``(2, d)``, float32: one reduction.

    Equal to :func:`quantlib.calibration_ranges` of the concatenated rows (min and max are
    exact, so the order of the reduction does not matter); warns
    (:class:`~quantlib.CalibrationWarning`) with fewer than 100 rows, as it does.

    Raises
    ------
    NonFiniteError
        A NaN or infinity, named by its global ``(row, column)``.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = da.from_array(np.array([[0.0, 1.0], [2.0, -1.0]] * 50, dtype=np.float32), chunks=(30, 2))
    >>> calibration_ranges(x)
    array([[ 0., -1.],
           [ 2.,  1.]], dtype=float32)
    """
    x = _float_rows(x, "calibration_embeddings")
    split_every = _check_split_every(split_every)
    return _ranges(x, "calibration_embeddings", split_every, stacklevel=3)


def _ranges(x: da.Array, name: str, split_every: int, stacklevel: int) -> np.ndarray:
    import warnings

    n = int(x.shape[0])
    if n == 0:
        raise CalibrationError(f"{name}: expected at least one row to compute ranges from, got 0")
    if n < MIN_CALIBRATION_ROWS:
        warnings.warn(
            f"{name}: int8/uint8 ranges computed from {n} row(s); quantization is more "
            f"stable with ranges or calibration_embeddings of at least {MIN_CALIBRATION_ROWS} rows",
            CalibrationWarning,
            stacklevel=stacklevel,
        )
    blocks = x.to_delayed().ravel()
    parts = [dask.delayed(_block_stats, pure=True)(b, off)
             for b, off in zip(blocks, _offsets(x.chunks[0]), strict=True)]
    (lo, hi, where, value), = _compute(_tree(parts, _combine_stats, split_every))
    if where is not None:
        raise NonFiniteError(f"{name}: expected finite values, got {value} at index {where}")
    return np.vstack((lo, hi)).astype(np.float32)


def fit_codec(x: Any, precision: str = "int8", *, rounding: Rounding = "nearest",
              split_every: int = 8) -> ScalarCodec:
    """The :class:`~quantlib.ScalarCodec` fitted to a Dask array (its ranges from one reduction).

    Equal (same config) to ``ScalarCodec.fit`` of the concatenated rows.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)
    >>> codec = fit_codec(da.from_array(x, chunks=(300, 8)), "uint8")
    >>> codec == ScalarCodec.fit(x, "uint8")
    True
    """
    info = precision_info(precision)
    if not info.is_scalar:
        raise ConfigError(f"precision: only int8 and uint8 codecs are fitted, got precision {info.name!r}")
    x = _float_rows(x, "calibration_embeddings")
    ranges = _ranges(x, "calibration_embeddings", _check_split_every(split_every), stacklevel=3)
    return ScalarCodec(info.name, ranges, rounding=rounding)


def _encode_block(block: np.ndarray, codec: Codec, block_info: Any = None) -> np.ndarray:
    try:
        return codec.encode(block)
    except QuantlibError as exc:
        start = block_info[0]["array-location"][0][0] if block_info else 0
        raise type(exc)(f"block of rows from {start}: {exc} (row numbers within the block)") from None


def quantize(x: Any, precision: Precision | str | Codec, *, ranges: Any = None, calibration_embeddings: Any = None,
             rounding: Rounding = "nearest", split_every: int = 8) -> da.Array:
    """:func:`quantlib.quantize` of a Dask array, block by block: a lazy Dask array of codes.

    Parameters are those of :func:`quantlib.quantize`.  For int8/uint8 without ``ranges``,
    the ranges come from ``calibration_embeddings`` (a Dask or numpy array) or else from
    ``x`` itself, by one Dask reduction computed now; the codes are computed when you
    compute the result.  Keep the codec: ``fit_codec(x)`` gives it, and
    ``quantize(x, codec)`` then encodes without a second calibration pass.

    The codes equal ``quantlib.quantize`` of the concatenated rows bit for bit (with the
    same ranges, rounding and warnings).

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> import quantlib
    >>> x = np.random.default_rng(0).standard_normal((1000, 16)).astype(np.float32)
    >>> codes = quantize(da.from_array(x, chunks=(256, 16)), "int8")
    >>> codes.chunks[0]
    (256, 256, 256, 232)
    >>> bool(np.array_equal(codes.compute(), quantlib.quantize(x, "int8")))
    True
    """
    x = _float_rows(x, "embeddings")
    split_every = _check_split_every(split_every)
    if isinstance(precision, Codec):
        if ranges is not None or calibration_embeddings is not None or rounding != "nearest":
            raise ConfigError(
                "ranges/calibration_embeddings/rounding: a codec already holds them; pass one or the other"
            )
        codec = precision
    else:
        info = precision_info(precision)
        if not info.is_scalar:
            if ranges is not None or calibration_embeddings is not None or rounding != "nearest":
                raise ConfigError(
                    f"ranges/calibration_embeddings/rounding: only int8 and uint8 use calibration, "
                    f"got precision {info.name!r}"
                )
            codec = get_codec(info.name)
        else:
            if ranges is not None and calibration_embeddings is not None:
                raise ConfigError("ranges, calibration_embeddings: pass one or the other, got both")
            if ranges is None:
                if calibration_embeddings is None:
                    src, name = x, "embeddings"
                elif isinstance(calibration_embeddings, (da.Array, list, tuple)):
                    src, name = _float_rows(calibration_embeddings, "calibration_embeddings"), "calibration_embeddings"
                else:
                    arr = as_array(calibration_embeddings, "calibration_embeddings")
                    src = _float_rows(da.from_array(arr, chunks=arr.shape) if arr.ndim == 2 else arr,
                                      "calibration_embeddings")
                    name = "calibration_embeddings"
                ranges = _ranges(src, name, split_every, stacklevel=3)
            codec = ScalarCodec(info.name, ranges, rounding=rounding)
    # what a block of x becomes, checked on one row now (dimension against the codec's ranges)
    probe = codec.encode(np.zeros((1, int(x.shape[1])), x.dtype))
    return x.map_blocks(_encode_block, codec, dtype=probe.dtype, chunks=(x.chunks[0], (probe.shape[1],)),
                        meta=np.empty((0, 0), probe.dtype))


def _truncate_block(block: np.ndarray, dim: int, precision: Any, renormalize: Any, zero_policy: Any,
                    ranges: Any, block_info: Any = None) -> np.ndarray:
    try:
        return _truncate(block, dim, precision=precision, renormalize=renormalize, zero_policy=zero_policy,
                         ranges=ranges)
    except QuantlibError as exc:
        start = block_info[0]["array-location"][0][0] if block_info else 0
        raise type(exc)(f"block of rows from {start}: {exc} (row numbers within the block)") from None


def truncate(x: Any, dim: int, *, precision: Precision | str | Codec = "float32", renormalize: bool | None = None,
             zero_policy: ZeroPolicy = "keep", ranges: Any = None) -> da.Array:
    """:func:`quantlib.truncate` of a Dask array, block by block (Matryoshka prefixes): a lazy Dask array.

    Equal to :func:`quantlib.truncate` of the concatenated rows, bit for bit.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = da.from_array(np.array([[3.0, 4.0, 12.0]] * 4, dtype=np.float32), chunks=(2, 3))
    >>> truncate(x, 2).compute()[0]
    array([0.6, 0.8], dtype=float32)
    """
    x = _rows_array(x, "embeddings")
    probe = _truncate(np.ones((1, int(x.shape[1])), x.dtype), dim, precision=precision, renormalize=renormalize,
                      zero_policy=zero_policy, ranges=ranges)
    return x.map_blocks(_truncate_block, dim, precision, renormalize, zero_policy, ranges, dtype=probe.dtype,
                        chunks=(x.chunks[0], (probe.shape[1],)), meta=np.empty((0, 0), probe.dtype))
