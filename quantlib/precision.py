"""The precisions (dtype words) quantlib knows, as one table.

Every other table in quantlib (storage dtypes, code widths, docs, tests) is
derived from :data:`PRECISIONS`.  The names are the providers' own words:
Voyage ``output_dtype``, Cohere ``embedding_types``, Jina ``embedding_type``
and sentence-transformers ``precision`` all say ``float32`` (or ``float``),
``int8``, ``uint8``, ``binary`` and ``ubinary``.  ``float16`` is added for
pgvector ``halfvec`` and the many stores that keep half floats.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from .errors import UnknownPrecisionError, short_repr

__all__ = ["PRECISIONS", "Precision", "PrecisionInfo", "PrecisionLike", "code_width", "precision_info",
           "wire_dtype"]

Precision = Literal["float32", "float16", "int8", "uint8", "binary", "ubinary"]

#: What a ``precision=``/``dtype=`` argument may be: a precision word, a
#: :class:`PrecisionInfo`, or any numpy spelling of float32, float16, int8 or
#: uint8 (``np.float32``, ``np.dtype("<f4")``, ``"f4"``, ``"single"``, ``"e"``, ``"B"``...).
PrecisionLike = Any


@dataclass(frozen=True)
class PrecisionInfo:
    """One precision: its name, how its codes are stored, and what it loses.

    Attributes
    ----------
    name : str
        The canonical name (``"float32"``, ``"int8"``, ``"ubinary"``, ...).
    dtype : numpy.dtype
        The dtype of stored codes (little-endian on the wire).
    bits : int
        Bits of storage per logical dimension (32, 16, 8 or 1).
    aliases : tuple of str
        Other names accepted for it (``"float"`` is Voyage's and Cohere's word).
    lossless : bool
        Whether float32 embeddings survive a round trip bit-exactly.
    description : str
        One line for docs and ``--help``.
    """

    name: str
    dtype: np.dtype
    bits: int
    aliases: tuple[str, ...]
    lossless: bool
    description: str

    @property
    def packed(self) -> bool:
        """True for the 1-bit precisions, stored 8 dimensions to a byte."""
        return self.bits == 1

    @property
    def is_float(self) -> bool:
        """True for ``float32`` and ``float16``."""
        return self.dtype.kind == "f"

    @property
    def is_scalar(self) -> bool:
        """True for the calibrated 8-bit codes ``int8`` and ``uint8``."""
        return self.bits == 8


PRECISIONS: tuple[PrecisionInfo, ...] = (
    PrecisionInfo("float32", np.dtype("<f4"), 32, ("float", "fp32", "f4"), True,
                  "IEEE single precision, as the providers return by default"),
    PrecisionInfo("float16", np.dtype("<f2"), 16, ("half", "fp16", "f2", "halfvec"), False,
                  "IEEE half precision (pgvector halfvec); relative error <= 2**-11"),
    PrecisionInfo("int8", np.dtype("i1"), 8, (), False,
                  "per-dimension scalar codes -128..127 over calibration ranges"),
    PrecisionInfo("uint8", np.dtype("u1"), 8, (), False,
                  "per-dimension scalar codes 0..255 over calibration ranges"),
    PrecisionInfo("binary", np.dtype("i1"), 1, (), False,
                  "sign bits packed MSB first, stored as offset binary (byte - 128) in int8"),
    PrecisionInfo("ubinary", np.dtype("u1"), 1, ("bit",), False,
                  "sign bits packed MSB first in uint8, zero-padded to whole bytes"),
)

assert tuple(p.name for p in PRECISIONS) == get_args(Precision)

_BY_NAME: dict[str, PrecisionInfo] = {}
for _info in PRECISIONS:
    for _alias in (_info.name, *_info.aliases):
        _BY_NAME[_alias] = _info
del _info, _alias


def precision_info(precision: PrecisionLike, *, name: str = "precision") -> PrecisionInfo:
    """Look up a precision by its name, one of its aliases, or a numpy dtype.

    Parameters
    ----------
    precision : str, numpy dtype or PrecisionInfo
        ``"float32"``, ``"float16"``, ``"int8"``, ``"uint8"``, ``"binary"``,
        ``"ubinary"`` or an alias such as ``"float"`` (case-insensitive), or any
        numpy spelling of float32, float16, int8 or uint8: ``np.float32``,
        ``np.dtype("<f4")``, ``"f4"``, ``"=f4"``, ``"single"``, ``"half"``,
        ``"e"``, ``"<f2"``, ``"i1"``, ``"b"``, ``"u1"``, ``"B"``...  The words
        keep the providers' meaning: ``"float"`` is float32 (not numpy's
        float64), and the bit precisions are only ``"binary"``/``"ubinary"``.
    name : str
        The argument name used in error messages.

    Returns
    -------
    PrecisionInfo

    Raises
    ------
    UnknownPrecisionError
        For a name quantlib does not know (the message suggests close ones),
        a dtype that is not one of the four (float64, bool...), and a stated
        byte order that is not little-endian or native (``">f4"``): a
        precision names what is computed or stored, in native order, so a
        big-endian order here could only be ignored.  Bytes in big-endian
        order are read by :func:`quantlib.b64decode` with ``dtype=">f4"``.

    Examples
    --------
    >>> precision_info("float").name
    'float32'
    >>> precision_info("ubinary").bits
    1
    >>> import numpy as np
    >>> precision_info(np.dtype("<f2")).name, precision_info("B").name
    ('float16', 'uint8')
    """
    info, wire = _resolve(precision, name)
    if wire is not None and not (wire.isnative or wire.byteorder == "<"):
        raise UnknownPrecisionError(
            f"{name}: expected a precision in little-endian or native byte order, got {short_repr(precision)} "
            f"(big-endian {info.name}); a precision names values computed in native order, so the stated "
            f"byte order cannot be honoured here: say {info.name!r}, and read big-endian bytes with "
            f"b64decode(..., dtype={wire.str!r}) or array.astype({info.name!r})"
        )
    return info


def wire_dtype(dtype: PrecisionLike, *, name: str = "dtype") -> tuple[PrecisionInfo, np.dtype]:
    """The precision of ``dtype`` and the byte layout it states, for reading or writing bytes.

    The layout is the precision's little-endian dtype (``<f4``, ``<f2``,
    ``i1``, ``u1``), the wire order of every embedding API, unless ``dtype``
    states big-endian order (``">f4"``, ``np.dtype(">f2")``), which is then
    kept so that it is honoured, never ignored.

    Examples
    --------
    >>> info, layout = wire_dtype(">f4")
    >>> info.name, layout.str
    ('float32', '>f4')
    >>> wire_dtype("float")[1].str
    '<f4'
    """
    info, wire = _resolve(dtype, name)
    if wire is None or wire.itemsize == 1 or wire.isnative or wire.byteorder == "<":
        return info, info.dtype
    return info, info.dtype.newbyteorder(">")


#: numpy dtypes of the four storage types, native order, to the precision they are.
_BY_DTYPE = {np.dtype(np.float32): "float32", np.dtype(np.float16): "float16",
             np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8"}


def _resolve(spec: Any, name: str) -> tuple[PrecisionInfo, np.dtype | None]:
    """The precision of ``spec`` and, if ``spec`` was a numpy dtype spelling, that dtype (for its byte order)."""
    expected = f"one of {', '.join(get_args(Precision))}"
    if isinstance(spec, PrecisionInfo):
        return spec, None
    if isinstance(spec, str):
        info = _BY_NAME.get(spec.strip().lower())
        if info is not None:
            return info, None
    elif not isinstance(spec, (np.dtype, type)):
        # np.dtype(None) is float64 and np.dtype of arbitrary objects is object: name the object instead
        raise UnknownPrecisionError(f"{name}: expected {expected}, got {type(spec).__name__} {short_repr(spec)}")
    try:
        npd = np.dtype(spec.strip() if isinstance(spec, str) else spec)
    except (TypeError, ValueError):
        npd = None
    word = _BY_DTYPE.get(npd.newbyteorder("=")) if npd is not None and npd.kind in "fiu" else None
    if word is None:
        if npd is not None:
            hint = "; cast float64 to float32 first" if npd.kind == "f" and npd.itemsize == 8 else ""
            raise UnknownPrecisionError(f"{name}: expected {expected} (or a numpy float32, float16, int8 or "
                                        f"uint8 dtype), got {short_repr(spec)}, numpy dtype {npd}{hint}")
        close = difflib.get_close_matches(str(spec).lower(), [p.name for p in PRECISIONS], n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownPrecisionError(f"{name}: expected {expected}, got {short_repr(spec)}{hint}")
    return _BY_NAME[word], npd


def code_width(precision: PrecisionLike, dim: int) -> int:
    """Number of stored items (and, as every item is one byte or wider, codes) per vector.

    For the packed precisions this is ``ceil(dim / 8)`` bytes; otherwise ``dim``.

    Examples
    --------
    >>> code_width("ubinary", 1024), code_width("binary", 9), code_width("int8", 9)
    (128, 2, 9)
    """
    info = precision_info(precision)
    return (dim + 7) // 8 if info.packed else dim
