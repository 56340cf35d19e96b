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

:func:`lut16_rows_8`/:func:`lut16_rows_1` are the int16 twins for the first
stage of a batched search: integer weights of the queries
(:func:`int16_weights`) in int16 tables, 32 queries to a 64-byte vector, so a
lookup and an add serve twice the queries and the tables take half the bytes.
Each call sums at most ``WIDE_SPAN`` bytes in int16 lanes from zero (the weights
are scaled so that no such window can overflow), then widens the lanes and adds
them to int32 sums.  :func:`signs_row` recomputes a float table kernel's score of
one row exactly, for the few candidates the int16 stage keeps.

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

__all__ = ["GROUPS", "WIDE_GROUP", "WIDE_SPAN", "build_tables", "build_tables16", "int16_weights", "lut16_rows_1",
           "lut16_rows_8", "lut_rows_1", "lut_rows_8", "signs_row", "signs_terms"]

#: Queries per table group the kernels take (the last axis of ``T``).
GROUPS = (1, 8, 16)

#: Queries per int16 table group: one 64-byte vector of int16 entries.
WIDE_GROUP = 32

#: Most byte positions per call of the int16 kernels: their lanes sum up to this many
#: entries in int16 before widening, so a query's integer weights must keep every
#: window of ``8 * WIDE_SPAN`` components at most 32767 in absolute sum (:func:`int16_weights`).
WIDE_SPAN = 32

#: Where byte ``t`` of an unaligned 64-bit load of eight row bytes sits in the word.
_SHIFT = tuple(8 * t if sys.byteorder == "little" else 8 * (7 - t) for t in range(8))


def _make(nrows: int, wide: bool):
    """The float32 kernel (``wide=False``) or the int16 one (``wide=True``) for ``nrows`` rows."""
    tab, sums = (types.int16, types.int32) if wide else (types.float32, types.float32)

    def typer(typingctx, T, X, i0, a0, p0, p1, acc):
        if not (isinstance(T, types.Array) and T.dtype == tab and T.ndim == 3 and T.layout == "C"
                and isinstance(X, types.Array) and X.dtype == types.uint8 and X.ndim == 2 and X.layout == "C"
                and isinstance(acc, types.Array) and acc.dtype == sums and acc.ndim == 2
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
                widths = (WIDE_GROUP,) if wide else GROUPS
                known = builder.icmp_signed("==", t_g, intp(widths[0]))
                for g in widths[1:]:
                    known = builder.or_(known, builder.icmp_signed("==", t_g, intp(g)))
                # a width outside GROUPS would add nothing at all: refuse it in this mode
                cgutils.do_boundscheck(context, builder, builder.select(known, intp(0), one), one)
                if wide:  # more bytes per call than WIDE_SPAN could overflow the int16 sums
                    cgutils.do_boundscheck(context, builder, builder.sub(p1v, p0v), intp(WIDE_SPAN + 1))
            if wide:
                return _body_wide(context, builder, ta, xa, aa, i0v, a0v, p0v, p1v, x_width, nrows)
            return _body(context, builder, ta, xa, aa, t_g, i0v, a0v, p0v, p1v, x_width, nrows)

        return sig, codegen

    typer.__name__ = f"lut{'16' if wide else ''}_rows_{nrows}"
    return intrinsic(typer)


def _entries(context, builder, ta, xa, i0v, p0v, p1v, x_width, nrows, g, elt, align, add):
    """Emit the loop over byte positions p0..p1: ``add(r, entry)`` for row ``r``'s entry vector at each ``p``.

    ``entry`` is the loaded table vector ``T[p, X[i0 + r, p], :]`` (``g`` lanes of
    type ``elt``, aligned to ``align`` bytes); rows are visited in order within each ``p``.
    """
    intp = context.get_value_type(types.intp)
    vec = ir.VectorType(elt, g)
    row_ptrs = [builder.gep(xa.data, [builder.mul(builder.add(i0v, intp(r)), x_width)]) for r in range(nrows)]

    def entry(p, v):
        ptr = builder.gep(ta.data, [builder.add(builder.mul(p, intp(256 * g)), builder.mul(v, intp(g)))])
        return builder.load(builder.bitcast(ptr, vec.as_pointer()), align=align)

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
            pt = builder.add(p, intp(t))
            for r in range(nrows):
                add(r, entry(pt, builder.and_(builder.lshr(words[r], i64(_SHIFT[t])), i64(255))))
    with cgutils.for_range_slice(builder, p8, p1v, intp(1), intp) as (p, _):
        for r in range(nrows):
            add(r, entry(p, builder.zext(builder.load(builder.gep(row_ptrs[r], [p])), intp)))


def _body(context, builder, ta, xa, aa, t_g, i0v, a0v, p0v, p1v, x_width, nrows):
    """The float loop, emitted once per table width ``G`` in GROUPS (a switch on ``T.shape[2]``)."""
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
        slots = [cgutils.alloca_once(builder, vec) for _ in range(nrows)]
        for r in range(nrows):
            builder.store(builder.load(acc_ptrs[r], align=4), slots[r])

        def add(r, tv, slots=slots):
            builder.store(builder.fadd(builder.load(slots[r]), tv), slots[r])

        _entries(context, builder, ta, xa, i0v, p0v, p1v, x_width, nrows, g, ir.FloatType(), 4, add)
        for r in range(nrows):
            builder.store(builder.load(slots[r]), acc_ptrs[r], align=4)
        builder.branch(done)
    builder.position_at_end(done)
    return context.get_dummy_value()


def _body_wide(context, builder, ta, xa, aa, i0v, a0v, p0v, p1v, x_width, nrows):
    """The int16 loop: sums in int16 lanes from zero, then widened and added to the int32 ``acc``."""
    intp = context.get_value_type(types.intp)
    g = WIDE_GROUP
    v16 = ir.VectorType(ir.IntType(16), g)
    v32 = ir.VectorType(ir.IntType(32), g)
    acc_ptrs = [builder.bitcast(builder.gep(aa.data, [builder.mul(builder.add(a0v, intp(r)), intp(g))]),
                                v32.as_pointer()) for r in range(nrows)]
    slots = [cgutils.alloca_once(builder, v16) for _ in range(nrows)]
    for r in range(nrows):
        builder.store(ir.Constant(v16, None), slots[r])

    def add(r, tv):
        builder.store(builder.add(builder.load(slots[r]), tv), slots[r])

    _entries(context, builder, ta, xa, i0v, p0v, p1v, x_width, nrows, g, ir.IntType(16), 2, add)
    for r in range(nrows):
        total = builder.add(builder.load(acc_ptrs[r], align=4), builder.sext(builder.load(slots[r]), v32))
        builder.store(total, acc_ptrs[r], align=4)
    return context.get_dummy_value()


#: Eight rows per call: the body of the scans.
lut_rows_8 = _make(8, False)
#: One row per call: the last rows of a block.
lut_rows_1 = _make(1, False)
#: The int16 kernels (tables ``(w, 256, WIDE_GROUP)`` int16, sums int32), eight rows and one.
lut16_rows_8 = _make(8, True)
lut16_rows_1 = _make(1, True)


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


@njit(**EXACT)
def signs_row(row, flip, base, two):
    """One query against one bit ``row`` in float32, as the table kernels sum it, without tables.

    Each byte's entry is recomputed with the float64 operations of
    :func:`build_tables` in the same order: ``base[p]`` (the all-clear sum), then
    ``two[8p + t] = 2 q_j`` for each set bit ``t`` from the most significant down
    (a clear bit adds ``+-0.0``, which changes no sum here: a sum that starts from
    ``+0.0`` never becomes ``-0.0``), rounded once to float32; the entries are added
    in byte order from ``0.0``.  So the score equals the table kernels' bit for bit,
    and a few rows cost no table building.  :func:`signs_terms` fills ``base`` and ``two``.
    """
    acc = np.float32(0.0)
    for p in range(row.shape[0]):
        u = row[p] ^ 0x80 if flip else row[p]
        total = base[p]
        for t in range(8):
            total = total + np.float64((u >> (7 - t)) & 1) * two[8 * p + t]
        acc = acc + np.float32(total)
    return acc


@njit(**EXACT)
def signs_terms(Q, q, base, two):
    """For :func:`signs_row`: ``base[p]``, query ``q``'s all-clear entry at byte ``p`` summed as
    :func:`build_tables` sums it, and ``two[j] = 2 q_j`` in float64 (0 for padding bits)."""
    d = Q.shape[1]
    for p in range(base.shape[0]):
        total = 0.0
        for t in range(8):
            j = 8 * p + t
            if j < d:
                total -= np.float64(Q[q, j])
                two[j] = 2.0 * np.float64(Q[q, j])
            else:
                two[j] = 0.0
        base[p] = total


@njit(**EXACT)
def int16_weights(Q, Qi, scale, err):
    """Integer weights for the int16 tables: ``Qi[q] = rint(Q[q] / scale[q])``, and their error.

    ``scale[q]`` makes the largest absolute sum of ``Q[q]`` over a window of
    ``8 * WIDE_SPAN`` components (the components one int16 call sums) equal
    ``32767 - 4 * WIDE_SPAN``, so after rounding (at most 1/2 per component) every
    window's weights sum to at most 32767 in absolute value: no int16 sum can
    overflow.  ``err[q] = sum_j |Q[q, j] - scale[q] * Qi[q, j]|`` (float64) bounds
    how far ``scale[q]`` times an integer score is from the float score, for any bits.
    A zero query gets scale 1 and zero weights.
    """
    m, d = Q.shape
    span = 8 * WIDE_SPAN
    for q in range(m):
        most = 0.0
        for w0 in range(0, d, span):
            s = 0.0
            for j in range(w0, min(d, w0 + span)):
                s += abs(np.float64(Q[q, j]))
            most = max(most, s)
        sc = most / (32767 - 4 * WIDE_SPAN) if most > 0.0 else 1.0
        e = 0.0
        for j in range(d):
            x = np.float64(Q[q, j])
            r = np.rint(x / sc)
            Qi[q, j] = np.int16(r)
            e += abs(x - sc * r)
        scale[q] = sc
        err[q] = e


@njit(**EXACT)
def build_tables16(Qi, flip, out):
    """``out[c, p, v, g]`` = integer score of weights ``Qi[c * G + g]`` against byte value ``v`` at byte ``p``.

    The int16 twin of :func:`build_tables` (same bit order, padding and ``flip``
    rules) for weights from :func:`int16_weights`.  Sums are exact integers, so
    they are built all ``G`` lanes at once (one set bit more per step), and each
    ``out[c, p]`` is written contiguously.
    """
    m, d = Qi.shape
    ng, w, _, G = out.shape
    part = np.empty((256, G), np.int32)
    two = np.zeros((8, G), np.int32)
    for c in range(ng):
        for p in range(w):
            part[0, :] = 0
            for t in range(8):
                j = 8 * p + t
                for g in range(G):
                    q = c * G + g
                    x = np.int32(Qi[q, j]) if q < m and j < d else np.int32(0)
                    part[0, g] -= x
                    two[t, g] = 2 * x
            for v in range(1, 256):
                low = v & -v  # the lowest set bit; it stands for component 8p + t
                t = 7 - _log2(low)
                for g in range(G):
                    part[v, g] = part[v ^ low, g] + two[t, g]
            for v in range(256):
                u = v ^ 0x80 if flip else v
                for g in range(G):
                    out[c, p, v, g] = np.int16(part[u, g])
