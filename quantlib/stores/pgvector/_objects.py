"""The Python ``pgvector`` package's objects, and :func:`from_pgvector`: whatever psycopg returns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..._validation import describe
from ...codecs.binary import UBINARY
from ...errors import DTypeError, ShapeError
from ._binary import _sparse_from_binary, from_binary, to_binary
from ._text import from_text
from ._types import _bits, _check_type, _dense

# ---------------------------------------------------------------------------------------------- objects

def to_objects(x: Any, type: str, *, dim: int | None = None) -> list[Any]:
    """The Python ``pgvector`` package's objects, one per row (``Vector``, ``HalfVector``, ``Bit``, ``SparseVector``).

    For parameters of single queries; a batch is faster through :func:`copy_to_table`.  ``bit`` rows become
    ``Bit`` objects of exactly ``dim`` bits (``Bit(codes_row)`` itself refuses uint8 codes).
    """
    import pgvector

    type = _check_type(type)
    if type == "vector":
        return [pgvector.Vector(row) for row in _dense(x, "x", type)]
    if type == "halfvec":
        return [pgvector.HalfVector(row) for row in _dense(x, "x", type)]
    if type == "bit":
        return [pgvector.Bit.from_binary(b) for b in to_binary(x, "bit", dim=dim)]
    return [pgvector.SparseVector.from_binary(b) for b in to_binary(x, "sparsevec", dim=dim)]


def _kind_of(value: Any) -> str | None:
    """The pgvector type a value returned by psycopg stands for, when it says so itself."""
    cls = type(value)
    if cls.__module__.split(".")[0] == "pgvector":
        return {"Vector": "vector", "HalfVector": "halfvec", "Bit": "bit", "SparseVector": "sparsevec"}.get(
            cls.__name__)
    if isinstance(value, np.ndarray):
        return {"f": "vector" if value.dtype.itemsize != 2 else "halfvec", "b": "bit"}.get(value.dtype.kind)
    if isinstance(value, str):
        s = value.lstrip()
        return "vector" if s.startswith("[") else "sparsevec" if s.startswith("{") else "bit"
    return None


def from_pgvector(values: Any, type: str | None = None, *, dim: int | None = None) -> Any:
    """Rows from whatever psycopg returns for a pgvector column, with or without ``register_vector``.

    Parameters
    ----------
    values : one value or a list of them
        ``Vector``/``HalfVector``/``Bit``/``SparseVector`` objects (psycopg with
        ``pgvector.psycopg.register_vector``); text (psycopg without it: ``'[1,2]'``, ``'{1:2}/5'``, and
        ``bit`` columns always come back as ``'0101'`` strings); bytes of the binary form (binary cursors);
        numpy arrays (older ``pgvector`` packages returned those: float32 for vector, float16 for halfvec,
        bool for bit).  One value gives a batch of one.
    type : {"vector", "halfvec", "bit", "sparsevec"}, optional
        Needed for bytes, and to read ``'[...]'`` text as halfvec; otherwise read from the values.
    dim : int, optional
        ``bit``: the expected bit length; ``sparsevec``: the vocabulary size, checked against the values'.

    Returns
    -------
    numpy.ndarray or SparseBatch
        float32 (n, d) for vector, float16 (n, d) for halfvec, uint8 packed codes (n, ceil(d / 8)) for
        bit, a :class:`~quantlib.SparseBatch` for sparsevec (``vocab_size`` = the sparsevec dimension).

    Examples
    --------
    >>> from quantlib.stores import pgvector as pg
    >>> pg.from_pgvector(["[1,2]", "[3,4]"])
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    >>> pg.from_pgvector("10100000")
    array([[160]], dtype=uint8)
    >>> pg.from_pgvector(["{1:0.5,3:2}/5"]).to_dicts()
    [{0: 0.5, 2: 2.0}]
    """
    if isinstance(values, (str, bytes, bytearray, memoryview)) or _kind_of(values) in ("vector", "halfvec",
                                                                                      "bit", "sparsevec") and (
            not isinstance(values, np.ndarray) or values.ndim == 1):
        values = [values]
    if isinstance(values, np.ndarray) and values.ndim == 2:
        values = list(values)
    if isinstance(values, dict) or not isinstance(values, Iterable):
        raise DTypeError(f"values: expected pgvector values (or a list of them), got {describe(values)}")
    rows = list(values)
    if not rows:
        raise ShapeError("values: expected at least one value")
    kind = _check_type(type) if type is not None else _kind_of(rows[0])
    if kind is None:
        what = "bytes need type=... (their binary form does not say it)" if isinstance(
            rows[0], (bytes, bytearray, memoryview)) else f"got {describe(rows[0])}"
        raise DTypeError(f"values[0]: expected a pgvector value (Vector, HalfVector, Bit, SparseVector, text, "
                         f"bytes or an array); {what}")
    first = rows[0]
    if isinstance(first, (bytes, bytearray, memoryview)):
        out = from_binary(rows, kind)
    elif isinstance(first, str):
        out = from_text(rows, kind)
    else:
        out = _from_objects(rows, kind)
    if kind == "bit" and dim is not None and out.shape[1] != UBINARY.width(dim):
        raise ShapeError(f"values: bit({dim}) values have {UBINARY.width(dim)} bytes, got {out.shape[1]}")
    if kind == "sparsevec" and dim is not None and out.vocab_size != dim:
        raise ShapeError(f"values: expected sparsevec dimension {dim}, got {out.vocab_size}")
    return out


def _from_objects(rows: list[Any], kind: str) -> Any:
    for i, v in enumerate(rows):
        k = _kind_of(v)
        if k != kind and not (isinstance(v, np.ndarray) and kind in ("vector", "halfvec") and k in ("vector",
                                                                                                    "halfvec")):
            raise DTypeError(f"values[{i}]: expected a {kind} value like values[0], got {describe(v)}")
    if kind == "sparsevec":
        return _sparse_from_binary([v.to_binary() for v in rows], "values")
    if kind == "bit":
        if isinstance(rows[0], np.ndarray):
            lengths = {v.shape for v in rows}
            if len(lengths) != 1:
                raise ShapeError("values: every bit array must have the same length")
            return _bits(np.stack(rows), "values", None)[0]
        return from_binary([v.to_binary() for v in rows], "bit")
    arrays = [v if isinstance(v, np.ndarray) else v.to_numpy() for v in rows]
    for i, a in enumerate(arrays):
        if a.ndim != 1 or a.shape != arrays[0].shape:
            raise ShapeError(f"values[{i}]: every value must have the same dimension; values[0] has "
                             f"{arrays[0].shape}, this one {a.shape}")
    return _dense(np.stack(arrays), "values", kind)
