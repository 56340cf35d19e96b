"""pgvector's text forms: ``[1,2.5]`` (vector, halfvec), ``0101`` (bit), ``{1:0.5,3:2}/5`` (sparsevec)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._sparse_checks import _F32_UNDERFLOW, _iter_rows, _parse_int
from ..._sparse_convert import _short, from_rows
from ..._validation import describe
from ...errors import DTypeError, NonFiniteError, OutOfRangeError, PayloadError, ShapeError, short_repr
from ._types import _bits, _check_type, _dense, _same_dim, _sparse, _sparse_dim

if TYPE_CHECKING:
    from ...sparse import SparseBatch

# ---------------------------------------------------------------------------------------------- text

def _f32_text(v: float | np.float32) -> str:
    """A float32 as pgvector writes it: shortest round-trip text, ``2`` rather than ``2.0``."""
    text = str(v)
    return text[:-2] if text.endswith(".0") else text


def to_text(x: Any, type: str, *, dim: int | None = None) -> list[str]:
    """pgvector's text form of each row: ``[1,2.5]``, ``0101`` or ``{1:0.5,3:2}/5``.

    Parameters
    ----------
    x : array_like or SparseBatch
        Floats (n, d) for ``vector``/``halfvec``; uint8 packed codes (n, ceil(d / 8)) or bools (n, d)
        for ``bit``; a :class:`~quantlib.SparseBatch` for ``sparsevec``.
    type : {"vector", "halfvec", "bit", "sparsevec"}
    dim : int, optional
        The bit length of ``bit`` (default: 8 bits per byte), or the ``sparsevec`` dimension (default:
        ``vocab_size``, else the largest index + 1).

    Each value is written in the shortest form that reads back as the same float32 (``halfvec``: the
    float32 form of the half value, as the server prints it), so text round-trips bit-exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from quantlib.stores import pgvector as pg
    >>> pg.to_text(np.array([[1.0, 2.5, -0.1]], np.float32), "vector")
    ['[1,2.5,-0.1]']
    >>> pg.to_text(np.array([[0.1]]), "halfvec")
    ['[0.099975586]']
    >>> pg.to_text(np.array([[0b10100000]], np.uint8), "bit", dim=3)
    ['101']
    """
    type = _check_type(type)
    if type in ("vector", "halfvec"):
        arr = _dense(x, "x", type)
        if type == "halfvec":
            arr = arr.astype(np.float32)
        return ["[" + ",".join(map(_f32_text, row)) + "]" for row in arr]
    if type == "bit":
        codes, d = _bits(x, "x", dim)
        bits = np.unpackbits(codes, axis=1, count=d) + np.uint8(ord("0"))
        return [row.tobytes().decode("ascii") for row in bits]
    batch = _sparse(x, "x")
    return _sparse_to_text(batch, _sparse_dim(batch, "x", dim))


def _texts(texts: Any, name: str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, dict)) or not isinstance(texts, Iterable):
        raise DTypeError(f"{name}: expected text or a list of texts, got {describe(texts)}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise DTypeError(f"{name}[{i}]: expected pgvector text, got {describe(t)}")
    return out


def from_text(texts: str | Iterable[str], type: str) -> Any:
    """Rows from pgvector's text form (one text gives a batch of one).

    Returns float32 (n, d) for ``vector``, float16 (n, d) for ``halfvec``, uint8 packed codes for
    ``bit`` (``'0101'`` strings, as psycopg returns ``bit`` columns) and a :class:`~quantlib.SparseBatch`
    for ``sparsevec``.  Numbers are read as float64 and rounded once to the column's type (the server's own
    output reads back exactly); NaN and infinity are refused, as the server refuses them.

    Examples
    --------
    >>> from quantlib.stores import pgvector as pg
    >>> pg.from_text(["[1,2.5]", "[ -3 , 4e-1 ]"], "vector")
    array([[ 1. ,  2.5],
           [-3. ,  0.4]], dtype=float32)
    >>> pg.from_text("0101", "bit")
    array([[80]], dtype=uint8)
    """
    type = _check_type(type)
    if type == "sparsevec":
        from ...sparse import SparseBatch

        return SparseBatch.from_pgvector(texts)
    rows = _texts(texts, "texts")
    if type == "bit":
        return _bits_from_strings(rows, "texts")
    if not rows:
        raise ShapeError("texts: expected at least one text")
    out: np.ndarray | None = None
    for r, text in enumerate(rows):
        body = text.strip()
        if len(body) < 2 or body[0] != "[" or body[-1] != "]":
            raise PayloadError(f"texts[{r}]: expected {type} text like '[1,2.5]', got {short_repr(text, 80)}")
        try:
            row = np.array(body[1:-1].split(","), dtype=np.float64)
        except ValueError:
            raise PayloadError(f"texts[{r}]: expected numbers separated by commas in {type} text, got "
                               f"{short_repr(text, 80)}") from None
        if out is None:
            out = np.empty((len(rows), row.size), np.float64)
        _same_dim(out.shape[1], row.size, f"texts[{r}]", "texts[0]", ShapeError, "text")
        out[r] = row
    assert out is not None
    if not np.isfinite(out).all():
        at = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise NonFiniteError(f"texts[{at[0]}]: {type} holds no NaN or infinity, got {out[at]} at index {at[1]}")
    return _dense(out, "texts", type)


def _bits_from_strings(rows: Sequence[str], name: str) -> np.ndarray:
    if not rows:
        raise ShapeError(f"{name}: expected at least one text")
    n, d = len(rows), len(rows[0])
    if d == 0:
        raise ShapeError(f"{name}[0]: expected at least one bit, got ''")
    for r, t in enumerate(rows):
        if len(t) != d:
            raise ShapeError(f"{name}[{r}]: every bit string must have the same length; {name}[0] has {d} "
                             f"bits, this one {len(t)}")
    try:
        raw = "".join(rows).encode("ascii")
    except UnicodeEncodeError:
        raw = b""
    bits = np.frombuffer(raw, np.uint8).reshape(n, d) - np.uint8(ord("0")) if len(raw) == n * d else None
    if bits is None or (bits > 1).any():
        bad = next(r for r, t in enumerate(rows) if t.strip("01"))
        raise PayloadError(f"{name}[{bad}]: expected a bit string of 0s and 1s, got {short_repr(rows[bad], 80)}")
    return np.packbits(bits, axis=1)


# sparsevec text, read and written here for to_text/from_text and SparseBatch.from_pgvector/to_pgvector

# One way to match each number (\d+(?:\.\d*)? rather than \d+\.?\d*): an ambiguous pattern backtracks
# quadratically on a long run of digits that fails to match (3000 digits took 0.4 s).
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?i:nan|inf|infinity)"
_PG_RE = re.compile(r"\s*\{(.*)\}\s*/\s*([+-]?\d+)\s*", re.DOTALL)
_PG_ELEM_RE = re.compile(rf"\s*([+-]?\d+)\s*:\s*({_NUM})\s*")


def _sparse_from_text(cls: type[SparseBatch], texts: str | Iterable[str]) -> SparseBatch:
    """A batch from sparsevec texts ``{1:0.5,3:2}/5`` (1-based ids), all of one dimension."""
    if isinstance(texts, str):
        texts = [texts]
    parsed = []
    dim: int | None = None
    for r, text in enumerate(_iter_rows(texts, "texts")):
        name = f"texts[{r}]"
        if not isinstance(text, str):
            raise DTypeError(f"{name}: expected pgvector sparsevec text, got {describe(text)}")
        m = _PG_RE.fullmatch(text)
        if m is None:
            raise PayloadError(
                f"{name}: expected sparsevec text like '{{1:0.5,3:2}}/30000', got {short_repr(text, 80)}")
        d = _parse_int(m.group(2), f"{name} dimension")
        if d < 1:
            raise PayloadError(f"{name}: the dimension must be at least 1, got {d}")
        dim = _same_dim(dim, d, name, "texts[0]", PayloadError, "text")
        ids, vals = [], []
        body = m.group(1).strip()
        if body:
            for e, elem in enumerate(body.split(",")):
                em = _PG_ELEM_RE.fullmatch(elem)
                if em is None:
                    raise PayloadError(f"{name}: element {e} {elem.strip()!r} is not 'index:value'")
                i = _parse_int(em.group(1), f"{name} element {e} index")
                if not 1 <= i <= d:
                    raise OutOfRangeError(f"{name}: element {e} has index {i}; sparsevec indices run "
                                          f"from 1 to the dimension {d}")
                v = float(em.group(2))
                if abs(v) > _F32_UNDERFLOW or v != v:  # pgvector stores float32 and drops zeros (NaN kept)
                    ids.append(i - 1)
                    vals.append(v)
        parsed.append((ids, vals))
    return from_rows(cls, parsed, dim)


def _sparse_to_text(batch: SparseBatch, dim: int) -> list[str]:
    """sparsevec text per row of ``batch`` for the checked dimension ``dim`` (zero weights dropped)."""
    ids = (batch.indices.astype(np.int64) + 1).tolist()
    vals = [_short(v) for v in batch.values.tolist()]
    ptr = batch.indptr.tolist()
    out = []
    for i in range(len(batch)):
        elems = ",".join(f"{ids[p]}:{_f32_text(vals[p])}"
                         for p in range(ptr[i], ptr[i + 1]) if vals[p] != 0)
        out.append(f"{{{elems}}}/{dim}")
    return out
