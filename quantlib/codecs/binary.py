"""binary and ubinary: one sign bit per dimension, packed most significant bit first."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._kernels import codecs as K
from .._kernels._config import use_parallel
from .._validation import as_code_matrix, as_float_matrix, check_dim, raise_nonfinite
from ..errors import ShapeError
from ..precision import PrecisionInfo
from .base import Codec

BINARY = PrecisionInfo("binary", np.dtype("i1"), 1, (), False,
                       "sign bits packed MSB first, stored as offset binary (byte - 128) in int8", family="signs")
UBINARY = PrecisionInfo("ubinary", np.dtype("u1"), 1, ("bit",), False,
                        "sign bits packed MSB first in uint8, zero-padded to whole bytes", family="signs")


class BitCodec(Codec):
    """Sign bits, eight dimensions to a byte (``ubinary``) or offset binary (``binary``).

    Bit ``j`` of a row is 1 where the value is strictly greater than 0 (so 0.0
    and -0.0 give 0).  Bits are packed most significant bit first along each
    row, and the last byte of a row is zero-padded, so a row of dimension ``d``
    takes ``ceil(d / 8)`` bytes: ``numpy.packbits(x > 0, axis=-1)``, the layout
    of Voyage, Jina, Cohere, pgvector ``binary_quantize``, Milvus and
    sentence-transformers >= 5.7.  ``binary`` holds the same bytes minus 128, as
    int8 (Voyage: bits 01001101 pack to 77, returned as 77 - 128 = -51).

    Decoding gives +1.0 for a set bit and -1.0 for a clear one.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([-0.03, 0.2, -0.1, -0.5, 0.4, 0.1, -0.2, 0.7], dtype=np.float32)
    >>> BitCodec("ubinary").encode(x)
    array([77], dtype=uint8)
    >>> BitCodec("binary").encode(x)
    array([-51], dtype=int8)
    >>> BitCodec("binary").decode(np.array([-51], dtype=np.int8), dim=8)
    array([-1.,  1., -1., -1.,  1.,  1., -1.,  1.], dtype=float32)
    """

    precisions = (BINARY, UBINARY)

    def __init__(self, precision: str = "ubinary") -> None:
        super().__init__(precision)

    @property
    def offset_binary(self) -> bool:
        """True for ``binary``, whose bytes are the ``ubinary`` ones minus 128 (their top bit flipped)."""
        return self._info == BINARY

    def truncate(self, dim: int) -> BitCodec:
        return self

    def truncate_codes(self, codes: np.ndarray, dim: int) -> np.ndarray:
        """The first ``dim`` bits of each row, the bits past ``dim`` in the last byte cleared.

        For ``binary`` (offset binary, ``u - 128``) the same mask works on the
        raw bytes: it keeps the top bit, the only one the offset flips.
        """
        width = self.width(dim)
        out = np.array(codes[:, :width], copy=True, order="C")
        if dim % 8:
            out.view(np.uint8)[:, -1] &= np.uint8((0xFF << (8 - dim % 8)) & 0xFF)
        return out

    def encode(self, embeddings: Any) -> np.ndarray:
        arr, single = as_float_matrix(embeddings, "embeddings")
        out = pack_signs(arr, "embeddings", single)
        if self.precision == "binary":
            out = to_offset_binary(out)
        return out[0] if single else out

    def decode(self, codes: Any, *, dim: int | None = None) -> np.ndarray:
        arr, single = as_code_matrix(codes, "codes", self._info)
        dim = resolve_bit_dim(arr, dim, "codes")
        if self.precision == "binary":
            arr = from_offset_binary(arr)
        out = np.empty((arr.shape[0], dim), np.float32)
        K.unpack_signs(arr, dim, out)
        return out[0] if single else out


def pack_signs(arr: np.ndarray, name: str, single: bool = False) -> np.ndarray:
    """``np.packbits(arr > 0, axis=-1)`` in one fused pass that also refuses NaN/inf."""
    view, mask, limit = K.FLOAT_BITS[arr.dtype]
    ints = arr.view(view)
    out = np.empty((arr.shape[0], UBINARY.width(arr.shape[1])), np.uint8)
    # On the integer view of an IEEE float, x > 0.0 is exactly bits > 0 (NaN excluded).
    zeros = np.zeros(arr.shape[1], view)
    kernel = K.pack_greater_parallel if use_parallel(arr.size) else K.pack_greater
    if kernel(ints, zeros, mask, out) >= limit:
        raise_nonfinite(arr, name, single)
    return out


def to_offset_binary(ubinary: np.ndarray) -> np.ndarray:
    """ubinary bytes ``u`` to binary ``u - 128`` as int8 (a flip of the top bit)."""
    flipped = np.bitwise_xor(ubinary.view(np.uint8), np.uint8(0x80))
    return flipped.view(np.int8)


def from_offset_binary(binary: np.ndarray) -> np.ndarray:
    """binary int8 ``b`` to ubinary ``b + 128`` as uint8 (a flip of the top bit)."""
    return np.bitwise_xor(binary.view(np.uint8), np.uint8(0x80))


def resolve_bit_dim(codes: np.ndarray, dim: int | None, name: str) -> int:
    """The logical dimension of packed rows: ``dim`` checked against the width, or 8 x width.

    Also refuses set padding bits: a zero-padded row never has them, so they
    mean the wrong bit order or the wrong dimension.
    """
    width = codes.shape[1]
    if dim is None:
        return 8 * width
    dim = check_dim(dim)
    if UBINARY.width(dim) != width:
        raise ShapeError(
            f"{name}: packed bits of dimension {dim} take {UBINARY.width(dim)} bytes per row, got {width}"
        )
    if K.padding_bits_set(codes, dim):
        raise ShapeError(
            f"{name}: bits past dimension {dim} are set in the last byte of a row; rows are zero-padded, "
            "so the dimension or the bit order (most significant bit first) is wrong"
        )
    return dim
