"""Hardware popcount and unaligned word loads for the bit kernels.

Numba has no ``np.bitwise_count`` and no ``int.bit_count`` in ``njit`` code.
LLVM's ``llvm.ctpop`` intrinsic, reached through
:func:`numba.extending.intrinsic`, compiles to the best popcount of the host:
``vpopcntq`` with AVX-512 VPOPCNTDQ, ``vpshufb`` nibble tables with AVX2, the
scalar ``popcnt`` instruction with SSE4.2.

:func:`load_u64` reads eight bytes of a ``uint8``/``int8`` array as one
little-endian ``uint64`` at any byte offset (an unaligned load), so packed rows
whose width is not a multiple of eight bytes are still scanned a word at a time
without copying the corpus.  :func:`half_to_float` widens the bits of an IEEE
half (read as ``uint16``, since numba has no float16 arrays) to float32 exactly,
infinity and NaN included.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._config import EXACT

__all__ = ["half_to_float", "load_u64", "popcount64", "tail_u64"]


def _unary(name, arg, result, emit, doc):
    """The intrinsic ``name``: ``result(arg)``, whose body is the one instruction ``emit(builder, x)``."""
    def typer(typingctx, x):
        if x != arg:
            return None

        def codegen(context, builder, signature, args):
            return emit(builder, args[0])

        return result(arg), codegen

    typer.__name__ = typer.__qualname__ = name
    typer.__doc__ = doc
    return intrinsic(typer)


popcount64 = _unary("popcount64", types.uint64, types.uint64, lambda builder, x: builder.ctpop(x),
                    """Number of set bits of a 64-bit unsigned integer (``llvm.ctpop.i64``).""")


@intrinsic
def load_u64(typingctx, arr, offset):
    """The eight bytes ``arr.flat[offset:offset + 8]`` as a little-endian uint64.

    ``arr`` must be a C-contiguous array of one-byte items and ``offset + 8``
    at most its size: kernels trust their input, so the load is checked only
    when numba's bounds checking is on (``NUMBA_BOUNDSCHECK=1``, the test mode
    of ``.ci/run``), where an out-of-range word raises ``IndexError`` as an
    out-of-range ``arr[i]`` does.
    """
    if not (isinstance(arr, types.Array) and arr.dtype in (types.uint8, types.int8)
            and arr.layout == "C" and isinstance(offset, types.Integer)):
        return None
    sig = types.uint64(arr, offset)

    def codegen(context, builder, signature, args):
        arrty = signature.args[0]
        ary = context.make_array(arrty)(context, builder, args[0])
        off = context.cast(builder, args[1], signature.args[1], types.intp)
        if context.enable_boundscheck:  # both ends of the word lie inside the array
            cgutils.do_boundscheck(context, builder, off, ary.nitems)
            cgutils.do_boundscheck(context, builder, builder.add(off, off.type(7)), ary.nitems)
        ptr = builder.gep(ary.data, [off])
        wptr = builder.bitcast(ptr, ir.IntType(64).as_pointer())
        val = builder.load(wptr, align=1)
        return val

    return sig, codegen




@njit(**EXACT)
def tail_u64(X, i, w, full):
    """The last ``w - 8 * full`` bytes of row ``i`` of ``X`` (``w`` bytes a row) as a little-endian
    word, high bytes zero: the partial word after the ``full`` words :func:`load_u64` reads."""
    rem = w - 8 * full
    if full > 0:  # one unaligned load ending at the row's end, shifted down
        return load_u64(X, i * w + w - 8) >> np.uint64(8 * (8 - rem))
    t = np.uint64(0)
    for b in range(rem):
        t |= np.uint64(X[i, b]) << np.uint64(8 * b)
    return t


_bits_to_float32 = _unary("_bits_to_float32", types.uint32, types.float32,
                          lambda builder, x: builder.bitcast(x, ir.FloatType()),
                          """Reinterpret the 32 bits of a uint32 as a float32 (no conversion).""")


#: 2**112 moves a half's exponent (bias 15) to float32's (bias 127).
_HALF_SCALE = np.float32(2.0**112)


@njit(**EXACT)
def half_to_float(h):
    """The float32 value of the IEEE half whose bits are ``h`` (uint16), exactly.

    The magnitude bits shifted into float32 position read as a float32 that is
    2**-112 times the half's value, for normal and subnormal halves alike; the
    product with 2**112 is exact.  An all-ones exponent (infinity, NaN) keeps
    its meaning, so NaN and infinity in float16 rows reach the scores.
    """
    m = np.uint32(np.uint32(h) & np.uint32(0x7FFF))
    shifted = np.uint32(m << np.uint32(13))
    if m >= np.uint32(0x7C00):
        mag = _bits_to_float32(np.uint32(shifted | np.uint32(0x7F800000)))
    else:
        mag = _bits_to_float32(shifted) * _HALF_SCALE
    return -mag if np.uint32(h) & np.uint32(0x8000) else mag
