"""Codec kernels: fused compare-and-pack, scalar quantization, unpacking.

Each kernel works on a range of rows so that one body serves the serial and
the parallel (row-block) drivers.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._config import EXACT, ROW_BLOCK

# Multiplying a little-endian word of eight 0/1 bytes by this constant moves
# byte k to bit 63 - k, so the top byte of the product holds the eight bits
# most significant first: the packing order of np.packbits(bitorder="big").
_GATHER = np.uint64(0x8040201008040201)
_SHIFT = np.uint64(56)

#: How far ahead of the row being encoded the streaming kernels ask for memory.
#: One core here streams 400 MB at about 11 GB/s, yet compare-and-pack reached
#: only 7 GB/s: the loads of a row waited on memory instead of overlapping the
#: previous row's arithmetic.  Prefetching 2 KB ahead cut ubinary encode from
#: 53 to 40 ms and int8 from 65 to 55 ms (100,000 x 1024, one thread; 1-4 KB
#: all did about as well).
PREFETCH_BYTES = 2048


@intrinsic
def _prefetch(typingctx, arr, index):
    """Hint the CPU to load the cache line of item ``index`` of a C-contiguous array.

    ``llvm.prefetch`` (read, keep in all cache levels): no effect on results,
    and no fault even past the end, though callers stay inside the array.
    Arrays of another layout get no hint.
    """
    if not (isinstance(arr, types.Array) and isinstance(index, types.Integer)):
        return None
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        arrty, indexty = signature.args
        if arrty.layout != "C":
            return context.get_dummy_value()
        ary = context.make_array(arrty)(context, builder, args[0])
        k = context.cast(builder, args[1], indexty, types.intp)
        i8p = ir.IntType(8).as_pointer()
        ptr = builder.bitcast(builder.gep(ary.data, [k]), i8p)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch")
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(**EXACT)
def _prefetch_row(x, i):
    """Prefetch the row's worth of cache lines ``PREFETCH_BYTES`` past the start of row ``i``."""
    d = x.shape[1]
    ahead = PREFETCH_BYTES // x.itemsize
    line = max(1, 64 // x.itemsize)
    for k in range(i * d + ahead, min((i + 1) * d + ahead, x.size), line):
        _prefetch(x, k)


@njit(**EXACT)
def _pack_rows(x, thr, mask, out, r0, r1, tmp):
    """Pack ``x[i, j] > thr[j]`` MSB first into ``out`` for rows r0..r1.

    Returns the maximum of ``x & mask`` over those rows: with ``x`` the integer
    view of floats and ``mask`` the sign-clearing mask, a result at or above the
    exponent-all-ones pattern means the rows hold NaN or infinity.
    """
    d = x.shape[1]
    full = d // 8
    words = tmp.view(np.uint64)
    # Keep the maximum in x's own integer type: numba widens ``v & mask`` to
    # int64, which halved the vector width and the in-cache speed (12 -> 28 GB/s).
    t = x.dtype.type
    m = t(0)
    for i in range(r0, r1):
        _prefetch_row(x, i)
        row = x[i]
        o = out[i]
        for j in range(full * 8):
            v = row[j]
            m = max(m, t(v & mask))
            tmp[j] = v > thr[j]
        for b in range(full):
            o[b] = (words[b] * _GATHER) >> _SHIFT
        if full * 8 < d:
            last = 0
            for j in range(full * 8, d):
                v = row[j]
                m = max(m, t(v & mask))
                last |= (1 if v > thr[j] else 0) << (7 - (j - full * 8))
            o[full] = last
    return m


@njit(**EXACT)
def pack_greater(x, thr, mask, out):
    """Serial driver of :func:`_pack_rows` over all rows."""
    tmp = np.empty((x.shape[1] // 8) * 8, np.uint8)
    return _pack_rows(x, thr, mask, out, 0, x.shape[0], tmp)


@njit(parallel=True, **EXACT)
def pack_greater_parallel(x, thr, mask, out):
    """Row-block parallel driver of :func:`_pack_rows`."""
    n = x.shape[0]
    nblocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    maxima = np.zeros(nblocks, x.dtype)
    for b in prange(nblocks):
        tmp = np.empty((x.shape[1] // 8) * 8, np.uint8)
        maxima[b] = _pack_rows(x, thr, mask, out, b * ROW_BLOCK, min(n, (b + 1) * ROW_BLOCK), tmp)
    return maxima.max() if nblocks else x.dtype.type(0)


@njit(**EXACT)
def _scalar_rows(x, start, step, off, lo, hi, mode, out, r0, r1):
    """Scalar-quantize rows r0..r1 with ``y = (x - start) / step``.

    ``mode`` 0 rounds to nearest (ties to even), ``rint(y) + off``, and clips
    to [lo, hi]; 1 floors, ``floor(y) + off``, and clips (sentence-transformers
    >= 5.7); 2 truncates toward zero, ``trunc(y + off)``, and does not clip
    (sentence-transformers < 5.7).  The offset is added after rounding in modes
    0 and 1 (``y + off`` rounds in float32 and can cross an integer) but before
    it in mode 2, as that version's expression does.  Arithmetic is in the
    dtype of ``x`` and in numpy's order, so codes equal the numpy expression
    (quantlib._reference) bit for bit.
    Returns 1 if a non-finite value was seen, 2 if (mode 2) a code fell outside
    [lo, hi], 0 otherwise.
    """
    # The clipped code goes to the int8/uint8 output through int32: storing the
    # float directly vectorised worse (0.136 vs 0.175 ms per 256 x 1024 in cache).
    d = x.shape[1]
    status = 0
    for i in range(r0, r1):
        _prefetch_row(x, i)
        row = x[i]
        o = out[i]
        bad = False
        outside = False
        if mode != 2:
            for j in range(d):
                v = row[j]
                bad |= not np.isfinite(v)
                y = (v - start[j]) / step[j]
                c = (np.rint(y) if mode == 0 else np.floor(y)) + off
                o[j] = np.int32(min(max(c, lo), hi))
        else:
            for j in range(d):
                v = row[j]
                bad |= not np.isfinite(v)
                c = np.trunc((v - start[j]) / step[j] + off)
                outside |= (c < lo) | (c > hi)
                o[j] = np.int32(min(max(c, lo), hi))
        if bad:
            return 1
        if outside:
            status = 2
    return status


@njit(**EXACT)
def scalar_encode(x, start, step, off, lo, hi, mode, out):
    """Serial driver of :func:`_scalar_rows`."""
    return _scalar_rows(x, start, step, off, lo, hi, mode, out, 0, x.shape[0])


@njit(parallel=True, **EXACT)
def scalar_encode_parallel(x, start, step, off, lo, hi, mode, out):
    """Row-block parallel driver of :func:`_scalar_rows`."""
    n = x.shape[0]
    nblocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    status = np.zeros(nblocks, np.int64)
    for b in prange(nblocks):
        status[b] = _scalar_rows(x, start, step, off, lo, hi, mode, out,
                                 b * ROW_BLOCK, min(n, (b + 1) * ROW_BLOCK))
    return status.max() if nblocks else 0


@njit(**EXACT)
def scalar_decode(codes, start, step, off, out):
    """``out[i, j] = start[j] + (codes[i, j] - off) * step[j]`` in float32, no fused multiply-add."""
    n, d = codes.shape
    for i in range(n):
        c = codes[i]
        o = out[i]
        for j in range(d):
            o[j] = start[j] + (np.float32(c[j]) - off) * step[j]


@njit(**EXACT)
def unpack_signs(codes, dim, out):
    """``out[i, j] = +1.0`` where bit j of row i is set, else ``-1.0`` (bits MSB first)."""
    n = codes.shape[0]
    full = dim // 8
    for i in range(n):
        c = codes[i]
        o = out[i]
        # Eight outputs per byte with constant shifts vectorise; indexing the
        # byte per output did not (4x slower in cache, 1.8x on 100,000 x 1024).
        for b in range(full):
            byte = np.int32(np.uint8(c[b]))
            for k in range(8):
                o[8 * b + k] = np.float32(((byte >> (7 - k)) & 1) * 2 - 1)
        for j in range(full * 8, dim):
            bit = (np.uint8(c[j >> 3]) >> (7 - (j & 7))) & 1
            o[j] = np.float32(2 * bit - 1)


@njit(**EXACT)
def padding_bits_set(codes, dim):
    """Whether any row has a set bit past ``dim`` in its last byte."""
    rem = dim & 7
    if rem == 0 or codes.shape[1] == 0:
        return False
    keep = (0xFF << (8 - rem)) & 0xFF
    last = codes.shape[1] - 1
    for i in range(codes.shape[0]):
        if np.uint8(codes[i, last]) & ~keep & 0xFF:
            return True
    return False


@njit(**EXACT)
def max_abs_bits(xi, mask):
    """Maximum of ``xi & mask`` over the integer view ``xi`` of a float array.

    With ``mask`` clearing the sign bit, a float is NaN or infinite exactly when
    this reaches its exponent-all-ones pattern.  Integer max vectorises without
    any fastmath flag.
    """
    t = xi.dtype.type
    m = t(0)
    for j in range(xi.shape[0]):
        m = max(m, t(xi[j] & mask))  # in xi's own type: numba would widen int32 to int64
    return m


@njit(**EXACT)
def float32_to_float16(x, xi, out):
    """``out = x.astype(float16)`` (round to nearest even) on the bits, if nothing overflows.

    ``xi`` is the int32 view of the float32 matrix ``x`` and ``out`` the int16
    view of the float16 result.  Normal halves rebias the exponent and round
    the mantissa with the carry trick (``+ 0xFFF`` plus the kept lowest bit);
    halves below 2**-14 are ``rint(|x| * 2**24)`` units of 2**-24, exact in
    float32 arithmetic.  Equal to numpy's cast for every finite float32 (checked
    over all 2**32 bit patterns).  Returns False if ``x`` holds NaN or infinity
    or a value rounds beyond 65504; ``out`` is then unspecified.
    """
    n, d = x.shape
    top = np.int32(0)  # largest |x| bits: >= 0x7F800000 means NaN or infinity
    hmax = np.int32(0)  # largest |half| bits: 0x7C00 means a finite value overflowed
    for i in range(n):
        _prefetch_row(x, i)
        r = x[i]
        ri = xi[i]
        o = out[i]
        for j in range(d):
            b = ri[j]
            u = b & np.int32(0x7FFFFFFF)
            top = max(top, u)
            normal = (u - np.int32(0x38000000) + np.int32(0xFFF) + ((u >> 13) & 1)) >> 13
            tiny = np.int32(np.rint(min(abs(r[j]), np.float32(2.0**-14)) * np.float32(2.0**24)))
            h = tiny if u < np.int32(0x38800000) else min(normal, np.int32(0x7C00))
            hmax = max(hmax, h)
            o[j] = np.int16(h | ((b >> 16) & np.int32(0x8000)))
    return top < np.int32(0x7F800000) and hmax < np.int32(0x7C00)


#: For each float dtype: the integer view, the sign-clearing mask, and the
#: smallest masked value that is not finite (exponent bits all ones).
FLOAT_BITS = {
    np.dtype(np.float16): (np.int16, np.int16(0x7FFF), 0x7C00),
    np.dtype(np.float32): (np.int32, np.int32(0x7FFFFFFF), 0x7F800000),
    np.dtype(np.float64): (np.int64, np.int64(0x7FFFFFFFFFFFFFFF), 0x7FF0000000000000),
}


def all_finite(x: np.ndarray) -> bool:
    """True if the contiguous float32/float64 array ``x`` holds no NaN and no infinity."""
    view, mask, limit = FLOAT_BITS[x.dtype]
    return bool(max_abs_bits(x.reshape(-1).view(view), mask) < limit)


#: Value of each ASCII code in the standard base64 alphabet; 0xFF elsewhere
#: (``=`` included: padding is matched separately, only at the end of a row).
B64_TABLE = np.full(256, 0xFF, np.uint8)
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B64_TABLE[np.frombuffer(_ALPHABET, np.uint8)] = np.arange(64, dtype=np.uint8)
_PAD = np.uint8(ord("="))


@njit(**EXACT)
def b64decode_rows(src, row_chars, row_bytes, table, out):
    """Decode rows of ``row_chars`` base64 characters, back to back in ``src``, into ``out``.

    ``src`` is uint8 ASCII of length ``n * row_chars`` (a multiple of 4 per
    row); ``out`` is uint8 of shape ``(n, row_bytes)``, and ``row_bytes`` fixes
    each row's padding: ``pad = row_chars // 4 * 3 - row_bytes`` (0, 1 or 2)
    ``=`` characters end every row.  Returns True when every character is in
    the alphabet and every row ends in exactly that padding; then ``out`` holds
    what ``binascii.a2b_base64(row, strict_mode=True)`` gives for each row
    (like it, leftover bits of a padded group are dropped).  False means
    nothing: the caller decodes with binascii for the verdict and its message.
    """
    n = out.shape[0]
    groups = row_chars // 4
    pad = groups * 3 - row_bytes
    full = groups - 1 if pad else groups
    bad = np.uint8(0)
    for i in range(n):
        s = src[i * row_chars:(i + 1) * row_chars]
        o = out[i]
        for g in range(full):
            a = table[s[4 * g]]
            b = table[s[4 * g + 1]]
            c = table[s[4 * g + 2]]
            d = table[s[4 * g + 3]]
            bad |= a | b | c | d
            w = (np.uint32(a) << 18) | (np.uint32(b) << 12) | (np.uint32(c) << 6) | np.uint32(d)
            o[3 * g] = w >> 16
            o[3 * g + 1] = (w >> 8) & 0xFF
            o[3 * g + 2] = w & 0xFF
        if pad:
            k = 4 * full
            a = table[s[k]]
            b = table[s[k + 1]]
            bad |= a | b
            w = (np.uint32(a) << 18) | (np.uint32(b) << 12)
            o[3 * full] = w >> 16
            if pad == 1:
                c = table[s[k + 2]]
                bad |= c
                w |= np.uint32(c) << 6
                o[3 * full + 1] = (w >> 8) & 0xFF
            elif s[k + 2] != _PAD:
                return False
            if s[k + 3] != _PAD:
                return False
    return bad < 64
