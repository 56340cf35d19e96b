"""Numpy twins of quantlib's formats: float casts, scalar codes, sign bits, conversions, base64, truncation.

Sections 1-7 of :mod:`quantlib._reference` (see there for what the twins
promise); the twins of scores and search are in :mod:`quantlib._reference.scores`.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from ..errors import Base64DecodeError, NonFiniteError, OutOfRangeError


def _require_finite(x: np.ndarray) -> None:
    if not np.isfinite(x).all():
        raise NonFiniteError("embeddings: expected finite values (reference twin)")


def _as_float(x: np.ndarray) -> np.ndarray:
    """float16 is widened to float32 (exactly), as the library does; float32/64 are kept."""
    x = np.asarray(x)
    return x.astype(np.float32) if x.dtype == np.float16 else x


# ---------------------------------------------------------------------------
# 1. Float casts
# ---------------------------------------------------------------------------


def float_encode(x: np.ndarray, precision: str = "float32") -> np.ndarray:
    """``x.astype(float32 or float16)``, refusing NaN/inf and values that overflow.

    A finite value that becomes infinite in the cast (beyond 65504 after
    rounding for float16, beyond 3.4e38 for float32) is an OutOfRangeError.

    Examples
    --------
    >>> float_encode(np.array([1.0, 65504.0, 1e-8]), "float16").tolist()
    [1.0, 65504.0, 0.0]
    """
    x = _as_float(x)
    _require_finite(x)
    with np.errstate(over="ignore"):
        out = x.astype(np.float16 if precision == "float16" else np.float32)
    if not np.isfinite(out).all():
        raise OutOfRangeError(f"embeddings: a value is beyond {precision}'s largest finite value")
    return out


def float_decode(codes: np.ndarray) -> np.ndarray:
    """``codes.astype(float32)``: exact for float16 and float32 codes.

    Examples
    --------
    >>> float_decode(np.array([0.5, -2.0], dtype=np.float16))
    array([ 0.5, -2. ], dtype=float32)
    """
    return np.asarray(codes).astype(np.float32)


# ---------------------------------------------------------------------------
# 2. Scalar codes (int8, uint8)
# ---------------------------------------------------------------------------

#: Lowest and highest code of each 8-bit precision.
CODE_RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


def scalar_steps(ranges: np.ndarray) -> np.ndarray:
    """Per-dimension step ``(max - min) / 255`` in float32 (0 for a constant dimension).

    Examples
    --------
    >>> scalar_steps(np.array([[0.0, 1.0], [255.0, 1.0]]))
    array([1., 0.], dtype=float32)
    """
    r = np.asarray(ranges, dtype=np.float32)
    return (r[1] - r[0]) / np.float32(255)


def scalar_divisors(ranges: np.ndarray) -> np.ndarray:
    """The steps with 0 replaced by 1, as sentence-transformers does (``np.where(steps == 0, 1, steps)``).

    Encoding divides by these, so a constant dimension never divides by zero.

    Examples
    --------
    >>> scalar_divisors(np.array([[0.0, 1.0], [255.0, 1.0]]))
    array([1., 1.], dtype=float32)
    """
    steps = scalar_steps(ranges)
    return np.where(steps == 0, np.float32(1), steps).astype(np.float32)


def scalar_encode(
    x: np.ndarray, ranges: np.ndarray, precision: str = "int8", rounding: str = "nearest"
) -> np.ndarray:
    """Scalar codes of ``x`` over ``ranges`` (shape (2, d)), by rounding rule.

    With ``y = (x - min) / divisor`` (in the dtype of ``x``; float32 ranges) and
    ``low`` = -128 (int8) or 0 (uint8):

    - ``"nearest"``: ``clip(rint(y) + low, low, high)`` (ties to even);
    - ``"floor"``: :func:`scalar_encode_st_floor` (sentence-transformers >= 5.7);
    - ``"truncate"``: :func:`scalar_encode_st_truncate` (sentence-transformers < 5.7).

    Examples
    --------
    >>> r = np.array([[-1.0], [1.0]])
    >>> x = np.array([[-1.0], [0.0], [1.0], [5.0]], dtype=np.float32)
    >>> scalar_encode(x, r, "int8").ravel()
    array([-128,   -1,  127,  127], dtype=int8)
    >>> scalar_encode(x, r, "uint8", "floor").ravel()
    array([  0, 127, 254, 255], dtype=uint8)
    """
    if rounding == "floor":
        return scalar_encode_st_floor(x, ranges, precision)
    if rounding == "truncate":
        return scalar_encode_st_truncate(x, ranges, precision)
    if rounding != "nearest":
        raise ValueError(f"rounding: unknown rule {rounding!r}")
    x = _as_float(x)
    _require_finite(x)
    starts = np.asarray(ranges, dtype=np.float32)[0]
    low, high = CODE_RANGE[precision]
    with np.errstate(over="ignore"):
        y = (x - starts) / scalar_divisors(ranges)
    return np.clip(np.rint(y) + low, low, high).astype(precision)


def scalar_encode_st_floor(x: np.ndarray, ranges: np.ndarray, precision: str = "int8") -> np.ndarray:
    """sentence-transformers >= 5.7, literally (PR #3847, "Clip out-of-range values")::

        steps = (ranges[1, :] - ranges[0, :]) / 255
        steps = np.where(steps == 0, 1, steps)
        q_vals = np.clip(np.floor((embeddings - starts) / steps), 0, 255)
        uint8: q_vals.astype(np.uint8)          int8: (q_vals - 128).astype(np.int8)

    Note that the offset 128 is subtracted after flooring: ``floor(y) - 128``
    differs from ``floor(y - 128)`` when ``y`` lies within float32 rounding
    below an integer.

    Examples
    --------
    >>> r = np.array([[0.0], [255.0]])
    >>> scalar_encode_st_floor(np.array([[np.float32(1) - np.float32(2**-24)]]), r)
    array([[-128]], dtype=int8)
    """
    x = _as_float(x)
    _require_finite(x)
    ranges = np.asarray(ranges, dtype=np.float32)
    starts = ranges[0, :]
    steps = (ranges[1, :] - ranges[0, :]) / 255
    steps = np.where(steps == 0, 1, steps).astype(np.float32)
    with np.errstate(over="ignore"):
        q_vals = np.clip(np.floor((x - starts) / steps), 0, 255)
    if precision == "uint8":
        return q_vals.astype(np.uint8)
    return (q_vals - 128).astype(np.int8)


def scalar_encode_st_truncate(x: np.ndarray, ranges: np.ndarray, precision: str = "int8") -> np.ndarray:
    """sentence-transformers < 5.7, literally, where it is defined::

        uint8: ((embeddings - starts) / steps).astype(np.uint8)
        int8:  ((embeddings - starts) / steps - 128).astype(np.int8)

    ``astype`` truncates toward zero and wraps (or is undefined) outside the
    code range; instead of wrapping this raises OutOfRangeError.  Constant
    dimensions divide by 1 (that version divides by 0, which is undefined).

    Examples
    --------
    >>> r = np.array([[-1.0, -1.0], [1.0, 1.0]])
    >>> scalar_encode_st_truncate(np.array([[-0.999, 0.999]], dtype=np.float32), r)
    array([[-127,  126]], dtype=int8)
    """
    x = _as_float(x)
    _require_finite(x)
    ranges = np.asarray(ranges, dtype=np.float32)
    starts = ranges[0, :]
    steps = scalar_divisors(ranges)
    low, high = CODE_RANGE[precision]
    with np.errstate(over="ignore"):
        t = (x - starts) / steps - 128 if precision == "int8" else (x - starts) / steps
    if t.size and not ((np.trunc(t) >= low) & (np.trunc(t) <= high)).all():
        raise OutOfRangeError(f"embeddings: a {precision} code would wrap (sentence-transformers < 5.7)")
    return t.astype(precision)


def scalar_decode(codes: np.ndarray, ranges: np.ndarray, precision: str = "int8") -> np.ndarray:
    """The value each code stands for: ``min + (code - low) * step`` in float32.

    Examples
    --------
    >>> scalar_decode(np.array([-128, 127], dtype=np.int8), np.array([[0.0, 0.0], [1.0, 2.0]]))
    array([0., 2.], dtype=float32)
    """
    starts = np.asarray(ranges, dtype=np.float32)[0]
    low = np.float32(CODE_RANGE[precision][0])
    return starts + (np.asarray(codes).astype(np.float32) - low) * scalar_steps(ranges)


# ---------------------------------------------------------------------------
# 3. Sign bits (ubinary, binary)
# ---------------------------------------------------------------------------


def pack_ubinary(x: np.ndarray) -> np.ndarray:
    """``np.packbits(x > 0, axis=-1)``: bit 1 where strictly positive, MSB first, rows zero-padded.

    Examples
    --------
    >>> pack_ubinary(np.array([-0.03, 0.2, -0.1, -0.5, 0.4, 0.1, -0.2, 0.7]))
    array([77], dtype=uint8)
    """
    x = _as_float(x)
    _require_finite(x)
    return np.packbits(x > 0, axis=-1)


def pack_binary(x: np.ndarray) -> np.ndarray:
    """Offset binary: ``(pack_ubinary(x) - 128)`` as int8 (Voyage's 77 - 128 = -51).

    Examples
    --------
    >>> pack_binary(np.array([-0.03, 0.2, -0.1, -0.5, 0.4, 0.1, -0.2, 0.7]))
    array([-51], dtype=int8)
    """
    return (pack_ubinary(x).astype(np.int16) - 128).astype(np.int8)


def unpack_bits(codes: np.ndarray, dim: int | None = None, precision: str = "ubinary") -> np.ndarray:
    """+1.0 where a bit is set, -1.0 where clear, for the first ``dim`` bits of each row.

    Examples
    --------
    >>> unpack_bits(np.array([-51], dtype=np.int8), 8, "binary")
    array([-1.,  1., -1., -1.,  1.,  1., -1.,  1.], dtype=float32)
    """
    codes = np.asarray(codes)
    if precision == "binary":
        codes = (codes.astype(np.int16) + 128).astype(np.uint8)
    bits = np.unpackbits(codes, axis=-1)
    if dim is not None:
        bits = bits[..., :dim]
    return np.where(bits == 1, np.float32(1), np.float32(-1))


# ---------------------------------------------------------------------------
# 4. Conversions between stored codes
# ---------------------------------------------------------------------------


def bits_from_scalar(
    codes: np.ndarray, ranges: np.ndarray, source: str = "int8", target: str = "ubinary"
) -> np.ndarray:
    """Sign bits of the dequantized values: ``pack(scalar_decode(codes) > 0)``.

    Examples
    --------
    >>> bits_from_scalar(np.array([[-128, 0, 127]], dtype=np.int8), np.array([[-1.0] * 3, [1.0] * 3]))
    array([[96]], dtype=uint8)
    """
    return quantize(scalar_decode(codes, ranges, source), target)


def convert_codes(
    codes: np.ndarray, source: str, target: str, ranges: np.ndarray | None = None
) -> np.ndarray:
    """Stored codes of ``source`` precision as ``target`` codes, by the definitions.

    binary <-> ubinary and int8 <-> uint8 add or subtract 128; int8/uint8 ->
    bits go through :func:`bits_from_scalar`.

    Examples
    --------
    >>> convert_codes(np.array([77], dtype=np.uint8), "ubinary", "binary")
    array([-51], dtype=int8)
    """
    codes = np.asarray(codes)
    if source == target:
        return codes.copy()
    pairs = {("ubinary", "binary"), ("binary", "ubinary"), ("uint8", "int8"), ("int8", "uint8")}
    if (source, target) in pairs:
        shift = -128 if source in ("ubinary", "uint8") else 128
        return (codes.astype(np.int16) + shift).astype(np.int8 if target in ("binary", "int8") else np.uint8)
    if source in CODE_RANGE and target in ("binary", "ubinary"):
        return bits_from_scalar(codes, ranges, source, target)
    raise ValueError(f"no conversion {source} -> {target}")


# ---------------------------------------------------------------------------
# 5. base64
# ---------------------------------------------------------------------------

#: Wire dtype of each precision's codes (the dtype rules of Voyage's docs).
WIRE_DTYPES = {
    "float32": "<f4",
    "float16": "<f2",
    "int8": "i1",
    "uint8": "u1",
    "binary": "i1",
    "ubinary": "u1",
}


def b64encode(array: np.ndarray) -> str:
    """``base64.b64encode`` of the little-endian bytes of ``array``.

    Examples
    --------
    >>> b64encode(np.array([1.0, -2.0], dtype=np.float32))
    'AACAPwAAAMA='
    """
    array = np.asarray(array)
    wire = {"f": f"<f{array.dtype.itemsize}", "i": "i1", "u": "u1"}[array.dtype.kind]
    return base64.b64encode(array.astype(wire).tobytes()).decode("ascii")


def b64decode(data: str | bytes | list, precision: str, dim: int | None = None) -> np.ndarray:
    """``np.frombuffer(base64.b64decode(data, validate=True), wire dtype)``, copied to native order.

    A list of strings gives one row per string; with ``dim`` one string is
    split into rows of ``dim`` components (``ceil(dim / 8)`` bytes for bits).

    Examples
    --------
    >>> b64decode("TQ==", "binary")
    array([77], dtype=int8)
    >>> b64decode(["AACAPw==", "AAAAwA=="], "float32")
    array([[ 1.],
           [-2.]], dtype=float32)
    """
    wire = np.dtype(WIRE_DTYPES[precision])
    if isinstance(data, list):
        rows = [b64decode(row, precision) for row in data]
        return np.stack(rows) if rows else np.empty((0, 0), wire.newbyteorder("="))
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Base64DecodeError(f"data: invalid base64 ({exc})") from None
    if len(raw) % wire.itemsize:
        raise Base64DecodeError("data: byte length is not a whole number of items")
    out = np.frombuffer(raw, wire).astype(wire.newbyteorder("="))
    if dim is not None:
        width = -(-dim // 8) if precision in ("binary", "ubinary") else dim  # written out: a twin shares no code
        if out.size % width:
            raise Base64DecodeError("data: item count is not a whole number of rows")
        out = out.reshape(-1, width)
    return out


# ---------------------------------------------------------------------------
# 6. Dispatch by precision name
# ---------------------------------------------------------------------------


def quantize(
    x: np.ndarray, precision: str, ranges: np.ndarray | None = None, rounding: str = "nearest"
) -> np.ndarray:
    """The twin of :func:`quantlib.quantize` (``ranges`` required for int8/uint8).

    Examples
    --------
    >>> quantize(np.array([[0.5, -0.5]], dtype=np.float32), "binary")
    array([[0]], dtype=int8)
    """
    if precision in ("float32", "float16"):
        return float_encode(x, precision)
    if precision in CODE_RANGE:
        return scalar_encode(x, ranges, precision, rounding)
    if precision == "ubinary":
        return pack_ubinary(x)
    return pack_binary(x)


def dequantize(
    codes: np.ndarray, precision: str, ranges: np.ndarray | None = None, dim: int | None = None
) -> np.ndarray:
    """The twin of :func:`quantlib.dequantize`.

    Examples
    --------
    >>> dequantize(np.array([149, 0], dtype=np.uint8), "ubinary", dim=9)
    array([ 1., -1., -1.,  1., -1.,  1., -1.,  1., -1.], dtype=float32)
    """
    if precision in ("float32", "float16"):
        return float_decode(codes)
    if precision in CODE_RANGE:
        return scalar_decode(codes, ranges, precision)
    return unpack_bits(codes, dim, precision)


# ---------------------------------------------------------------------------
# 7. Matryoshka truncation (issue 5)
# ---------------------------------------------------------------------------


def truncate_float(x: np.ndarray, dim: int, renormalize: bool = True) -> np.ndarray:
    """The twin of :func:`quantlib.truncate` on floats: slice, then divide by the float64 norm.

    Rows are first divided by their largest magnitude, so that subnormal and
    huge float64 rows neither underflow nor overflow.  Zero prefixes stay zero
    (``zero_policy="keep"``); the result has the dtype of ``x``.

    Examples
    --------
    >>> truncate_float(np.array([[3.0, 4.0, 12.0], [0.0, 0.0, 1.0]], dtype=np.float32), 2)
    array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """
    x = np.asarray(x)
    head = x[..., :dim].astype(np.float64)
    if not renormalize:
        return x[..., :dim].copy()
    top = np.abs(head).max(axis=-1, keepdims=True, initial=0.0)
    scaled = np.divide(head, top, out=np.zeros_like(head), where=top > 0)
    norm = np.linalg.norm(scaled, axis=-1, keepdims=True)
    out = np.divide(scaled, norm, out=np.zeros_like(head), where=norm > 0)
    return out.astype(x.dtype)


def truncate_bits(codes: np.ndarray, dim: int, precision: str = "ubinary") -> np.ndarray:
    """The twin of :func:`quantlib.truncate` on packed bits: unpack, slice, pack again.

    Examples
    --------
    >>> truncate_bits(np.array([[0b10110111, 0b11000000]], dtype=np.uint8), 6)
    array([[180]], dtype=uint8)
    """
    raw = np.asarray(codes).view(np.uint8)
    if precision == "binary":
        raw = raw ^ np.uint8(0x80)
    bits = np.unpackbits(raw, axis=-1)[..., :dim]
    out = np.packbits(bits, axis=-1)
    return (out ^ np.uint8(0x80)).view(np.int8) if precision == "binary" else out
