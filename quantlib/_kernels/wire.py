"""Wire-format kernels: rows written straight into PostgreSQL's COPY BINARY layout.

The COPY stream is a chunk of fixed-size records, one per table row (the
field count, then per column its int32 length, any constant header and its
big-endian values; see :mod:`quantlib.stores.pgvector`).  ``stamp`` writes the
constant bytes of every record, ``halfvec_be`` and ``vector_be`` the values of
one column, each in one pass over the rows and with no temporary array.

The value kernels write 16-bit words into the chunk viewed as ``uint16``
``(rows, record_bytes // 2)`` at word offset ``off`` (the caller checks that
the record size and the column's offset are even; other layouts take numpy's
path).  A big-endian value is its bytes swapped within each word (and, for
float32, its two words in high-then-low order).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ._config import EXACT, target_features

#: Whether numba compiles for a CPU with F16C (x86's vcvtps2ph: eight float32 to half per instruction).
#: Chosen once from the target's features, which also key numba's cache, so no cached machine code
#: is ever loaded on a CPU it was not chosen for.
F16C = "+f16c" in target_features()


@njit(**EXACT)
def stamp(out, template, starts, stops):
    """Copy ``template[starts[k]:stops[k]]`` into every row of ``out`` (uint8, (m, w)), for each k."""
    for i in range(out.shape[0]):
        o = out[i]
        for k in range(starts.shape[0]):
            for b in range(starts[k], stops[k]):
                o[b] = template[b]


@intrinsic
def _half_bits(typingctx, f):
    """The bits of float32 ``f`` rounded to an IEEE half (LLVM ``fptrunc``: round to nearest even).

    Only called where the target has F16C: elsewhere on x86 LLVM would call a compiler-rt helper
    that numba does not link.
    """
    if f != types.float32:
        return None
    sig = types.int16(f)

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return sig, codegen


@njit(**EXACT)
def halfvec_be_f16c(x, xi, out, off):
    """:func:`halfvec_be_bits` by the CPU's own conversion (F16C), three times faster here.

    The hardware rounds to nearest even as numpy does; NaN and infinity stay so and values beyond
    65504 become infinity, which the one reduction over ``|half|`` catches.
    """
    n, d = x.shape
    hmax = np.int32(0)  # largest |half| bits: >= 0x7C00 means infinity or NaN
    for i in range(n):
        r = x[i]
        o = out[i, off:off + d]
        for j in range(d):
            h = np.int32(_half_bits(r[j])) & np.int32(0xFFFF)
            hmax = max(hmax, h & np.int32(0x7FFF))
            o[j] = np.uint16(((h >> 8) & 0xFF) | ((h & 0xFF) << 8))
    return hmax < np.int32(0x7C00)


@njit(**EXACT)
def halfvec_be_bits(x, xi, out, off):
    """float32 rows ``x`` (m, d) to big-endian IEEE halves at ``out[:, off:off + d]``; ``xi`` is x's int32 view.

    Round to nearest, ties to even, on the bits alone: a normal half rebiases
    the exponent and rounds the mantissa with the carry trick (``+ 0xFFF`` plus
    the kept lowest bit; a carry out of the mantissa correctly bumps the
    exponent); below 2**-14 the half is ``m * 2**(e - 126)`` units of 2**-24
    (``m`` the mantissa with its implicit bit, ``e`` the biased exponent),
    a right shift rounded by the bits it drops.  Integer arithmetic only, so
    LLVM vectorises it (AVX2: eight values per step).  Equal to numpy's
    ``astype('>f2')`` for every finite float32 that fits.

    Returns False if a value is NaN or infinity or rounds beyond 65504
    (``out`` is then unspecified): the caller words the error.
    """
    n, d = xi.shape
    top = np.int32(0)  # largest |x| bits: >= 0x7F800000 means NaN or infinity
    hmax = np.int32(0)  # largest |half| bits: >= 0x7C00 means a finite value overflowed
    for i in range(n):
        r = xi[i]
        o = out[i, off:off + d]  # a C-contiguous row slice: LLVM sees unit stride and vectorises
        for j in range(d):
            b = r[j]
            u = b & np.int32(0x7FFFFFFF)
            top = max(top, u)
            normal = (u - np.int32(0x38000000) + np.int32(0xFFF) + ((u >> 13) & 1)) >> 13
            m = (u & np.int32(0x7FFFFF)) | np.int32(0x800000)
            # the shift is 14..126 where the half is below 2**-14; clamped so that no shift is out of range
            s = max(min(np.int32(126) - (u >> 23), np.int32(31)), np.int32(1))
            q = m >> s
            rem = m & ((np.int32(1) << s) - np.int32(1))
            tie = np.int32(1) << (s - np.int32(1))
            q += np.int32((rem > tie) | ((rem == tie) & ((q & 1) == 1)))
            h = q if u < np.int32(0x38800000) else min(normal, np.int32(0x7C00))
            hmax = max(hmax, h)
            h |= (b >> 16) & np.int32(0x8000)
            o[j] = np.uint16(((h >> 8) & 0xFF) | ((h & 0xFF) << 8))
    return top < np.int32(0x7F800000) and hmax < np.int32(0x7C00)


#: The halfvec writer for this CPU: both give the same bytes (tests/test_pgvector.py checks each).
halfvec_be = halfvec_be_f16c if F16C else halfvec_be_bits


@njit(**EXACT)
def vector_be(xi, out, off):
    """float32 rows (their int32 view ``xi``, (m, d)) as big-endian float32 at ``out[:, off:off + 2 * d]``."""
    n, d = xi.shape
    for i in range(n):
        r = xi[i]
        o = out[i, off:off + 2 * d]
        for j in range(d):
            b = r[j]
            o[2 * j] = np.uint16(((b >> 24) & 0xFF) | ((b >> 8) & 0xFF00))
            o[2 * j + 1] = np.uint16(((b >> 8) & 0xFF) | ((b & 0xFF) << 8))
