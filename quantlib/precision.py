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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import ConfigError, UnknownPrecisionError, short_repr

__all__ = ["FAMILIES", "PRECISIONS", "Precision", "PrecisionInfo", "PrecisionLike", "code_width", "precision_info",
           "register_precision", "wire_dtype"]

Precision = Literal["float32", "float16", "int8", "uint8", "binary", "ubinary"]

#: What a ``precision=``/``dtype=`` argument may be: a precision word, a
#: :class:`PrecisionInfo`, or any numpy spelling of float32, float16, int8 or
#: uint8 (``np.float32``, ``np.dtype("<f4")``, ``"f4"``, ``"single"``, ``"e"``, ``"B"``...).
PrecisionLike = Any


#: The scoring families (see :mod:`quantlib.codecs.base`): how the kernels read a precision's codes.
FAMILIES = ("float", "affine", "signs", "decoded", "own")


@dataclass(frozen=True)
class PrecisionInfo:
    """One precision: its name, how its codes are stored, and what it loses.

    Each codec declares the precisions it encodes as these records, and
    :func:`quantlib.register_codec` adds them to :data:`PRECISIONS`: the table
    is built from the registered codecs, never written out twice.

    Attributes
    ----------
    name : str
        The canonical name (``"float32"``, ``"int8"``, ``"ubinary"``, ...).
    dtype : numpy.dtype
        The dtype of stored codes (little-endian on the wire).
    bits : int
        Bits of storage per logical dimension (32, 16, 8 or 1; 4 for a
        codec that packs two dimensions into a byte).
    aliases : tuple of str
        Other names accepted for it (``"float"`` is Voyage's and Cohere's word).
    lossless : bool
        Whether float32 embeddings survive a round trip bit-exactly.
    description : str
        One line for docs and ``--help``.
    family : str
        How the scoring kernels read the codes: ``"float"`` (IEEE floats),
        ``"affine"`` (integer codes standing for ``start + (code - low) * step``
        per dimension), ``"signs"`` (packed bits read as +1/-1) or
        ``"decoded"`` (anything else: rows are decoded to float32 and scored
        as floats, the slow generic path every codec has) or ``"own"`` (the
        codec scores rows with its own kernels: ``prepare_queries`` and
        ``score_rows``).
    calibrated : bool
        Whether a codec of this precision needs parameters fitted to data
        (the int8/uint8 ranges): ``quantize`` then fits them from
        ``calibration_embeddings``.
    """

    name: str
    dtype: np.dtype
    bits: int
    aliases: tuple[str, ...]
    lossless: bool
    description: str
    family: str = "decoded"
    calibrated: bool = False

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"family: expected one of {', '.join(FAMILIES)}, got {self.family!r}")

    def width(self, dim: int) -> int:
        """Stored items per vector of dimension ``dim``: ``ceil(dim * bits / item bits)``.

        The one place quantlib computes a code width: ``dim`` for one item per
        dimension, ``ceil(dim / 8)`` bytes for packed bits.

        Examples
        --------
        >>> precision_info("ubinary").width(1025), precision_info("int8").width(1025)
        (129, 1025)
        """
        item_bits = 8 * self.dtype.itemsize
        return (dim * self.bits + item_bits - 1) // item_bits

    @property
    def packed(self) -> bool:
        """True where one stored item holds several dimensions (bits), so the width does not say the dimension."""
        return self.bits < 8 * self.dtype.itemsize

    @property
    def is_float(self) -> bool:
        """True for IEEE float codes (``float32``, ``float16``)."""
        return self.family == "float"

    @property
    def is_scalar(self) -> bool:
        """True for calibrated integer codes scored through their affine map (``int8``, ``uint8``)."""
        return self.family == "affine" and self.calibrated


class _Table(Sequence):
    """The registered precisions, in registration order: a live, read-only sequence of :class:`PrecisionInfo`."""

    def __init__(self) -> None:
        self._records: list[PrecisionInfo] = []

    def __getitem__(self, i: Any) -> Any:
        return tuple(self._records)[i]

    def __iter__(self) -> Iterator[PrecisionInfo]:
        return iter(tuple(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"PRECISIONS({', '.join(p.name for p in self._records)})"


#: Every precision of a registered codec, in registration order (built by :func:`register_precision`).
PRECISIONS: Sequence[PrecisionInfo] = _Table()

_BY_NAME: dict[str, PrecisionInfo] = {}


def register_precision(info: PrecisionInfo) -> PrecisionInfo:
    """Add ``info`` to :data:`PRECISIONS` under its name and aliases (called by :func:`quantlib.register_codec`).

    Registering the same record again does nothing; another record under a
    name or alias already taken is a :class:`~quantlib.ConfigError`.
    """
    if not isinstance(info, PrecisionInfo):
        raise ConfigError(f"precisions: expected PrecisionInfo records, got {short_repr(info)}")
    keys = [k.strip().lower() for k in (info.name, *info.aliases)]
    for key in keys:
        taken = _BY_NAME.get(key)
        if taken is not None and taken != info:
            raise ConfigError(f"precisions: the name {key!r} of {info.name!r} is already the precision "
                              f"{taken.name!r}; choose another name")
    if info not in PRECISIONS._records:  # type: ignore[attr-defined]
        PRECISIONS._records.append(info)  # type: ignore[attr-defined]
    for key in keys:
        _BY_NAME[key] = info
    return info


def unregister_precision(info: PrecisionInfo) -> None:
    """Remove ``info`` from :data:`PRECISIONS` (what :func:`quantlib.codecs.unregister_codec` calls)."""
    if info in PRECISIONS._records:  # type: ignore[attr-defined]
        PRECISIONS._records.remove(info)  # type: ignore[attr-defined]
    for key in [k for k, v in _BY_NAME.items() if v is info]:
        del _BY_NAME[key]


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
    if isinstance(spec, PrecisionInfo):
        return spec, None
    if isinstance(spec, str):
        info = _BY_NAME.get(spec.strip().lower())
        if info is not None:
            return info, None
    expected = f"one of {', '.join(p.name for p in PRECISIONS)}"  # built only on the way to an error
    if not isinstance(spec, (str, np.dtype, type)):
        # np.dtype(None) is float64 and np.dtype of arbitrary objects is object: name the object instead
        raise UnknownPrecisionError(f"{name}: expected {expected}, got {type(spec).__name__} {short_repr(spec)}")
    try:
        npd = np.dtype(spec.strip() if isinstance(spec, str) else spec)
    except (TypeError, ValueError, SyntaxError):  # numpy parses "f4,i1"-style strings with ast: "," is a SyntaxError
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

    For the packed precisions this is ``ceil(dim / 8)`` bytes; otherwise ``dim``
    (:meth:`PrecisionInfo.width`).

    Examples
    --------
    >>> code_width("ubinary", 1024), code_width("binary", 9), code_width("int8", 9)
    (128, 2, 9)
    """
    return precision_info(precision).width(dim)
