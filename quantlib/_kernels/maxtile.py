"""The float32 MaxSim inner loop, in LLVM vector IR: best similarity of 16 (or 32) query tokens over a document.

MaxSim needs, for every query token, the largest dot product with any token
of the document.  :func:`max_dots_16` computes it for a group of
:data:`GROUP` query tokens at once, the way a GEMM micro-kernel does: the
group is stored transposed (``QT[g, j, :]`` holds component ``j`` of the 16
tokens, two vectors of eight floats), each document token component is
broadcast, and :data:`ROWS` document tokens are scored per pass, so every
multiply-add updates eight (query token, document token) pairs and no sum is
ever reduced across vector lanes.  The running maxima are vertical
(``max`` of two vectors), so the similarity matrix never exists.

:func:`max_dots_32` is the AVX-512 shape of the same tile: 32 query tokens
as two vectors of sixteen floats, :data:`WIDE_ROWS` document tokens a pass (24
of the 32 vector registers accumulate), so each broadcast feeds twice the lanes.
Where numba compiles for AVX-512 (:data:`WIDE`), MaxSim lays queries of more
than 16 tokens out for it: 1.5x faster on an Intel Xeon with AVX-512 (157 ms
against 237 ms for the benchmark's 32-token query over 1.6 million tokens, one
thread, before the prefetch below).  Both sum every similarity in the same
order, so they agree bit for bit.

The MaxSim tiles also prefetch the next document (``P[p0:p1]``) into L2, two
cache lines per component step, so that memory and arithmetic overlap: in the
cache this tile runs at 82-87 billion multiply-adds a second on one core of
that Xeon, and a scan that waited for memory after each document ran at half that.

:func:`dots_16` is the same tile storing every dot product instead of the
maxima: a projection ``Y = X @ M`` whose result for a row never depends on
the row's place in a block (MUVERA encodings need that; BLAS rounds a row by
its position).

Each similarity is summed in the order of the components, one fused
multiply-add (``llvm.fmuladd``) per component, so a score does not depend on
where the token falls in a pass or on the group.  The caller passes documents
of at least one token; past a document's end the last token is scored again,
which a maximum ignores.  Loads go through pointers numba cannot see, so under
``NUMBA_BOUNDSCHECK=1`` the kernel checks its arguments itself, as
:func:`~quantlib._kernels.popcount.load_u64` does.
"""

from __future__ import annotations

import functools
import os

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._config import target_features

__all__ = ["GROUP", "ROWS", "WIDE", "WIDE_GROUP", "WIDE_ROWS", "dots_16", "max_dots_16", "max_dots_32"]

#: Query tokens per group (two vectors of eight float32).
GROUP = 16

#: Document tokens per pass: 6 x 2 vector accumulators, two query vectors and a
#: broadcast fill the 16 vector registers of AVX2.
ROWS = 6

#: Query tokens per group of the AVX-512 tile (two vectors of sixteen float32).
WIDE_GROUP = 32

#: Document tokens per pass of the AVX-512 tile: 12 x 2 accumulators of the 32 registers.
WIDE_ROWS = 12


def _target_has_avx512() -> bool:
    """Whether numba compiles for AVX-512 (``avx512f``): then 16-float vectors are native.

    Read from the features numba compiles for, as ``intdot.VNNI`` is;
    ``QUANTLIB_DISABLE_AVX512_MAXSIM=1`` keeps the 8-float tile.
    """
    if os.environ.get("QUANTLIB_DISABLE_AVX512_MAXSIM", "") not in ("", "0"):
        return False
    return "+avx512f" in target_features()


#: True where MaxSim of float tokens takes the AVX-512 tile (:func:`max_dots_32`).
WIDE = _target_has_avx512()


def _c_array(arr, ndim: int) -> bool:
    return isinstance(arr, types.Array) and arr.dtype == types.float32 and arr.ndim == ndim and arr.layout == "C"


def _make(store: bool, lanes: int = 8, nrows: int = ROWS):
    """``max_dots_16`` (running maxima into ``out[16 g:16 g + 16]``) or ``dots_16`` (every dot stored).

    ``lanes=16`` makes the AVX-512 tile: groups of 32 query tokens, ``nrows`` document tokens a pass.
    The MaxSim tiles (``store=False``) take three more arguments, ``P, p0, p1``: rows p0..p1 of
    ``P`` (the next document) are prefetched, two cache lines per component step, while the
    arithmetic runs.
    """

    def ok(QT, X, a, b, g, out):
        return (_c_array(QT, 3) and _c_array(X, 2) and _c_array(out, 2 if store else 1)
                and all(isinstance(v, types.Integer) for v in (a, b, g)))

    if store:
        def typer(typingctx, QT, X, a, b, g, out):
            if not ok(QT, X, a, b, g, out):
                return None
            return types.void(QT, X, a, b, g, out), functools.partial(_codegen, store, lanes, nrows)
    else:
        def typer(typingctx, QT, X, a, b, g, out, P, p0, p1):
            if not (ok(QT, X, a, b, g, out) and isinstance(P, types.Array) and P.ndim == 2 and P.layout == "C"
                    and isinstance(p0, types.Integer) and isinstance(p1, types.Integer)):
                return None
            return (types.void(QT, X, a, b, g, out, P, p0, p1),
                    functools.partial(_codegen, store, lanes, nrows))

    typer.__name__ = f"{'dots' if store else 'max_dots'}_{2 * lanes}"
    return intrinsic(typer)


def _codegen(store, lanes, nrows, context, builder, signature, args):
    qa = context.make_array(signature.args[0])(context, builder, args[0])
    xa = context.make_array(signature.args[1])(context, builder, args[1])
    oa = context.make_array(signature.args[5])(context, builder, args[5])
    intp = context.get_value_type(types.intp)
    av, bv, gv = (context.cast(builder, args[k], signature.args[k], types.intp) for k in (2, 3, 4))
    q_groups, q_dim, q_width = cgutils.unpack_tuple(builder, qa.shape, 3)
    x_rows, d = cgutils.unpack_tuple(builder, xa.shape, 2)
    out_shape = cgutils.unpack_tuple(builder, oa.shape, 2 if store else 1)
    one = intp(1)
    group = 2 * lanes
    group_end = builder.add(builder.mul(gv, intp(group)), intp(group - 1))
    if context.enable_boundscheck:
        cgutils.do_boundscheck(context, builder, av, bv)  # 0 <= a < b
        cgutils.do_boundscheck(context, builder, bv, builder.add(x_rows, one))  # b <= rows
        cgutils.do_boundscheck(context, builder, gv, q_groups)
        cgutils.do_boundscheck(context, builder, builder.sub(q_width, intp(group)), one)  # 16 (32) wide
        cgutils.do_boundscheck(context, builder, builder.sub(q_dim, d), one)  # same dimension
        if store:  # out[t - a, 16 g + i] for t < b
            cgutils.do_boundscheck(context, builder, builder.sub(builder.sub(bv, av), one), out_shape[0])
            cgutils.do_boundscheck(context, builder, group_end, out_shape[1])
        else:
            cgutils.do_boundscheck(context, builder, group_end, out_shape[0])
    vec = ir.VectorType(ir.FloatType(), lanes)
    vptr = vec.as_pointer()
    fmuladd = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                                             f"llvm.fmuladd.v{lanes}f32")
    splat_mask = ir.Constant(ir.VectorType(ir.IntType(32), lanes), None)
    qbase = builder.gep(qa.data, [builder.mul(builder.mul(gv, d), intp(group))])
    if not store:  # where the next document's bytes start, and how many to prefetch
        pty = signature.args[6]
        pa = context.make_array(pty)(context, builder, args[6])
        p0v, p1v = (context.cast(builder, args[k], signature.args[k], types.intp) for k in (7, 8))
        _, pd = cgutils.unpack_tuple(builder, pa.shape, 2)
        i8p = ir.IntType(8).as_pointer()
        pstart = builder.bitcast(builder.gep(pa.data, [builder.mul(p0v, pd)]), i8p)
        item = intp(context.get_abi_sizeof(context.get_data_type(pty.dtype)))
        pbytes = builder.mul(builder.mul(builder.sub(p1v, p0v), pd), item)
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8")
    maxima = [cgutils.alloca_once_value(builder, ir.Constant(vec, [float("-inf")] * lanes)) for _ in range(2)]
    accs = [[cgutils.alloca_once(builder, vec) for _ in range(2)] for _ in range(nrows)]
    last = builder.sub(bv, one)
    with cgutils.for_range_slice(builder, av, bv, intp(nrows), intp) as (t, _):
        rows = []
        for r in range(nrows):
            idx = builder.add(t, intp(r))
            idx = builder.select(builder.icmp_signed("<", idx, last), idx, last)
            rows.append(builder.gep(xa.data, [builder.mul(idx, d)]))
        for pair in accs:
            for acc in pair:
                builder.store(ir.Constant(vec, None), acc)
        with cgutils.for_range(builder, d, intp=intp) as loop:
            j = loop.index
            qrow = builder.gep(qbase, [builder.mul(j, intp(group))])
            q0 = builder.load(builder.bitcast(qrow, vptr), align=4)
            q1 = builder.load(builder.bitcast(builder.gep(qrow, [intp(lanes)]), vptr), align=4)
            for r in range(nrows):
                x = builder.load(builder.gep(rows[r], [j]))
                xb = builder.shuffle_vector(builder.insert_element(ir.Constant(vec, ir.Undefined), x,
                                                                   ir.Constant(ir.IntType(32), 0)),
                                            ir.Constant(vec, ir.Undefined), splat_mask)
                for h, qv in enumerate((q0, q1)):
                    acc = accs[r][h]
                    builder.store(builder.call(fmuladd, [qv, xb, builder.load(acc)]), acc)
            if not store:  # step c of the document's scan asks for bytes 128 c .. 128 c + 127 of the next
                step = builder.add(builder.mul(builder.sdiv(builder.sub(t, av), intp(nrows)), d), j)
                off = builder.mul(step, intp(128))
                with builder.if_then(builder.icmp_signed("<", off, pbytes), likely=False):
                    for half in (0, 64):  # read, locality 1 (L2, not L1: the tile's rows live there), data: a hint
                        builder.call(prefetch, [builder.gep(pstart, [builder.add(off, intp(half))]),
                                                i32(0), i32(1), i32(1)])
        if store:
            for r in range(nrows):
                row = builder.add(t, intp(r))
                with builder.if_then(builder.icmp_signed("<", row, bv)):
                    dst = builder.gep(oa.data, [builder.add(builder.mul(builder.sub(row, av), out_shape[1]),
                                                            builder.mul(gv, intp(group)))])
                    for h in range(2):
                        builder.store(builder.load(accs[r][h]),
                                      builder.bitcast(builder.gep(dst, [intp(lanes * h)]), vptr), align=4)
        else:
            for h in range(2):
                m = builder.load(maxima[h])
                for r in range(nrows):
                    s = builder.load(accs[r][h])
                    m = builder.select(builder.fcmp_ordered(">", s, m), s, m)
                builder.store(m, maxima[h])
    if not store:
        dst = builder.gep(oa.data, [builder.mul(gv, intp(group))])
        for h in range(2):
            builder.store(builder.load(maxima[h]), builder.bitcast(builder.gep(dst, [intp(lanes * h)]), vptr),
                          align=4)
    return context.get_dummy_value()


#: ``max_dots_16(QT, X, a, b, g, best, P, p0, p1)``: ``best[16 g + i]`` = max over rows a..b of
#: ``sum_j QT[g, j, i] * X[t, j]``, for i < 16.
max_dots_16 = _make(store=False)
#: ``dots_16(QT, X, a, b, g, Y)``: ``Y[t - a, 16 g + i]`` = ``sum_j QT[g, j, i] * X[t, j]`` for
#: rows a..b and i < 16 (a projection ``X @ M`` with ``M``'s columns grouped by 16).
dots_16 = _make(store=True)
#: ``max_dots_32(QT, X, a, b, g, best, P, p0, p1)``: :func:`max_dots_16` for groups of 32 query tokens
#: (``QT`` of shape ``(groups, d, 32)``), 16-float vectors and :data:`WIDE_ROWS` document tokens a
#: pass: on AVX-512 each broadcast feeds twice the lanes.  The same sums in the same order.
max_dots_32 = _make(store=False, lanes=16, nrows=WIDE_ROWS)
