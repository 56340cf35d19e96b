"""Input checks of :class:`quantlib.SparseBatch`: ids, row pointers, weights and tokens.

Every message names the argument, the entry and its row.  :func:`check_csr` is the constructor's
whole check; the other helpers read one id, weight or list of rows for the converters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._kernels import sparse as K
from ._validation import as_array, describe
from .errors import DTypeError, NonFiniteError, OutOfRangeError, PayloadError, ShapeError, short_repr

_INT32_LIMIT = 2**31 - 1
#: The largest id (and row pointer): both are stored as int64.
_INT64_MAX = 2**63 - 1
#: The largest vocab_size: every id is an int64 below it.
_VOCAB_LIMIT = 2**63
_F32_MAX = float(np.finfo(np.float32).max)
#: Weights of at most this magnitude round to 0 in float32 (half the smallest subnormal, 2**-149).
_F32_UNDERFLOW = 2.0**-150
#: A decimal integer as a JSON round trip leaves a dict key: what int() reads (not "+-5", not "²").
_DECIMAL_RE = re.compile(r"\s*[+-]?\d+\s*")


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


def _private(arr: np.ndarray, given: Any) -> np.ndarray:
    """``arr``, copied if it shares memory with a writeable array the caller passed in."""
    if isinstance(given, np.ndarray) and given.flags.writeable and np.may_share_memory(arr, given):
        return arr.copy()
    return arr


def _int_array(x: Any, name: str, what: str = "ids", *, check_int64: bool = True) -> np.ndarray:
    """A native 1-D integer array; ``what`` (ids, row pointers) beyond int64 are an OutOfRangeError.

    uint64 input may hold values of 2**63 or more, which a cast to int64 would
    wrap to negative numbers; they are refused here unless ``check_int64`` is
    False (the caller then checks them itself, naming the row).
    """
    try:
        arr = as_array(x, name)
    except ShapeError:
        _refuse_wide_ints(x, name, what)  # numpy reads [2**64] as an object array
        raise
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind not in "iu":
        _refuse_wide_ints(x, name, what)  # numpy reads [-1, 2**63] (int64 and uint64 mixed) as float64
        raise DTypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    arr = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))  # kernels read native ints
    if check_int64 and arr.dtype == np.uint64:
        wide = np.flatnonzero(arr > _INT64_MAX)
        if wide.size:
            p = int(wide[0])
            raise OutOfRangeError(_beyond_int64(name, what, int(arr[p]), p))
    return arr


def _beyond_int64(name: str, what: str, value: int, p: int, row: int | None = None) -> str:
    """The message for an integer that int64 cannot hold (all its digits, unless it is huge)."""
    where = f" (row {row})" if row is not None else ""
    shown = str(value) if abs(value) < 10**40 else short_repr(value)
    if value < 0:
        return f"{name}: expected {what} >= 0, got {shown} at entry {p}{where}"
    return f"{name}: expected {what} below 2**63 ({what} are int64), got {shown} at entry {p}{where}"


def _beyond_vocab(vocab: int, value: int, p: int, row: int) -> OutOfRangeError:
    return OutOfRangeError(f"indices: expected ids below vocab_size={vocab}, got {value} at entry {p} (row {row})")


def _refuse_wide_ints(x: Any, name: str, what: str) -> None:
    """Raise OutOfRangeError if the list ``x`` holds an integer that int64 cannot (slow path, for the message)."""
    if isinstance(x, np.ndarray) or not isinstance(x, (list, tuple)):
        return
    for p, v in enumerate(x):
        if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) \
                and not -_INT64_MAX - 1 <= v <= _INT64_MAX:
            raise OutOfRangeError(_beyond_int64(name, what, int(v), p))


def _check_vocab(vocab_size: Any) -> int | None:
    if vocab_size is None:
        return None
    if isinstance(vocab_size, (bool, np.bool_)) or not isinstance(vocab_size, (int, np.integer)):
        raise DTypeError(f"vocab_size: expected a positive integer or None, got {describe(vocab_size)}")
    if vocab_size < 1:
        raise ShapeError(f"vocab_size: expected a positive integer or None, got {short_repr(vocab_size)}")
    if vocab_size > _VOCAB_LIMIT:
        raise OutOfRangeError(
            f"vocab_size: expected at most 2**63 (ids are int64), got {short_repr(vocab_size)}")
    return int(vocab_size)


def check_csr(
    indptr: Any, indices: Any, values: Any, vocab_size: Any, tokens: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int | None, tuple[str, ...] | None]:
    """The checked arrays of a new batch: int64 row pointers, ids (int32 when they fit) sorted within
    each row, float32 weights, the vocabulary size and the tokens (in the ids' new order)."""
    vocab = _check_vocab(vocab_size)
    ptr = _int_array(indptr, "indptr", "row pointers")
    idx = _int_array(indices, "indices", check_int64=False)  # checked below, with the row
    val = as_array(values, "values")
    if val.ndim != 1:
        raise ShapeError(f"values: expected a 1-D array, got shape {val.shape}")
    if val.size and (val.dtype.kind not in "fiu"):
        raise DTypeError(f"values: expected real numbers, got dtype {val.dtype}")
    if not val.size:
        val = np.zeros(0, np.float32)  # an empty array of any dtype (a cast from complex would warn)
    if ptr.size == 0:
        raise ShapeError("indptr: expected n + 1 row pointers (at least [0]), got an empty array")
    if idx.shape[0] != val.shape[0]:
        raise ShapeError(
            f"indices, values: expected the same length, got {idx.shape[0]} indices and "
            f"{val.shape[0]} values"
        )
    nnz = idx.shape[0]
    ptr = np.ascontiguousarray(ptr, dtype=np.int64)
    bad = K.check_indptr(ptr, nnz)
    if bad >= 0:
        raise ShapeError(
            f"indptr: expected 0 first, non-decreasing pointers and {nnz} (the number of values) last; "
            f"entry {bad} is {int(ptr[bad])}" + (f" after {int(ptr[bad - 1])}" if bad else "")
        )
    # Weights: finite and inside float32 (float64 and longdouble can hold more).
    if val.dtype.kind == "f":
        wide = val if val.dtype.itemsize >= 4 else val.astype(np.float32)
        finite = np.isfinite(wide)
        if not finite.all():
            p = int(np.flatnonzero(~finite)[0])
            raise NonFiniteError(
                f"values: expected finite weights, got {wide[p]} at entry {p} (row {_row_of(ptr, p)})"
            )
        if wide.dtype.itemsize > 4 and wide.size and np.abs(wide).max() > _F32_MAX:
            p = int(np.flatnonzero(np.abs(wide) > _F32_MAX)[0])
            raise OutOfRangeError(
                f"values: weight {_float_text(wide[p])} at entry {p} is beyond float32's largest value "
                f"{_F32_MAX:g}"
            )
    weights = np.ascontiguousarray(val, dtype=np.float32)
    # Ids: in range, then the narrowest of int32/int64 that holds them.
    if nnz and idx.dtype == np.uint64:
        # A cast to int64 would wrap ids >= 2**63 to negative ones; numpy compares uint64 exactly.
        wide = np.flatnonzero(idx >= (vocab if vocab is not None else _INT64_MAX + 1))
        if wide.size:
            p = int(wide[0])
            if vocab is not None:
                raise _beyond_vocab(vocab, int(idx[p]), p, _row_of(ptr, p))
            raise OutOfRangeError(_beyond_int64("indices", "ids", int(idx[p]), p, _row_of(ptr, p)))
        idx = idx.astype(np.int64)
    if nnz:
        lo, hi = K.index_bounds(np.ascontiguousarray(idx))
        if lo < 0:
            p = int(np.flatnonzero(idx < 0)[0])
            raise OutOfRangeError(
                f"indices: expected ids >= 0, got {int(idx[p])} at entry {p} (row {_row_of(ptr, p)})"
            )
        if vocab is not None and hi >= vocab:
            p = int(np.flatnonzero(idx >= vocab)[0])
            raise _beyond_vocab(vocab, int(idx[p]), p, _row_of(ptr, p))
        bound = vocab if vocab is not None else int(hi) + 1
    else:
        bound = vocab or 0
    ids = np.ascontiguousarray(idx, dtype=np.int32 if bound <= _INT32_LIMIT else np.int64)
    toks: tuple[str, ...] | None = None
    if tokens is not None:
        if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
            raise DTypeError(f"tokens: expected a sequence of str, got {describe(tokens)}")
        toks = tuple(tokens)
        if len(toks) != nnz:
            raise ShapeError(f"tokens: expected one token per entry ({nnz}), got {len(toks)}")
        for p, t in enumerate(toks):
            if not isinstance(t, str):
                raise DTypeError(f"tokens[{p}]: expected str, got {describe(t)}")
        try:  # to_bytes writes UTF-8; JSON's "\ud800" escapes give lone surrogates it cannot write
            "".join(toks).encode("utf-8")
        except UnicodeEncodeError as exc:
            p = int(np.searchsorted(np.cumsum([len(t) for t in toks]), exc.start, side="right"))
            raise PayloadError(f"tokens[{p}]: expected Unicode text, got {short_repr(toks[p])} "
                               "(a lone surrogate)") from None
    status, pos = K.check_rows(ptr, ids)
    if status == 1:
        order = np.empty(nnz, np.int64)
        K.sort_rows(ptr, ids, weights, order)
        ids = ids[order]
        weights = weights[order]
        if toks is not None:
            toks = tuple(toks[p] for p in order)
        status, pos = K.check_rows(ptr, ids)
    if status == 2:
        row = _row_of(ptr, pos)
        raise ShapeError(
            f"indices: duplicate id {int(ids[pos])} in row {row}; sum or drop duplicates before "
            "building the batch (there is no agreed way to merge them)"
        )
    return ptr, ids, weights, vocab, toks


def _iter_rows(rows: Any, name: str) -> Iterable[Any]:
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        raise DTypeError(f"{name}: expected a list with one item per vector, got {describe(rows)}")
    return rows


def _row_of(indptr: np.ndarray, p: int) -> int:
    return int(np.searchsorted(indptr, p, side="right") - 1)


def _as_id(key: Any, name: str, *, allow_str: bool = True) -> int:
    if isinstance(key, (bool, np.bool_)):
        raise DTypeError(f"{name}: expected an integer id, got bool")
    if isinstance(key, (int, np.integer)):
        return int(key)
    if allow_str and isinstance(key, str) and _DECIMAL_RE.fullmatch(key):
        return _parse_int(key, name)
    raise DTypeError(f"{name}: expected an integer id, got {describe(key)} {short_repr(key, 40)}")


def _parse_int(text: str, name: str) -> int:
    """``int(text)`` for text already known to be decimal digits; too many digits is an OutOfRangeError."""
    try:
        return int(text)
    except ValueError:  # beyond int()'s 4300-digit limit, and far beyond any id
        digits = text.strip()
        raise OutOfRangeError(f"{name}: {digits[:12]}... ({len(digits)} digits) does not fit in 64 bits") from None


def _as_weight(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DTypeError(f"{name}: expected a number, got {describe(value)}")
    try:
        v = float(value)
    except OverflowError:  # an integer beyond float64
        raise OutOfRangeError(f"{name}: an integer of {int(value).bit_length()} bits is beyond float32's largest "
                              f"value {_F32_MAX:g}") from None
    if not np.isfinite(v):
        if isinstance(value, np.floating) and np.isfinite(value):  # a longdouble beyond float64
            raise OutOfRangeError(f"{name}: {value!s} is beyond float32's largest value {_F32_MAX:g}")
        raise NonFiniteError(f"{name}: expected a finite number, got {v}")
    return v


def _float_text(v: Any) -> str:
    """A finite float (float64 or longdouble) for a message: ``repr(float(v))``, or numpy's text beyond float64."""
    f = float(v)
    return repr(f) if np.isfinite(f) else str(v)
