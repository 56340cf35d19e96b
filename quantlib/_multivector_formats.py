"""The formats of a :class:`~quantlib.MultiVectorBatch`: the codec it keeps, conversions, the base64 dict.

The batch container is in :mod:`quantlib.multivector`; the checks of what a
batch is built from are in :mod:`quantlib._multivector_input`.  Here: which
codec a batch keeps (:func:`_keep_codec`: none where the precision's default
reads the tokens), the codec of converted or newly fitted codes
(:func:`_converted_codec`, :func:`_fitted_codec`), tokens encoded or decoded
by a codec and checked (:func:`_encoded`, :func:`_decoded`), and the versioned,
checksummed base64 dict of :meth:`~quantlib.MultiVectorBatch.to_base64`
(:func:`_to_payload`, :func:`_from_payload`).
"""

from __future__ import annotations

import binascii
import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ._checksum import record_checksum, record_mismatch
from ._validation import check_dim, describe
from .codecs import Codec, codec_class, codec_from_config, default_codec, get_codec
from .codecs.scalar import ranges_from
from .encoding import _a2b, b64decode, b64encode
from .errors import Base64DecodeError, ConfigError, DTypeError, PayloadError, ShapeError, short_repr
from .precision import PrecisionInfo, precision_info

if TYPE_CHECKING:
    from .multivector import MultiVectorBatch

#: Version of the :meth:`MultiVectorBatch.to_base64` dict.  1 (quantlib 0.1): no
#: ``version`` key and no checksum; 2: ``version`` and ``checksum``.  Both are read.
FORMAT_VERSION = 2
_READS = (1, 2)


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


def _encoded(codec: Codec, tokens: np.ndarray, target: PrecisionInfo, dim: int) -> np.ndarray:
    """Float tokens encoded by ``codec`` into ``target``, checked to be ``target.width(dim)`` codec items a token."""
    n = tokens.shape[0]
    out = np.asarray(codec.encode(tokens)) if n else np.empty((0, target.width(dim)), target.dtype)
    if out.shape != (n, target.width(dim)) or out.dtype != codec.dtype:
        raise ShapeError(f"precision: {codec!r} encoded tokens of dimension {dim} to {out.dtype} "
                         f"{out.shape}, expected {codec.dtype} {(n, target.width(dim))}")
    return out


def _decoded(codec: Codec, tokens: np.ndarray, dim: int) -> np.ndarray:
    """The values ``codec`` decodes tokens of dimension ``dim`` to, checked to be ``dim`` a token."""
    n = tokens.shape[0]
    out = np.asarray(codec.decode(tokens, dim=dim)) if n else np.empty((0, dim), np.float32)
    if out.shape != (n, dim):
        raise ShapeError(f"codec: {codec!r} decoded tokens of dimension {dim} to shape {out.shape}, "
                         f"expected {(n, dim)}")
    return out


def _to_payload(batch: MultiVectorBatch) -> dict[str, Any]:
    """:meth:`MultiVectorBatch.to_base64`: the batch as a JSON-ready dict (format :data:`FORMAT_VERSION`)."""
    offsets = binascii.b2a_base64(batch.offsets.astype("<i8").tobytes(), newline=False).decode("ascii")
    out: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "precision": batch.precision,
        "dim": batch.dim,
        "offsets": offsets,
        "tokens": b64encode(batch.tokens),
    }
    if batch.codec is not None:
        out["codec"] = batch.codec.get_config()
    out["checksum"] = record_checksum(out)
    return out


def _from_payload(payload: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, str, int, Any]:
    """:meth:`MultiVectorBatch.from_base64`'s payload, checked and decoded: tokens, offsets, precision, dim, codec."""
    if not isinstance(payload, Mapping):
        raise DTypeError(f"payload: expected a dict as to_base64() returns, got {describe(payload)}")
    missing = [key for key in ("precision", "dim", "offsets", "tokens") if key not in payload]
    if missing:
        raise PayloadError(f"payload: missing key(s) {', '.join(repr(m) for m in missing)}")
    version = payload.get("version", 1)
    if isinstance(version, bool) or version not in _READS:
        raise PayloadError(f"payload['version']: expected one of {', '.join(map(str, _READS))} "
                           f"(the versions this quantlib reads), got {short_repr(version)}")
    if version >= 2:
        problem = record_mismatch({k: _json_text(v) for k, v in payload.items()})
        if problem:
            raise PayloadError(f"payload: {problem}")
    info = precision_info(payload["precision"], name="payload['precision']")
    dim = check_dim(payload["dim"], "payload['dim']")
    text = payload["offsets"]
    if not isinstance(text, (str, bytes)):
        raise DTypeError(f"payload['offsets']: expected base64 text, got {describe(text)}")
    raw = _a2b(text, "payload['offsets']")
    if len(raw) % 8:
        raise Base64DecodeError(
            f"payload['offsets']: {len(raw)} decoded bytes are not a whole number of int64 offsets"
        )
    offsets = np.frombuffer(raw, "<i8").astype(np.int64)
    if info.packed and info.family != "signs":  # b64decode's dim counts bits of packed precisions: give items
        tokens = b64decode(payload["tokens"], info.dtype, dim=info.width(dim))
    else:
        tokens = b64decode(payload["tokens"], info.name, dim=dim)
    if tokens.ndim == 1:  # no tokens at all
        tokens = tokens.reshape(0, info.width(dim))
    return tokens, offsets, info.name, dim, payload.get("codec")
