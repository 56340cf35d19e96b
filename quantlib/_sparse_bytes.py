"""The binary form of :class:`quantlib.SparseBatch`: :meth:`~quantlib.SparseBatch.to_bytes` and
:meth:`~quantlib.SparseBatch.from_bytes` (format version 2; version 1 is still read)."""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np

from ._kernels import sparse as K
from ._validation import describe
from .errors import ConfigError, DTypeError, OutOfRangeError, PayloadError, ShapeError

if TYPE_CHECKING:
    from .sparse import SparseBatch, Weights

#: Magic bytes and version of :meth:`SparseBatch.to_bytes`.  Version 1 left the
#: header's last four bytes 0; version 2 writes a CRC-32 there.  Both are read.
MAGIC = b"QLSP"
FORMAT_VERSION = 2
_READS = (1, 2)
# magic, version, weight code, index width, flags, n_rows, nnz, vocab_size, checksum (0 in version 1)
_HEADER = struct.Struct("<4sHBBIQQQI")
#: Bytes of the header before its checksum field.
_CRC_AT = _HEADER.size - 4
_WEIGHT_CODES: dict[str, int] = {"float32": 0, "float16": 1, "uint8": 2}
_FLAG_VOCAB = 1
_FLAG_TOKENS = 2


def to_bytes(batch: SparseBatch, weights: Weights) -> bytes:
    """:meth:`SparseBatch.to_bytes` (see its docstring for the layout)."""
    if weights not in _WEIGHT_CODES:
        raise ConfigError(f"weights: expected one of {', '.join(_WEIGHT_CODES)}, got {weights!r}")
    n = len(batch)
    width = batch.indices.dtype.itemsize
    flags = ((_FLAG_VOCAB if batch.vocab_size is not None else 0)
             | (_FLAG_TOKENS if batch.tokens is not None else 0))
    parts = [
        _HEADER.pack(MAGIC, FORMAT_VERSION, _WEIGHT_CODES[weights], width, flags, n, batch.nnz,
                     batch.vocab_size or 0, 0)[:_CRC_AT],
        _le(batch.indptr, "<i8"),
        _le(batch.indices, f"<i{width}"),
    ]
    if weights == "float32":
        parts.append(_le(batch.values, "<f4"))
    elif weights == "float16":
        with np.errstate(over="ignore"):
            half = batch.values.astype(np.float16)
        if not np.isfinite(half).all():
            p = int(np.flatnonzero(~np.isfinite(half))[0])
            raise OutOfRangeError(f"values: weight {float(batch.values[p])!r} at entry {p} is beyond "
                                  "float16's largest value 65504; use weights='float32'")
        parts.append(_le(half, "<f2"))
    else:
        if batch.nnz and batch.values.min() < 0:
            p = int(np.flatnonzero(batch.values < 0)[0])
            raise OutOfRangeError(f"values: weights='uint8' needs weights >= 0, got "
                                  f"{float(batch.values[p])!r} at entry {p}; use weights='float16' for "
                                  "signed weights")
        codes = np.empty(batch.nnz, np.uint8)
        scales = np.empty(n, np.float32)
        K.quantize_u8(batch.indptr, batch.values, codes, scales)
        parts += [codes.tobytes(), _le(scales, "<f4")]
    if batch.tokens is not None:
        encoded = [t.encode("utf-8") for t in batch.tokens]
        parts += [_le(np.array([len(e) for e in encoded], np.uint32), "<u4"), b"".join(encoded)]
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return b"".join([parts[0], struct.pack("<I", crc), *parts[1:]])


def from_bytes(cls: type[SparseBatch], data: bytes | bytearray | memoryview) -> SparseBatch:
    """:meth:`SparseBatch.from_bytes`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DTypeError(f"data: expected bytes, got {describe(data)}")
    buf = bytes(data)
    if len(buf) < _HEADER.size:
        raise PayloadError(
            f"data: expected at least the {_HEADER.size}-byte header, got {len(buf)} bytes")
    magic, version, wcode, width, flags, n, nnz, vocab, stored_crc = _HEADER.unpack_from(buf)
    if magic != MAGIC:
        raise PayloadError(f"data: expected magic {MAGIC!r} (quantlib sparse batch), got {magic!r}")
    if version not in _READS:
        raise PayloadError(
            f"data: format version {version} is not one this quantlib reads "
            f"({', '.join(map(str, _READS))})")
    if version == 1 and stored_crc != 0:
        raise PayloadError(f"data: version 1 keeps 0 in the header's last 4 bytes, got {stored_crc:#010x}; "
                           "the header is corrupt")
    known_flags = _FLAG_VOCAB | _FLAG_TOKENS
    if wcode not in _WEIGHT_CODES.values() or width not in (4, 8) or flags & ~known_flags:
        raise PayloadError(f"data: bad header (weight code {wcode}, id width {width}, flags {flags})")
    wbytes = {0: 4, 1: 2, 2: 1}[wcode]
    fixed = _HEADER.size + 8 * (n + 1) + nnz * (width + wbytes) + (4 * n if wcode == 2 else 0)
    if flags & _FLAG_TOKENS:
        fixed += 4 * nnz
    if len(buf) < fixed:
        raise PayloadError(f"data: the header announces {n} rows and {nnz} entries ({fixed}+ bytes), "
                           f"got {len(buf)} bytes")
    if version >= 2:
        view = memoryview(buf)
        crc = zlib.crc32(view[_HEADER.size:], zlib.crc32(view[:_CRC_AT]))
        if crc != stored_crc:
            raise PayloadError(f"data: the checksum says {stored_crc:#010x}, the bytes give {crc:#010x}; "
                               "the message is corrupt")
    off = _HEADER.size
    indptr = np.frombuffer(buf, "<i8", n + 1, off)
    off += 8 * (n + 1)
    indices = np.frombuffer(buf, f"<i{width}", nnz, off)
    off += width * nnz
    if wcode == 0:
        values = np.frombuffer(buf, "<f4", nnz, off)
        off += 4 * nnz
    elif wcode == 1:
        values = np.frombuffer(buf, "<f2", nnz, off).astype(np.float32)
        off += 2 * nnz
    else:
        codes = np.frombuffer(buf, np.uint8, nnz, off)
        off += nnz
        scales = np.frombuffer(buf, "<f4", n, off).astype(np.float32)
        off += 4 * n
        bad = K.check_indptr(indptr.astype(np.int64), nnz)
        if bad >= 0:
            raise ShapeError(f"data: row pointers are corrupt at entry {bad}")
        values = np.empty(nnz, np.float32)
        K.dequantize_u8(indptr.astype(np.int64), codes, scales, values)
    tokens = None
    if flags & _FLAG_TOKENS:
        lengths = np.frombuffer(buf, "<u4", nnz, off).astype(np.int64)
        off += 4 * nnz
        ends = np.cumsum(lengths)
        if off + (int(ends[-1]) if nnz else 0) != len(buf):
            raise PayloadError(f"data: token bytes do not match their lengths ({len(buf)} bytes in all)")
        starts = ends - lengths
        try:
            tokens = [buf[off + s:off + e].decode("utf-8") for s, e in zip(starts.tolist(), ends.tolist(),
                                                                           strict=True)]
        except UnicodeDecodeError as exc:
            raise PayloadError(f"data: a token is not valid UTF-8 ({exc})") from None
        off = len(buf)
    if off != len(buf):
        raise PayloadError(f"data: expected {off} bytes for {n} rows and {nnz} entries, got {len(buf)}")
    return cls(_native(indptr), _native(indices), _native(values),
               vocab_size=vocab if flags & _FLAG_VOCAB else None, tokens=tokens)


def _le(arr: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(arr, dtype=np.dtype(dtype)).tobytes()


def _native(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
