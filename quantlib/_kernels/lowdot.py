"""Exact integer dots of int16 queries with packed 4-, 2- and 1-bit codes, tiled, in LLVM vector IR.

The rotated low-bit codes (:mod:`quantlib._kernels.lowbit`) pack ``k = 8 / bits``
codes to a byte: field ``m`` (bits ``m*bits .. (m+1)*bits - 1``, counted from the
least significant) of byte ``t`` is component ``t + m * nb`` of the row (``nb``
bytes of codes a row; one bit per code is stored most significant first, so its
query is laid out in that order by the caller: see :func:`lowbit.int_query`).
So the codes of field ``m`` over 16 consecutive bytes are 16 consecutive
components, and a query laid out as ``W[q, m * nb + t]`` meets them in order.

Per step of :data:`STEP` bytes, :func:`code_tile` loads 16 bytes of each stored
row, takes each field out with a shift and a mask, zero-extends it and
multiplies it with the query slice (int16, sign-extended), adds neighbouring
products pairwise and accumulates in int32 vectors: the shape LLVM lowers to
``vpmaddwd`` on x86 (16 products an instruction with AVX2), as in
:mod:`quantlib._kernels.intdot`.  The IR is portable.

A tile is ``nq`` query rows (from ``q0``) times ``nx`` stored rows (any row
numbers, so a short tail repeats its last row) over the first ``n`` bytes of
each row (a multiple of :data:`STEP`); the caller adds the remaining bytes.
The ``nq * nx`` sums come back row-major by stored row: ``s[r * nq + t]``.

Exactness: every product is at most ``|W| * (2**bits - 1)``; the caller keeps
``|W| * (2**bits - 1) * D < 2**31`` (:func:`lowbit.int_query`), so the int32
sums are exact.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["STEP", "tile_1x4_b1", "tile_1x4_b2", "tile_1x4_b4", "tile_4x2_b1", "tile_4x2_b2", "tile_4x2_b4"]

#: Bytes of each stored row per vector step.
STEP = 16


def _ok(arr, dtypes) -> bool:
    return isinstance(arr, types.Array) and arr.dtype in dtypes and arr.ndim == 2 and arr.layout == "C"


def _make_tile(nq: int, nx: int, bits: int):
    per = 8 // bits
    mask = (1 << bits) - 1

    def typer(typingctx, W, X, q0, rows, n, nb):
        if not (_ok(W, (types.int16,)) and _ok(X, (types.uint8,)) and isinstance(q0, types.Integer)
                and isinstance(n, types.Integer) and isinstance(nb, types.Integer)
                and isinstance(rows, types.UniTuple) and len(rows) == nx
                and isinstance(rows.dtype, types.Integer)):
            return None
        sig = types.UniTuple(types.int32, nq * nx)(W, X, q0, rows, n, nb)

        def codegen(context, builder, signature, args):
            wty, xty, qty, rty, nty, bty = signature.args
            wa = context.make_array(wty)(context, builder, args[0])
            xa = context.make_array(xty)(context, builder, args[1])
            intp = context.get_value_type(types.intp)
            q0v = context.cast(builder, args[2], qty, types.intp)
            rows_v = [context.cast(builder, v, rty.dtype, types.intp)
                      for v in cgutils.unpack_tuple(builder, args[3], nx)]
            nv = context.cast(builder, args[4], nty, types.intp)
            nbv = context.cast(builder, args[5], bty, types.intp)
            w_rows, w_width = cgutils.unpack_tuple(builder, wa.shape, 2)
            x_rows, x_width = cgutils.unpack_tuple(builder, xa.shape, 2)
            if context.enable_boundscheck:
                for t in range(nq):
                    cgutils.do_boundscheck(context, builder, builder.add(q0v, intp(t)), w_rows)
                for r in rows_v:
                    cgutils.do_boundscheck(context, builder, r, x_rows)
                cgutils.do_boundscheck(context, builder, nv, builder.add(nbv, intp(1)))
                cgutils.do_boundscheck(context, builder, nbv, builder.add(x_width, intp(1)))
                cgutils.do_boundscheck(context, builder, builder.mul(nbv, intp(per)), builder.add(w_width, intp(1)))
            i32 = ir.IntType(32)
            wide = ir.VectorType(i32, STEP)
            half = ir.VectorType(i32, STEP // 2)
            byte_vec = ir.VectorType(ir.IntType(8), STEP)
            w_vec = ir.VectorType(ir.IntType(16), STEP).as_pointer()
            w_ptrs = [builder.gep(wa.data, [builder.mul(builder.add(q0v, intp(t)), w_width)]) for t in range(nq)]
            x_ptrs = [builder.gep(xa.data, [builder.mul(r, x_width)]) for r in rows_v]
            accs = [cgutils.alloca_once_value(builder, ir.Constant(half, None)) for _ in range(nq * nx)]
            even = ir.Constant(half, list(range(0, STEP, 2)))
            odd = ir.Constant(half, list(range(1, STEP, 2)))
            masks = ir.Constant(byte_vec, [mask] * STEP)
            with cgutils.for_range_slice(builder, intp(0), nv, intp(STEP), intp) as (j, _):
                raw = [builder.load(builder.bitcast(builder.gep(p, [j]), byte_vec.as_pointer()), align=1)
                       for p in x_ptrs]
                for m in range(per):
                    if m == 0:
                        fields = [builder.and_(b, masks) for b in raw]
                    elif m == per - 1:
                        fields = [builder.lshr(b, ir.Constant(byte_vec, [m * bits] * STEP)) for b in raw]
                    else:
                        fields = [builder.and_(builder.lshr(b, ir.Constant(byte_vec, [m * bits] * STEP)), masks)
                                  for b in raw]
                    xs = [builder.zext(f, wide) for f in fields]
                    at = builder.add(j, builder.mul(nbv, intp(m)))
                    for t, p in enumerate(w_ptrs):
                        w = builder.sext(builder.load(builder.bitcast(builder.gep(p, [at]), w_vec), align=2), wide)
                        for r, x in enumerate(xs):
                            prod = builder.mul(w, x)
                            pairs = builder.add(builder.shuffle_vector(prod, prod, even),
                                                builder.shuffle_vector(prod, prod, odd))
                            acc = accs[r * nq + t]
                            builder.store(builder.add(builder.load(acc), pairs), acc)
            reduce_add = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(i32, [half]), f"llvm.vector.reduce.add.v{STEP // 2}i32")
            sums = [builder.call(reduce_add, [builder.load(acc)]) for acc in accs]
            return context.make_tuple(builder, signature.return_type, sums)

        return sig, codegen

    typer.__name__ = f"tile_{nq}x{nx}_b{bits}"
    typer.__doc__ = (f"Exact int32 dots of query rows ``q0..q0+{nq}`` of ``W`` (int16, laid out by field) with the "
                     f"{bits}-bit codes of the {nx} stored rows ``rows`` of ``X`` over their first ``n`` bytes "
                     "(``nb`` bytes of codes a row).")
    return intrinsic(typer)


#: Four queries against two stored rows (8 int32 vector accumulators), by code width.
tile_4x2_b4, tile_4x2_b2, tile_4x2_b1 = (_make_tile(4, 2, bits) for bits in (4, 2, 1))
#: One query against four stored rows, by code width.
tile_1x4_b4, tile_1x4_b2, tile_1x4_b1 = (_make_tile(1, 4, bits) for bits in (4, 2, 1))
