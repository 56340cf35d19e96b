"""The float32 MaxSim inner loop, in LLVM vector IR: best similarity of 16 query tokens over a document.

MaxSim needs, for every query token, the largest dot product with any token
of the document.  :func:`max_dots_16` computes it for a group of
:data:`GROUP` query tokens at once, the way a GEMM micro-kernel does: the
group is stored transposed (``QT[g, j, :]`` holds component ``j`` of the 16
tokens, two vectors of eight floats), each document token component is
broadcast, and :data:`ROWS` document tokens are scored per pass, so every
multiply-add updates eight (query token, document token) pairs and no sum is
ever reduced across vector lanes.  The running maxima are vertical
(``max`` of two vectors), so the similarity matrix never exists.

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

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["GROUP", "ROWS", "dots_16", "max_dots_16"]

#: Query tokens per group (two vectors of eight float32).
GROUP = 16

#: Document tokens per pass: 6 x 2 vector accumulators, two query vectors and a
#: broadcast fill the 16 vector registers of AVX2.
ROWS = 6


def _c_array(arr, ndim: int) -> bool:
    return isinstance(arr, types.Array) and arr.dtype == types.float32 and arr.ndim == ndim and arr.layout == "C"


def _make(store: bool):
    """``max_dots_16`` (running maxima into ``out[16 g:16 g + 16]``) or ``dots_16`` (every dot stored)."""

    def typer(typingctx, QT, X, a, b, g, out):
        if not (_c_array(QT, 3) and _c_array(X, 2) and _c_array(out, 2 if store else 1)
                and all(isinstance(v, types.Integer) for v in (a, b, g))):
            return None
        return types.void(QT, X, a, b, g, out), functools.partial(_codegen, store)

    typer.__name__ = "dots_16" if store else "max_dots_16"
    return intrinsic(typer)


def _codegen(store, context, builder, signature, args):
    qa = context.make_array(signature.args[0])(context, builder, args[0])
    xa = context.make_array(signature.args[1])(context, builder, args[1])
    oa = context.make_array(signature.args[5])(context, builder, args[5])
    intp = context.get_value_type(types.intp)
    av, bv, gv = (context.cast(builder, args[k], signature.args[k], types.intp) for k in (2, 3, 4))
    q_groups, q_dim, q_width = cgutils.unpack_tuple(builder, qa.shape, 3)
    x_rows, d = cgutils.unpack_tuple(builder, xa.shape, 2)
    out_shape = cgutils.unpack_tuple(builder, oa.shape, 2 if store else 1)
    one = intp(1)
    group_end = builder.add(builder.mul(gv, intp(GROUP)), intp(GROUP - 1))
    if context.enable_boundscheck:
        cgutils.do_boundscheck(context, builder, av, bv)  # 0 <= a < b
        cgutils.do_boundscheck(context, builder, bv, builder.add(x_rows, one))  # b <= rows
        cgutils.do_boundscheck(context, builder, gv, q_groups)
        cgutils.do_boundscheck(context, builder, builder.sub(q_width, intp(GROUP)), one)  # 16 wide
        cgutils.do_boundscheck(context, builder, builder.sub(q_dim, d), one)  # same dimension
        if store:  # out[t - a, 16 g + i] for t < b
            cgutils.do_boundscheck(context, builder, builder.sub(builder.sub(bv, av), one), out_shape[0])
            cgutils.do_boundscheck(context, builder, group_end, out_shape[1])
        else:
            cgutils.do_boundscheck(context, builder, group_end, out_shape[0])
    vec = ir.VectorType(ir.FloatType(), 8)
    vptr = vec.as_pointer()
    fmuladd = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                                             "llvm.fmuladd.v8f32")
    splat_mask = ir.Constant(ir.VectorType(ir.IntType(32), 8), None)
    qbase = builder.gep(qa.data, [builder.mul(builder.mul(gv, d), intp(GROUP))])
    maxima = [cgutils.alloca_once_value(builder, ir.Constant(vec, [float("-inf")] * 8)) for _ in range(2)]
    accs = [[cgutils.alloca_once(builder, vec) for _ in range(2)] for _ in range(ROWS)]
    last = builder.sub(bv, one)
    with cgutils.for_range_slice(builder, av, bv, intp(ROWS), intp) as (t, _):
        rows = []
        for r in range(ROWS):
            idx = builder.add(t, intp(r))
            idx = builder.select(builder.icmp_signed("<", idx, last), idx, last)
            rows.append(builder.gep(xa.data, [builder.mul(idx, d)]))
        for pair in accs:
            for acc in pair:
                builder.store(ir.Constant(vec, None), acc)
        with cgutils.for_range(builder, d, intp=intp) as loop:
            j = loop.index
            qrow = builder.gep(qbase, [builder.mul(j, intp(GROUP))])
            q0 = builder.load(builder.bitcast(qrow, vptr), align=4)
            q1 = builder.load(builder.bitcast(builder.gep(qrow, [intp(8)]), vptr), align=4)
            for r in range(ROWS):
                x = builder.load(builder.gep(rows[r], [j]))
                xb = builder.shuffle_vector(builder.insert_element(ir.Constant(vec, ir.Undefined), x,
                                                                   ir.Constant(ir.IntType(32), 0)),
                                            ir.Constant(vec, ir.Undefined), splat_mask)
                for h, qv in enumerate((q0, q1)):
                    acc = accs[r][h]
                    builder.store(builder.call(fmuladd, [qv, xb, builder.load(acc)]), acc)
        if store:
            for r in range(ROWS):
                row = builder.add(t, intp(r))
                with builder.if_then(builder.icmp_signed("<", row, bv)):
                    dst = builder.gep(oa.data, [builder.add(builder.mul(builder.sub(row, av), out_shape[1]),
                                                            builder.mul(gv, intp(GROUP)))])
                    for h in range(2):
                        builder.store(builder.load(accs[r][h]),
                                      builder.bitcast(builder.gep(dst, [intp(8 * h)]), vptr), align=4)
        else:
            for h in range(2):
                m = builder.load(maxima[h])
                for r in range(ROWS):
                    s = builder.load(accs[r][h])
                    m = builder.select(builder.fcmp_ordered(">", s, m), s, m)
                builder.store(m, maxima[h])
    if not store:
        dst = builder.gep(oa.data, [builder.mul(gv, intp(GROUP))])
        for h in range(2):
            builder.store(builder.load(maxima[h]), builder.bitcast(builder.gep(dst, [intp(8 * h)]), vptr), align=4)
    return context.get_dummy_value()


#: ``max_dots_16(QT, X, a, b, g, best)``: ``best[16 g + i]`` = max over rows a..b of
#: ``sum_j QT[g, j, i] * X[t, j]``, for i < 16.
max_dots_16 = _make(store=False)
#: ``dots_16(QT, X, a, b, g, Y)``: ``Y[t - a, 16 g + i]`` = ``sum_j QT[g, j, i] * X[t, j]`` for
#: rows a..b and i < 16 (a projection ``X @ M`` with ``M``'s columns grouped by 16).
dots_16 = _make(store=True)
