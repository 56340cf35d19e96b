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
"""

from __future__ import annotations

import abc
import functools
from typing import Any, ClassVar

import numpy as np

from .. import _checksum
from ..errors import ConfigError
from ..precision import PrecisionInfo, code_width, precision_info

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


class Codec(abc.ABC):
    """Base class of the codecs; see the module docstring for the contract."""

    #: The precision names this class encodes.
    precisions: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("get_config")
        if own is not None and not getattr(own, "__sealed__", False):
            cls.get_config = _sealed(own)  # type: ignore[method-assign]

    def __init__(self, precision: str) -> None:
        info = precision_info(precision)
        if info.name not in self.precisions:
            raise ConfigError(
                f"precision: {type(self).__name__} encodes {', '.join(self.precisions)}, got {info.name!r}"
            )
        self._info = info

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

    def code_size(self, dim: int) -> int:
        """Bytes per stored vector of dimension ``dim``."""
        return code_width(self._info, dim) * self._info.dtype.itemsize

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
