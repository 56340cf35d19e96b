"""The codec contract.

A codec turns float embeddings into the stored codes of one precision and back.
Every codec in quantlib keeps this contract, and the tests check it for each:

``encode(embeddings)``
    Takes a vector ``(d,)`` or a batch ``(n, d)`` of floating-point values
    (float16, float32 or float64; lists are accepted) and returns codes of the
    same rank in the precision's storage dtype: ``(n, d)`` for the float and
    8-bit precisions, ``(n, ceil(d / 8))`` bytes for the 1-bit ones.  NaN and
    infinity are refused (:class:`~quantlib.NonFiniteError`); integer input is
    refused (:class:`~quantlib.DTypeError`); nothing is silently wrapped.
``decode(codes, dim=None)``
    Returns float32 values of the same rank: the value each code stands for.
    ``float32`` round-trips bit for bit; ``float16`` within its rounding
    (relative error at most 2**-11); ``int8``/``uint8`` within half a
    quantization step inside the calibration range; bits decode to +1/-1.
``get_config()``
    A JSON-serialisable dict with an ``"id"`` (the precision) and everything
    needed to rebuild the codec (the calibration ranges for 8-bit codes), and
    ``quantlib.codec_from_config(config)`` rebuilds an equal codec.  The base
    class adds ``"version"`` (:data:`CONFIG_VERSION`) and ``"checksum"``, the
    CRC-32 of the config's canonical JSON with normalised numbers (so it
    survives PostgreSQL ``jsonb``, JavaScript and Go, which write ``-0.0`` as
    ``0`` and ``1.0`` as ``1``, reorder keys and respace), to whatever a
    subclass returns; ``codec_from_config`` refuses a config of version 2 or
    later whose checksum does not match (a hand-edited config must drop both
    keys, or say ``"version": 1``).
``code_size(dim)``
    Bytes per stored vector of dimension ``dim``.

What callers ask a codec instead of branching on its name
---------------------------------------------------------
``precisions``
    The :class:`~quantlib.PrecisionInfo` records the class encodes;
    :func:`~quantlib.register_codec` adds them to :data:`~quantlib.PRECISIONS`.
``width(dim)`` and ``dtype``
    Stored items per vector and their dtype (the one width formula is
    :meth:`PrecisionInfo.width`).
``family``
    How the scoring kernels read the codes (:data:`quantlib.precision.FAMILIES`):

    - ``"float"``: IEEE floats, scored as they are;
    - ``"affine"``: integer codes standing for ``start + (code - low) * step``
      per dimension; the codec returns that map from :meth:`Codec.affine`, and
      a float query is folded into it (``q * step``) and scored by the integer
      kernels against the raw codes; code queries are decoded first, except
      for codes that are their own values (:class:`IntegerCodec`), whose dot
      is exact in integers;
    - ``"signs"``: packed bits read as +1/-1 (a float query against them is
      scored from byte tables; code queries by popcount);
    - ``"decoded"``: anything else.  Rows are decoded to float32 (once per
      prepared corpus) and scored as floats: correct for every codec that
      keeps the contract, at the cost of a float32 copy.  A new codec starts
      here and earns a faster family by returning its map.
    - ``"own"``: the codec scores rows itself, with kernels of its own:
      ``prepare_queries(q)`` once per batch of float32 queries, then
      ``score_rows(prepared, rows, out)`` fills ``out`` with the dot products
      of the queries and the values a block of rows stands for.  quantlib adds
      the metric (cosine's norms, from ``decode``) and the top-k lists.
``dim``
    The dimension the codec was fitted for, or None if it takes any.
``truncate(dim)`` and ``truncate_codes(codes, dim)``
    The codec of codes cut to their first ``dim`` dimensions (Matryoshka),
    and those codes; a codec whose codes cannot be cut refuses with
    :class:`~quantlib.UnsupportedError`.
"""

from __future__ import annotations

import abc
import functools
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .. import _checksum
from ..errors import ConfigError, ShapeError, UnsupportedError
from ..precision import PrecisionInfo, precision_info

#: Version of the JSON config layout; bumped only with a reader for the old one.
#: 1: ``id`` and the parameters; 2: also ``checksum``, of the canonical JSON text;
#: 3: the checksum is of the canonical JSON with normalised numbers (``_checksum.canonical_numbers``),
#: which survives other programs' JSON.  tests/golden/formats holds one of each.
CONFIG_VERSION = 3


def _sealed(get_config: Any) -> Any:
    """``get_config`` whose result carries this version and a checksum of everything in it.

    Applied to every subclass's own ``get_config`` (``__init_subclass__``), so a
    subclass that extends ``super().get_config()`` with its parameters, as the
    contract has always had them do, still gets a checksum that covers them.
    """

    @functools.wraps(get_config)
    def wrapper(self: Codec) -> dict[str, Any]:
        config = {k: v for k, v in get_config(self).items() if k != _checksum.KEY}
        config["version"] = CONFIG_VERSION
        config[_checksum.KEY] = _checksum.record_checksum(config, numbers=True)
        return config

    wrapper.__sealed__ = True  # type: ignore[attr-defined]
    return wrapper


class Affine(NamedTuple):
    """The affine map of an ``"affine"`` codec: ``value_j = start_j + (code_j - low) * step_j``.

    Attributes
    ----------
    start, step : numpy.ndarray of float32, shape (d,)
        Per dimension, the value of code ``low`` and the step between codes.
    low, high : int
        The lowest and the highest code.
    identity : bool
        True when every code is its own value (``start == low``, ``step == 1``):
        two code arrays then have an exact integer dot.
    """

    start: np.ndarray
    step: np.ndarray
    low: int
    high: int
    identity: bool = False


class Codec(abc.ABC):
    """Base class of the codecs; see the module docstring for the contract."""

    #: The precisions this class encodes.
    precisions: ClassVar[tuple[PrecisionInfo, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("get_config")
        if own is not None and not getattr(own, "__sealed__", False):
            cls.get_config = _sealed(own)  # type: ignore[method-assign]

    def __init__(self, precision: str | PrecisionInfo) -> None:
        self._info = self._own_precision(precision)

    @classmethod
    def _own_precision(cls, precision: Any) -> PrecisionInfo:
        """The record of ``precision`` among this class's own (by record, name or alias, registered or not)."""
        for info in cls.precisions:
            if isinstance(precision, PrecisionInfo) and precision == info:
                return info
            if isinstance(precision, str) and precision.strip().lower() in (info.name, *info.aliases):
                return info
        info = precision_info(precision)
        if info not in cls.precisions:
            names = ", ".join(p.name for p in cls.precisions)
            raise ConfigError(f"precision: {cls.__name__} encodes {names}, got {info.name!r}")
        return info

    @property
    def precision(self) -> str:
        """The precision name, e.g. ``"int8"``."""
        return self._info.name

    @property
    def info(self) -> PrecisionInfo:
        """The :class:`~quantlib.PrecisionInfo` record of this precision."""
        return self._info

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the codes (native byte order)."""
        return self._info.dtype.newbyteorder("=")

    @property
    def family(self) -> str:
        """How the scoring kernels read the codes (see the module docstring)."""
        return self._info.family

    @property
    def dim(self) -> int | None:
        """The dimension this codec was fitted for, or None if it encodes any."""
        return None

    def width(self, dim: int) -> int:
        """Stored items per vector of dimension ``dim``."""
        return self._info.width(dim)

    def check_dim(self, dim: int, name: str) -> None:
        """Refuse vectors of dimension ``dim`` (the argument ``name``) if the codec was fitted for another."""
        if self.dim is not None and dim != self.dim:
            raise ShapeError(f"{name}: the codec is for dimension {self.dim}, got dimension {dim}")

    def code_size(self, dim: int) -> int:
        """Bytes per stored vector of dimension ``dim``."""
        return self.width(dim) * self._info.dtype.itemsize

    def affine(self) -> Affine | None:
        """The affine map of an ``"affine"`` codec's codes, else None."""
        return None

    def prepare_queries(self, queries: np.ndarray) -> Any:
        """Float32 queries ``(m, d)`` made ready for :meth:`score_rows` (family ``"own"`` only)."""
        raise UnsupportedError(f"queries: {self!r} does not score rows itself (family {self.family!r})")

    def score_rows(self, prepared: Any, rows: np.ndarray, out: np.ndarray) -> None:
        """Fill ``out`` ``(m, n)`` float32 with the dot products of the prepared queries and ``rows``' values."""
        raise UnsupportedError(f"rows: {self!r} does not score rows itself (family {self.family!r})")

    def truncate(self, dim: int) -> Codec:
        """The codec of this codec's codes cut to their first ``dim`` dimensions (Matryoshka)."""
        raise UnsupportedError(
            f"dim: {self!r} codes cannot be truncated (their stored items do not map to leading "
            "dimensions); truncate the float embeddings before encoding instead"
        )

    def truncate_codes(self, codes: np.ndarray, dim: int) -> np.ndarray:
        """``codes`` (validated, 2-D, of a known dimension) cut to their first ``dim`` dimensions."""
        self.truncate(dim)  # refuses for codecs that cannot
        return np.ascontiguousarray(codes[:, : self.width(dim)])

    @abc.abstractmethod
    def encode(self, embeddings: Any) -> np.ndarray:
        """Float embeddings ``(d,)`` or ``(n, d)`` to codes of the same rank."""

    @abc.abstractmethod
    def decode(self, codes: Any, *, dim: int | None = None) -> np.ndarray:
        """Codes back to float32 values of the same rank."""

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable configuration with a version and a checksum; ``codec_from_config`` reads it back."""
        return {"id": self.precision}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Codec:
        """Rebuild a codec from :meth:`get_config` output."""
        return cls(config["id"])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return _config_equal(self.get_config(), other.get_config())  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.precision))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.precision!r})"


def _config_equal(a: Any, b: Any) -> bool:
    return a == b


Codec.get_config = _sealed(Codec.get_config)  # type: ignore[method-assign]
