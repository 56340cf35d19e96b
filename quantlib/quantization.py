"""The functions users of sentence-transformers reach for first: quantize, dequantize, convert."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ._kernels import codecs as K
from ._validation import as_code_matrix, check_dim
from .codecs import BitCodec, Codec, ScalarCodec, codec_class, get_codec
from .codecs.binary import from_offset_binary, resolve_bit_dim, to_offset_binary
from .codecs.scalar import Rounding, ranges_from
from .errors import ConfigError, UnsupportedError
from .precision import PRECISIONS, Precision, precision_info

__all__ = ["convert_codes", "dequantize", "quantize"]


def quantize(
    embeddings: Any,
    precision: Precision | str | Codec,
    *,
    ranges: Any = None,
    calibration_embeddings: Any = None,
    rounding: Rounding = "nearest",
) -> np.ndarray:
    """Quantize float embeddings to ``precision``, as sentence-transformers' ``quantize_embeddings``.

    Parameters
    ----------
    embeddings : array_like, shape (d,) or (n, d)
        float16, float32 or float64 values; the rank is kept.
    precision : {"float32", "float16", "int8", "uint8", "binary", "ubinary"} or Codec
        Target precision, or a codec (for example a fitted :class:`ScalarCodec`).
    ranges : array_like, shape (2, d), optional
        int8/uint8 only: per-dimension ``[min, max]``.
    calibration_embeddings : array_like, shape (m, d), optional
        int8/uint8 only: embeddings whose per-dimension min and max give the
        ranges.  With neither ``ranges`` nor ``calibration_embeddings`` the
        ranges come from ``embeddings`` itself (a warning below 100 rows).
        Keep the ranges: :func:`dequantize` and search need them.
    rounding : {"nearest", "floor", "truncate"}
        int8/uint8 only; see :class:`ScalarCodec`.

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` codes, or ``(n, ceil(d / 8))`` bytes for ``binary``/``ubinary``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.2, -0.1, 0.0, 0.7, -0.3, 0.1, 0.5, -0.9, 0.4]], dtype=np.float32)
    >>> quantize(x, "ubinary")
    array([[150, 128]], dtype=uint8)
    >>> quantize(x, "binary")
    array([[22,  0]], dtype=int8)
    >>> quantize(x, "int8", ranges=[[-1.0] * 9, [1.0] * 9])
    array([[  25,  -13,   -1,   89,  -39,   12,   63, -115,   50]], dtype=int8)
    """
    info_or_codec = precision if isinstance(precision, Codec) else precision_info(precision)
    scalar_args = ranges is not None or calibration_embeddings is not None or rounding != "nearest"
    if isinstance(info_or_codec, Codec):
        if scalar_args:
            raise ConfigError(
                "ranges/calibration_embeddings/rounding: a codec already holds them; pass one or the other"
            )
        return info_or_codec.encode(embeddings)
    info = info_or_codec
    if not info.calibrated:
        if scalar_args:
            raise ConfigError(
                f"ranges/calibration_embeddings/rounding: only {_calibrated()} use calibration, "
                f"got precision {info.name!r}"
            )
        return get_codec(info.name).encode(embeddings)
    if ranges is not None and calibration_embeddings is not None:
        raise ConfigError("ranges, calibration_embeddings: pass one or the other, got both")
    params = {} if rounding == "nearest" else {"rounding": rounding}
    cls = codec_class(info)
    if ranges is None and not _takes(cls, "ranges"):  # a calibrated codec of its own kind fits itself
        source = embeddings if calibration_embeddings is None else calibration_embeddings
        return cls.fit(source, info.name, **params).encode(embeddings)  # type: ignore[attr-defined]
    if ranges is None:
        if calibration_embeddings is None:
            ranges = ranges_from(embeddings, "embeddings", stacklevel=2)
        else:
            ranges = ranges_from(calibration_embeddings, "calibration_embeddings", stacklevel=2)
    return get_codec(info.name, ranges=ranges, **params).encode(embeddings)


def _takes(cls: type, param: str) -> bool:
    return param in inspect.signature(cls.__init__).parameters


def _calibrated() -> str:
    """The calibrated precisions, as words: ``"int8 and uint8"``."""
    names = [p.name for p in PRECISIONS if p.calibrated]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def dequantize(
    codes: Any,
    precision: Precision | str | Codec,
    *,
    ranges: Any = None,
    dim: int | None = None,
) -> np.ndarray:
    """Turn codes back into the float32 values they stand for.

    Parameters
    ----------
    codes : array_like, shape (c,) or (n, c)
        Codes in ``precision``'s storage dtype.
    precision : str or Codec
        The precision of ``codes``, or the codec that made them.
    ranges : array_like, shape (2, d), optional
        Required for int8/uint8 codes (the ranges they were quantized with).
    dim : int, optional
        The logical dimension of ``binary``/``ubinary`` rows (default ``8 * c``;
        padding bits are dropped).

    Returns
    -------
    numpy.ndarray of float32
        Values per dimension: the floats, the dequantized 8-bit values, or
        +1.0/-1.0 per bit.

    Examples
    --------
    >>> import numpy as np
    >>> dequantize(np.array([149, 0], dtype=np.uint8), "ubinary", dim=9)
    array([ 1., -1., -1.,  1., -1.,  1., -1.,  1., -1.], dtype=float32)
    >>> dequantize(np.array([-128, 127], dtype=np.int8), "int8", ranges=[[0.0, 0.0], [1.0, 2.0]])
    array([0., 2.], dtype=float32)
    """
    if isinstance(precision, Codec):
        if ranges is not None:
            raise ConfigError("ranges: a codec already holds its ranges; pass one or the other")
        return precision.decode(codes, dim=dim)
    info = precision_info(precision)
    if info.calibrated:
        if ranges is None:
            raise ConfigError(
                f"ranges: {info.name} codes cannot be dequantized without the (2, d) ranges they were made with"
                + ("" if _takes(codec_class(info), "ranges") else "; pass the codec that made them")
            )
        return get_codec(info.name, ranges=ranges).decode(codes, dim=dim)
    if ranges is not None:
        raise ConfigError(f"ranges: only {_calibrated()} use calibration, got precision {info.name!r}")
    return get_codec(info.name).decode(codes, dim=dim)


def convert_codes(
    codes: Any,
    source: Precision | str | Codec,
    target: Precision | str,
    *,
    ranges: Any = None,
    dim: int | None = None,
) -> np.ndarray:
    """Convert stored codes between precisions without going through floats.

    Supported, all exact:

    - ``binary`` <-> ``ubinary`` and ``int8`` <-> ``uint8`` (same ranges): a
      flip of each byte's top bit (``u - 128`` as int8);
    - ``int8``/``uint8`` -> ``binary``/``ubinary``: the sign bit of each
      dequantized value (``value > 0``), computed by comparing each code with a
      per-dimension threshold; needs ``ranges`` or the codec as ``source``.

    Examples
    --------
    >>> import numpy as np
    >>> convert_codes(np.array([77], dtype=np.uint8), "ubinary", "binary")
    array([-51], dtype=int8)
    >>> codes = np.array([[-128, 0, 127]], dtype=np.int8)
    >>> convert_codes(codes, "int8", "ubinary", ranges=[[-1.0] * 3, [1.0] * 3])
    array([[96]], dtype=uint8)
    """
    codec = source if isinstance(source, Codec) else None
    src = codec.info if codec else precision_info(source, name="source")
    dst = precision_info(target, name="target")
    if codec is not None and ranges is not None:
        raise ConfigError("ranges: the source codec already holds its ranges; pass one or the other")
    known = (*ScalarCodec.precisions, *BitCodec.precisions)
    if (src not in known or dst not in known) and not (src.is_float or dst.is_float):
        raise UnsupportedError(f"source, target: convert_codes converts between int8, uint8, binary and ubinary "
                               f"codes, got {src.name} -> {dst.name}; use quantlib.dequantize() and "
                               "quantlib.quantize()")
    if src.is_float or dst.is_float or (src.packed and not dst.packed):
        raise ConfigError(
            f"source, target: {src.name} -> {dst.name} cannot be done on codes alone; "
            "use quantlib.dequantize() and quantlib.quantize()"
        )
    arr, single = as_code_matrix(codes, "codes", src)
    if src.packed:  # bits -> bits
        if dim is not None:
            resolve_bit_dim(arr, dim, "codes")
        out = arr.copy() if src.name == dst.name else (
            to_offset_binary(arr) if dst.name == "binary" else from_offset_binary(arr))
    elif dst.is_scalar:  # int8 <-> uint8
        if ranges is not None:
            raise ConfigError("ranges: int8 <-> uint8 keeps the same ranges; none are needed")
        out = arr.copy() if src.name == dst.name else np.bitwise_xor(arr.view(np.uint8), np.uint8(0x80)).view(dst.dtype)
    else:  # int8/uint8 -> bits
        if codec is None:
            if ranges is None:
                raise ConfigError(f"ranges: {src.name} -> {dst.name} needs the ranges the codes were made with")
            codec = ScalarCodec(src.name, ranges)
        if dim is not None and check_dim(dim) != arr.shape[1]:
            raise ConfigError(f"dim: {src.name} codes have dimension {arr.shape[1]}, got dim={dim}")
        assert isinstance(codec, ScalarCodec)
        codec.check_dim(arr.shape[1], "codes")
        out = np.empty((arr.shape[0], dst.width(arr.shape[1])), np.uint8)
        thresholds = codec.thresholds()
        K.pack_greater(arr, thresholds, arr.dtype.type(0), out)
        if dst.name == "binary":
            out = to_offset_binary(out)
    return out[0] if single else out

