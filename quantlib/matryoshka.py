"""Matryoshka truncation: keep the first ``dim`` dimensions of an embedding, in any stored format.

Models trained Matryoshka-style (OpenAI text-embedding-3, Voyage, Cohere
embed-v4, Alibaba text-embedding-v3/v4, Jina) put a usable embedding in each
prefix of the standard ladder :data:`MATRYOSHKA_DIMS`.  :func:`truncate`
shortens stored vectors without going back to floats:

- ``float32`` / ``float16``: slice, then L2-renormalise (by default);
- ``binary`` / ``ubinary``: a byte prefix, and when ``dim`` is not a multiple
  of 8 the padding bits of the last byte cleared; never unpacked.  Equal, bit
  for bit, to packing the truncated floats;
- ``int8`` / ``uint8``: a slice of the codes.  The codes go with the first
  ``dim`` calibration ranges: :func:`truncate_codec` gives that codec, and
  encoding truncated floats with it equals truncating the codes.

Codes cannot be renormalised (``renormalize=True`` there is an error); scores
of codes are computed after dequantizing, where the norm can be taken.

Multi-vector embeddings (ColBERT, jina-colbert-v2 128 -> 96 -> 64) truncate
per token: pass one document's ``(n_tokens, d)`` matrix as a batch.  (The
ragged multi-vector type is issue 6; it will call :func:`truncate` per
document.)

Dimensions off the ladder (such as ColBERT's 96) are allowed: the ladder is
where such models were trained to be good, not a rule.  Check with
:func:`is_matryoshka_dim`; :func:`truncate` does not warn, so that per-token
truncation to 96 is not noisy.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ._kernels.matryoshka import renormalize_prefix
from ._validation import as_array, as_code_matrix, as_float_matrix, check_dim, describe
from .codecs import Codec, default_codec
from .errors import ConfigError, DTypeError, NonFiniteError, ShapeError
from .precision import Precision, precision_info

__all__ = ["MATRYOSHKA_DIMS", "ZeroPolicy", "is_matryoshka_dim", "truncate", "truncate_codec"]

#: The prefix lengths Matryoshka models are trained (and providers offer) to be good at.
MATRYOSHKA_DIMS: tuple[int, ...] = (64, 128, 256, 512, 768, 1024, 1536, 2048)

_NO_RANGES = "ranges: only int8 and uint8 codes have calibration ranges, got precision {!r}"

#: What renormalisation does with a vector whose kept prefix is all zeros.
ZeroPolicy = Literal["keep", "raise"]


def is_matryoshka_dim(dim: int) -> bool:
    """Whether ``dim`` is on the standard Matryoshka ladder :data:`MATRYOSHKA_DIMS`.

    Examples
    --------
    >>> is_matryoshka_dim(256), is_matryoshka_dim(96)
    (True, False)
    """
    return check_dim(dim) in MATRYOSHKA_DIMS


def truncate(
    embeddings: Any,
    dim: int,
    *,
    precision: Precision | str | Codec = "float32",
    renormalize: bool | None = None,
    zero_policy: ZeroPolicy = "keep",
    ranges: Any = None,
) -> np.ndarray:
    """Keep the first ``dim`` dimensions of each vector, in its stored format.

    Parameters
    ----------
    embeddings : array_like, shape (d,) or (n, d)
        Floats for ``float32``/``float16`` (any float dtype; the dtype is kept),
        or codes in the storage dtype of ``precision``: ``(n, ceil(d / 8))``
        bytes for ``binary`` (int8) and ``ubinary`` (uint8).  A multi-vector
        document is its ``(n_tokens, d)`` matrix, truncated per token.
    dim : int
        The new dimension, ``1 <= dim <= d`` (for bits, ``d`` is 8 times the
        row width).  Need not be on :data:`MATRYOSHKA_DIMS`.
    precision : str or Codec
        The format of ``embeddings``: a precision name or its codec.
    renormalize : bool, optional
        Divide each truncated float vector by its L2 norm (computed in
        float64 with scaling, so it neither overflows nor underflows).
        ``None`` means True for floats and "not applicable" for codes;
        ``True`` on codes is a :class:`~quantlib.ConfigError`.
    zero_policy : {"keep", "raise"}
        A vector whose kept prefix is all zeros has no direction:
        ``"keep"`` leaves it as zeros (as OpenAI's guide does);
        ``"raise"`` raises :class:`~quantlib.NonFiniteError` (its norm would
        divide by zero), as Voyage's helper does.
    ranges : array_like, shape (2, d), optional
        For ``int8``/``uint8`` codes: the calibration ranges, checked against
        the codes' width (a :class:`~quantlib.ScalarCodec` passed as
        ``precision`` is checked the same way).  Slicing the codes does not
        need them; :func:`truncate_codec` gives the ranges of the result.

    Returns
    -------
    numpy.ndarray
        A new C-contiguous array of the same rank and dtype: ``(n, dim)``, or
        ``(n, ceil(dim / 8))`` bytes for bits.  The input is never modified.

    Raises
    ------
    ShapeError
        ``dim`` outside ``1..d``, or ranges of another width.
    ConfigError
        ``renormalize=True`` for codes, ``ranges`` for a format without
        calibration, or an unknown ``zero_policy``.
    NonFiniteError
        NaN or infinity in the kept float prefix, or (``zero_policy="raise"``)
        a zero prefix.

    Examples
    --------
    >>> import numpy as np
    >>> truncate(np.array([3.0, 4.0, 12.0], dtype=np.float32), 2)
    array([0.6, 0.8], dtype=float32)
    >>> truncate(np.array([[0b10110111, 0b11000000]], dtype=np.uint8), 6, precision="ubinary")
    array([[180]], dtype=uint8)
    >>> truncate(np.array([[-128, 5, 127]], dtype=np.int8), 2, precision="int8")
    array([[-128,    5]], dtype=int8)
    """
    if zero_policy not in ("keep", "raise"):
        raise ConfigError(f"zero_policy: expected 'keep' or 'raise', got {zero_policy!r}")
    if renormalize is not None and not isinstance(renormalize, (bool, np.bool_)):
        raise DTypeError(f"renormalize: expected True, False or None, got {describe(renormalize)}")
    codec = precision if isinstance(precision, Codec) else None
    info = codec.info if codec is not None else precision_info(precision)
    dim = check_dim(dim)
    if info.is_float:
        if ranges is not None:
            raise ConfigError(_NO_RANGES.format(info.name))
        return _truncate_float(embeddings, dim, renormalize is not False, zero_policy)
    if renormalize:
        raise ConfigError(
            f"renormalize: {info.name} codes cannot be renormalised (their norm is not the norm of the "
            "floats); truncate the floats, or dequantize the truncated codes and normalise those"
        )
    arr, single = as_code_matrix(embeddings, "embeddings", info)
    width = arr.shape[1]
    if ranges is not None:
        if not info.calibrated:
            raise ConfigError(_NO_RANGES.format(info.name))
        if codec is not None:
            raise ConfigError("ranges: the codec already holds its ranges; pass one or the other")
        r = as_array(ranges, "ranges")
        if r.ndim != 2 or r.shape[0] != 2 or r.shape[1] != width:
            raise ShapeError(f"ranges: expected shape (2, {width}) to match the codes, got shape {r.shape}")
    if codec is None:
        codec = default_codec(info, "precision")
    if codec.family == "signs":
        _check_fits(dim, 8 * width, "bits")
    elif codec.dim is not None:
        if not info.packed:
            codec.check_dim(width, "embeddings")
        elif codec.width(codec.dim) != width:
            raise ShapeError(f"embeddings: the codec is for dimension {codec.dim} ({codec.width(codec.dim)} items "
                             f"per row), got codes of width {width}")
        _check_fits(dim, codec.dim, "components")
    elif not info.packed:
        _check_fits(dim, width, "components")
    out = codec.truncate_codes(arr, dim)
    return out[0] if single else out


def truncate_codec(codec: Codec, dim: int) -> Codec:
    """The codec of codes truncated to ``dim`` (:meth:`Codec.truncate <quantlib.Codec.truncate>`).

    A :class:`~quantlib.ScalarCodec` keeps its first ``dim`` ranges; float and
    bit codecs do not depend on the dimension and come back unchanged; a codec
    whose codes cannot be cut raises :class:`~quantlib.UnsupportedError`.
    For a scalar codec ``c``, ``truncate_codec(c, m).encode(x[:, :m])`` equals
    ``truncate(c.encode(x), m, precision=c)`` code for code.  (With plain
    ranges, the truncated ranges are ``ranges[:, :m]``.)

    Examples
    --------
    >>> from quantlib import ScalarCodec
    >>> c = ScalarCodec("int8", [[-1.0, 0.0, 2.0], [1.0, 4.0, 3.0]])
    >>> truncate_codec(c, 2).ranges
    array([[-1.,  0.],
           [ 1.,  4.]], dtype=float32)
    """
    if not isinstance(codec, Codec):
        raise DTypeError(f"codec: expected a quantlib codec, got {describe(codec)}")
    dim = check_dim(dim)
    if codec.dim is not None:
        _check_fits(dim, codec.dim, "components")
    return codec.truncate(dim)


# ---------------------------------------------------------------------- formats


def _check_fits(dim: int, current: int, unit: str) -> None:
    if dim > current:
        raise ShapeError(f"dim: expected 1 <= dim <= {current} (the current dimension), got {dim}"
                         + (f"; rows hold {current // 8} bytes" if unit == "bits" else ""))


def _truncate_float(embeddings: Any, dim: int, renormalize: bool, zero_policy: str) -> np.ndarray:
    raw = as_array(embeddings, "embeddings")
    keep_dtype = raw.dtype
    arr, single = as_float_matrix(raw, "embeddings")
    _check_fits(dim, arr.shape[1], "components")
    if not renormalize:
        out = raw.reshape(arr.shape)[:, :dim].copy()
        bad = _first_nonfinite_row(out)
        if bad >= 0:
            _raise_nonfinite(out, bad, single)
        return out[0] if single else out
    work = np.empty((arr.shape[0], dim), arr.dtype)
    status = np.empty(arr.shape[0], np.int8)
    renormalize_prefix(arr, dim, work, status)
    bad = np.flatnonzero(status == 2)
    if bad.size:
        _raise_nonfinite(arr[:, :dim], int(bad[0]), single)
    zero = np.flatnonzero(status == 1)
    if zero.size and zero_policy == "raise":
        i = int(zero[0])
        where = "" if single else f"row {i} of "
        raise NonFiniteError(
            f"embeddings: {where}the first {dim} components are all zero, so they cannot be renormalised "
            f"({zero.size} such row(s)); pass zero_policy='keep' to leave them as zeros"
        )
    out = work if work.dtype == keep_dtype else work.astype(keep_dtype)
    return out[0] if single else out


def _first_nonfinite_row(x: np.ndarray) -> int:
    if x.dtype.kind != "f" or x.size == 0:
        return -1
    ok = np.isfinite(x).all(axis=1)
    return -1 if ok.all() else int(np.flatnonzero(~ok)[0])


def _raise_nonfinite(x: np.ndarray, row: int, single: bool) -> None:
    j = int(np.flatnonzero(~np.isfinite(x[row]))[0])
    where = j if single else (row, j)
    raise NonFiniteError(f"embeddings: expected finite values in the kept components, got {x[row, j]} "
                         f"at index {where}")
