"""The formats of a :class:`~quantlib.MultiVectorBatch`: the codec it keeps and the codecs of its conversions.

The batch container is in :mod:`quantlib.multivector`; the checks of what a
batch is built from are in :mod:`quantlib._multivector_input`.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from .codecs import Codec, codec_class, codec_from_config, default_codec, get_codec
from .codecs.scalar import ranges_from
from .errors import ConfigError
from .precision import PrecisionInfo


def _keep_codec(codec: Codec | None, info: PrecisionInfo) -> Codec | None:
    """The codec a batch keeps: None where the precision's default codec is the same (floats, bits, raw codes)."""
    if codec is None:
        return None
    try:
        default = default_codec(info)
    except ConfigError:  # calibrated, without a raw variant: only this codec reads the tokens
        return codec
    return None if codec == default else codec


def _converted_codec(codec: Codec | None, target: PrecisionInfo) -> Codec | None:
    """The codec of codes :func:`~quantlib.convert_codes` carried to ``target`` (int8 <-> uint8: the same ranges)."""
    if codec is None or not target.calibrated:
        return None
    config = {k: v for k, v in codec.get_config().items() if k not in ("version", "checksum")}
    return _keep_codec(codec_from_config({**config, "id": target.name}), target)


def _fitted_codec(target: PrecisionInfo, tokens: np.ndarray, ranges: Any, calibration_embeddings: Any,
                  rounding: str) -> Codec:
    """The codec of a calibrated ``target`` fitted as :func:`quantlib.quantize` fits it (stacklevel: the caller's)."""
    params = {} if rounding == "nearest" else {"rounding": rounding}
    cls = codec_class(target)
    if ranges is None and "ranges" not in inspect.signature(cls.__init__).parameters:
        fit = getattr(cls, "fit", None)
        if fit is None:
            raise ConfigError(f"precision: {cls.__name__} has no fit(), so {target.name} tokens need "
                              "its codec, fitted, as precision=")
        if params and "rounding" not in inspect.signature(fit).parameters:
            raise ConfigError(f"rounding: {cls.__name__}.fit takes no rounding, got rounding={rounding!r}")
        source = tokens if calibration_embeddings is None else calibration_embeddings
        return fit(source, target.name, **params)
    if ranges is None:
        src = tokens if calibration_embeddings is None else calibration_embeddings
        name = "tokens" if calibration_embeddings is None else "calibration_embeddings"
        ranges = ranges_from(src, name, stacklevel=3)
    return get_codec(target.name, ranges=ranges, **params)


def _json_text(value: Any) -> Any:
    """Base64 given as bytes counts as the ASCII text it is (the checksum is over JSON text)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    return value
