"""Input checks shared by the public functions.

Kernels trust their input; these helpers make it trustworthy and raise
quantlib errors whose messages name the argument, the expectation and what came.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import DTypeError, NonFiniteError, OutOfRangeError, ShapeError, short_repr
from .precision import PrecisionInfo, code_width

_FLOAT_KINDS = "f"


def describe(x: Any) -> str:
    """A short description of what was received, for error messages."""
    if isinstance(x, np.ndarray):
        return f"array of dtype {x.dtype} and shape {x.shape}"
    return type(x).__name__


def as_array(x: Any, name: str) -> np.ndarray:
    """``np.asarray`` that turns ragged or non-numeric input into a quantlib error."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (str, bytes, dict)) or x is None:
        raise DTypeError(f"{name}: expected an array or a list of numbers, got {describe(x)}")
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # ragged nested lists
        raise ShapeError(f"{name}: rows of different lengths cannot form a matrix ({exc})") from None
    if arr.dtype == object:
        raise ShapeError(f"{name}: rows of different lengths or non-numeric items cannot form a matrix")
    return arr


def as_float_matrix(x: Any, name: str) -> tuple[np.ndarray, bool]:
    """A C-contiguous float32/float64 matrix and whether the input was a single vector.

    float16 of either byte order is widened to float32 (exactly); other
    floats come back in native byte order.  Integer, bool and complex input
    is refused: quantlib never guesses that integers are float values.
    """
    arr = as_array(x, name)
    if arr.dtype.kind not in _FLOAT_KINDS or arr.dtype.itemsize > 8:
        hint = ""
        if arr.dtype.kind in "iu":
            hint = "; integer codes are turned back into floats with quantlib.dequantize()"
        raise DTypeError(
            f"{name}: expected a floating-point array (float16, float32 or float64), "
            f"got dtype {arr.dtype}{hint}"
        )
    if arr.dtype.itemsize == 2:  # not ``== np.float16``: big-endian '>f2' is not equal to it
        arr = arr.astype(np.float32)
    single = _check_rank(arr, name)
    if single:
        arr = arr.reshape(1, -1)
    if arr.shape[1] == 0:
        raise ShapeError(f"{name}: expected at least one dimension, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("=")), single


def as_code_matrix(
    x: Any, name: str, info: PrecisionInfo, dim: int | None = None
) -> tuple[np.ndarray, bool]:
    """A C-contiguous code matrix in ``info``'s storage dtype, checked against ``dim``."""
    arr = as_array(x, name)
    want = info.dtype.newbyteorder("=")
    if arr.dtype != want:
        raise DTypeError(
            f"{name}: {info.name} codes must have dtype {want}, got dtype {arr.dtype}"
            + ("; pass precision='binary' for int8 bit codes" if info.name == "ubinary" and arr.dtype == np.int8
               else "; pass precision='ubinary' for uint8 bit codes" if info.name == "binary" and arr.dtype == np.uint8
               else "")
        )
    single = _check_rank(arr, name)
    if single:
        arr = arr.reshape(1, -1)
    if dim is not None:
        width = code_width(info, dim)
        if arr.shape[1] != width:
            unit = "bytes" if info.packed else "components"
            raise ShapeError(
                f"{name}: {info.name} codes of dimension {dim} have {width} {unit} per row, "
                f"got {arr.shape[1]}"
            )
    return np.ascontiguousarray(arr), single


def _check_rank(arr: np.ndarray, name: str) -> bool:
    if arr.ndim == 1:
        return True
    if arr.ndim == 2:
        return False
    raise ShapeError(
        f"{name}: expected a vector (d,) or a batch (n, d), got an array of shape {arr.shape}"
    )


#: The largest dimension quantlib accepts: one float32 row of it is 16 GiB, beyond any embedding.  A
#: bound keeps a dimension read from outside data (a header, a request) from overflowing a shape.
MAX_DIM = 2**32


def check_dim(dim: Any, name: str = "dim") -> int:
    """A positive integer dimension, at most :data:`MAX_DIM`."""
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise DTypeError(f"{name}: expected a positive integer, got {type(dim).__name__} {short_repr(dim)}")
    if dim < 1:
        raise ShapeError(f"{name}: expected a positive integer, got {short_repr(dim)}")
    if dim > MAX_DIM:
        raise ShapeError(f"{name}: expected at most {MAX_DIM} (2**32), got {short_repr(dim)}")
    return int(dim)


def first_nonfinite(arr: np.ndarray) -> tuple[int, ...]:
    """Index of the first NaN or infinity (slow path, used only to word an error)."""
    bad = np.argwhere(~np.isfinite(arr))
    return tuple(int(i) for i in bad[0]) if len(bad) else ()


def raise_nonfinite(arr: np.ndarray, name: str, single: bool = False) -> None:
    """Raise NonFiniteError naming the first bad element of ``arr`` (a matrix)."""
    where = first_nonfinite(arr)
    value = arr[where] if where else None
    if single and len(where) == 2:
        where = where[1:]
    raise NonFiniteError(
        f"{name}: expected finite values, got {value} at index {where if len(where) > 1 else where[0]}"
    )


def check_finite(arr: np.ndarray, name: str, single: bool = False) -> None:
    """Raise :class:`NonFiniteError` if ``arr`` holds NaN or infinity (of any float dtype and byte order)."""
    from ._kernels.codecs import all_finite

    if arr.size and not all_finite(np.ascontiguousarray(arr.reshape(-1), dtype=arr.dtype.newbyteorder("="))):
        raise_nonfinite(arr, name, single)


def overflow_error(dtype: np.dtype, what: str = "a score") -> OutOfRangeError:
    """The error for a score that overflowed ``dtype`` (its inputs being finite)."""
    top = np.finfo(dtype).max
    return OutOfRangeError(f"scores: {what} overflows {np.dtype(dtype)} (beyond {top:.2g}); scale the vectors down")


def refuse_overflow(scores: np.ndarray, what: str = "a score") -> np.ndarray:
    """``scores``, or :func:`overflow_error` if one is not finite.

    For scores of inputs already checked finite: a non-finite score can only be
    a sum that overflowed (or inf - inf), which would otherwise rank first, last
    or (as NaN) nowhere; dense scores raise the same way.
    """
    from ._kernels.codecs import all_finite

    if scores.size and not all_finite(scores.reshape(-1)):
        raise overflow_error(scores.dtype, what)
    return scores


def refuse_overlap(out: np.ndarray, inputs: dict[str, Any], out_name: str = "out") -> None:
    """Raise :class:`~quantlib.ShapeError` if ``out`` shares memory with one of ``inputs``.

    A kernel writing scores into memory it is still reading gives wrong
    scores without any error, so every public ``out=`` refuses such an array.
    ``inputs`` maps each argument's name to the array the kernels read (after
    conversion: a list or a non-contiguous view was copied and cannot
    overlap).  The test is ``np.shares_memory`` (exact, after the cheap bounds
    test ``np.may_share_memory``), not identity: a view, a reshaped or
    reinterpreted slice of the same buffer counts; an interleaved view that
    touches no element of ``out`` does not.  A layout too complex to decide
    within a bounded effort is refused too.

    Examples
    --------
    >>> x = np.zeros((4, 4), np.float32)
    >>> refuse_overlap(np.empty((4, 4), np.float32), {"X": x})
    >>> refuse_overlap(x[::2], {"X": x[1::2]})  # alternate rows: no element in common
    >>> refuse_overlap(x.reshape(2, 8), {"X": x})
    Traceback (most recent call last):
        ...
    quantlib.errors.ShapeError: out: expected an array that shares no memory with the inputs,
    got one that overlaps X (array of dtype float32 and shape (4, 4)); pass a separate output array
    """
    for name, arr in inputs.items():
        if not isinstance(arr, np.ndarray) or not np.may_share_memory(out, arr):
            continue
        try:
            overlap = np.shares_memory(out, arr, max_work=1 << 20)
        except np.exceptions.TooHardError:
            overlap = True
        if overlap:
            raise ShapeError(
                f"{out_name}: expected an array that shares no memory with the inputs, got one that "
                f"overlaps {name} ({describe(arr)}); pass a separate output array"
            )
