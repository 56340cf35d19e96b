"""Float queries against packed bits by table lookup, in LLVM vector IR.

A float query ``q`` against bits read as +1/-1 scores
``sum_j q_j * (2 b_j - 1)``.  Byte ``p`` of a row covers components
``8p .. 8p + 7``, so with a table ``T[p, v]`` holding that partial score for
each of the 256 byte values ``v``, a row's score is ``sum_p T[p, x_p]``: one
lookup and one add per byte instead of eight multiply-adds.  Tables for ``G``
queries side by side (``T[p, v, g]``, ``G`` contiguous floats) turn each
lookup into one vector load and one vector add for all ``G`` queries, as
product-quantization engines do with their distance tables.

:func:`lut_rows_8` adds ``sum_{p0 <= p < p1} T[p, X[i0 + r, p], :]`` into
``acc[a0 + r, :]`` for ``r < 8``, eight rows at a time (eight independent
chains of adds hide the latency of the loads); :func:`lut_rows_1` does one
row.  Each lane adds its table entries in the order of ``p``, starting from
what ``acc`` holds, with plain IEEE adds (no reassociation): so a score is the
same float32 number whatever ``G``, the row tiling, the split of byte
positions into chunks, or the thread - the one-query path, the batched path
and :func:`quantlib.pairwise` agree bit for bit.

The loads go through pointers numba cannot see, so in bounds-checking mode
(``NUMBA_BOUNDSCHECK=1``) each call checks its rows, byte range and table
width itself, as :func:`~quantlib._kernels.popcount.load_u64` does.
"""

from __future__ import annotations

import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._config import EXACT

__all__ = ["GROUPS", "build_tables", "lut_rows_1", "lut_rows_8"]

#: Queries per table group the kernels take (the last axis of ``T``).
GROUPS = (1, 8, 16)

#: Where byte ``t`` of an unaligned 64-bit load of eight row bytes sits in the word.
_SHIFT = tuple(8 * t if sys.byteorder == "little" else 8 * (7 - t) for t in range(8))


def _make(nrows: int):
    def typer(typingctx, T, X, i0, a0, p0, p1, acc):
        if not (isinstance(T, types.Array) and T.dtype == types.float32 and T.ndim == 3 and T.layout == "C"
                and isinstance(X, types.Array) and X.dtype == types.uint8 and X.ndim == 2 and X.layout == "C"
                and isinstance(acc, types.Array) and acc.dtype == types.float32 and acc.ndim == 2
                and acc.layout == "C" and all(isinstance(v, types.Integer) for v in (i0, a0, p0, p1))):
            return None
        sig = types.void(T, X, i0, a0, p0, p1, acc)

        def codegen(context, builder, signature, args):
            tty, xty = signature.args[0], signature.args[1]
            aty = signature.args[6]
            ta = context.make_array(tty)(context, builder, args[0])
            xa = context.make_array(xty)(context, builder, args[1])
            aa = context.make_array(aty)(context, builder, args[6])
            intp = context.get_value_type(types.intp)
            i0v, a0v, p0v, p1v = (context.cast(builder, args[k], signature.args[k], types.intp) for k in (2, 3, 4, 5))
            t_pos, t_vals, t_g = cgutils.unpack_tuple(builder, ta.shape, 3)
            x_rows, x_width = cgutils.unpack_tuple(builder, xa.shape, 2)
            a_rows, a_g = cgutils.unpack_tuple(builder, aa.shape, 2)
            if context.enable_boundscheck:
                for r in range(nrows):
                    cgutils.do_boundscheck(context, builder, builder.add(i0v, intp(r)), x_rows)
                    cgutils.do_boundscheck(context, builder, builder.add(a0v, intp(r)), a_rows)
                one = intp(1)
                cgutils.do_boundscheck(context, builder, p0v, builder.add(p1v, one))  # 0 <= p0 <= p1
                cgutils.do_boundscheck(context, builder, p1v, builder.add(x_width, one))  # p1 <= w
                cgutils.do_boundscheck(context, builder, p1v, builder.add(t_pos, one))  # p1 <= table bytes
                cgutils.do_boundscheck(context, builder, builder.sub(t_vals, intp(256)), one)  # 256 values
                cgutils.do_boundscheck(context, builder, builder.sub(t_g, a_g), one)  # acc as wide as T
                known = builder.icmp_signed("==", t_g, intp(GROUPS[0]))
                for g in GROUPS[1:]:
                    known = builder.or_(known, builder.icmp_signed("==", t_g, intp(g)))
                # a width outside GROUPS would add nothing at all: refuse it in this mode
                cgutils.do_boundscheck(context, builder, builder.select(known, intp(0), one), one)
            return _body(context, builder, ta, xa, aa, t_g, i0v, a0v, p0v, p1v, x_width, nrows)

        return sig, codegen

    typer.__name__ = f"lut_rows_{nrows}"
    return intrinsic(typer)


def _body(context, builder, ta, xa, aa, t_g, i0v, a0v, p0v, p1v, x_width, nrows):
    """The loop, emitted once per table width ``G`` in GROUPS (a switch on ``T.shape[2]``)."""
    intp = context.get_value_type(types.intp)
    done = builder.append_basic_block("lut.done")
    switch = builder.switch(t_g, done)
    for g in GROUPS:
        block = builder.append_basic_block(f"lut.g{g}")
        switch.add_case(intp(g), block)
        builder.position_at_end(block)
        vec = ir.VectorType(ir.FloatType(), g)
        acc_ptrs = [builder.bitcast(builder.gep(aa.data, [builder.mul(builder.add(a0v, intp(r)), intp(g))]),
                                    vec.as_pointer()) for r in range(nrows)]
        row_ptrs = [builder.gep(xa.data, [builder.mul(builder.add(i0v, intp(r)), x_width)]) for r in range(nrows)]
        slots = [cgutils.alloca_once(builder, vec) for _ in range(nrows)]
        for r in range(nrows):
            builder.store(builder.load(acc_ptrs[r], align=4), slots[r])
        # the row's bytes eight at a time, one 64-bit load per row (then shifts), instead of
        # eight byte loads competing with the table loads for the load ports (the scan alone 5-7% faster)
        i64 = ir.IntType(64)
        n8 = builder.sub(p1v, p0v)
        n8 = builder.sub(n8, builder.srem(n8, intp(8)))
        p8 = builder.add(p0v, n8)
        with cgutils.for_range_slice(builder, p0v, p8, intp(8), intp) as (p, _):
            words = [builder.load(builder.bitcast(builder.gep(row_ptrs[r], [p]), i64.as_pointer()), align=1)
                     for r in range(nrows)]
            for t in range(8):
                base = builder.mul(builder.add(p, intp(t)), intp(256 * g))
                for r in range(nrows):
                    v = builder.and_(builder.lshr(words[r], i64(_SHIFT[t])), i64(255))
                    entry = builder.gep(ta.data, [builder.add(base, builder.mul(v, intp(g)))])
                    tv = builder.load(builder.bitcast(entry, vec.as_pointer()), align=4)
                    builder.store(builder.fadd(builder.load(slots[r]), tv), slots[r])
        with cgutils.for_range_slice(builder, p8, p1v, intp(1), intp) as (p, _):
            base = builder.mul(p, intp(256 * g))
            for r in range(nrows):
                v = builder.zext(builder.load(builder.gep(row_ptrs[r], [p])), intp)
                entry = builder.gep(ta.data, [builder.add(base, builder.mul(v, intp(g)))])
                t = builder.load(builder.bitcast(entry, vec.as_pointer()), align=4)
                builder.store(builder.fadd(builder.load(slots[r]), t), slots[r])
        for r in range(nrows):
            builder.store(builder.load(slots[r]), acc_ptrs[r], align=4)
        builder.branch(done)
    builder.position_at_end(done)
    return context.get_dummy_value()


#: Eight rows per call: the body of the scans.
lut_rows_8 = _make(8)
#: One row per call: the last rows of a block.
lut_rows_1 = _make(1)


@njit(**EXACT)
def build_tables(Q, flip, out):
    """``out[c, p, v, g]`` = score of query ``c * G + g`` against byte value ``v`` at byte ``p``.

    ``Q`` is float32 ``(m, d)``; ``out`` is ``(ceil(m / G), w, 256, G)`` with
    ``8 * w >= d``.  Bit ``t`` of a byte (most significant first) stands for
    component ``8p + t``: +q if set, -q if not; components past ``d`` (padding
    bits) and query slots past ``m`` count 0.  Each entry is summed in float64
    (from the all-clear byte, one set bit at a time) and rounded once.
    ``flip`` reads bytes as offset binary (``binary``: the stored byte is the
    ``ubinary`` byte XOR 0x80).
    """
    m, d = Q.shape
    ng, w, _, G = out.shape
    part = np.empty(256, np.float64)
    for c in range(ng):
        for g in range(G):
            q = c * G + g
            for p in range(w):
                if q >= m:
                    for v in range(256):
                        out[c, p, v, g] = 0.0
                    continue
                total = 0.0
                for t in range(8):
                    j = 8 * p + t
                    if j < d:
                        total -= np.float64(Q[q, j])
                part[0] = total
                for v in range(1, 256):
                    low = v & -v  # the lowest set bit; it stands for component 8p + t
                    t = 7 - _log2(low)
                    j = 8 * p + t
                    part[v] = part[v ^ low] + (2.0 * np.float64(Q[q, j]) if j < d else 0.0)
                for v in range(256):
                    u = v ^ 0x80 if flip else v
                    out[c, p, v, g] = np.float32(part[u])


@njit(**EXACT)
def _log2(low):
    """Position of the single set bit of ``low`` (1 <= low <= 128)."""
    k = 0
    while low > 1:
        low >>= 1
        k += 1
    return k
