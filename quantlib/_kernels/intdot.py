"""Exact integer dot products of 8-bit codes, tiled, in LLVM vector IR.

Numba types ``int32 * int32`` as int64 and LLVM then vectorises the dot of
two int8 rows with 32-bit multiplies (``vpmulld``: 8 products an
instruction) - slower than converting to float32.  :func:`dot_tile` writes the
loop itself: per step of :data:`STEP` items it sign- (``int8``) or zero-
(``uint8``) extends a slice of each stored row, multiplies it with the query
slice (queries arrive widened to ``int16``), adds neighbouring products
pairwise and accumulates in int32 vectors.  That shape is the one LLVM lowers
to ``vpmaddwd`` on x86 (16 products an instruction with AVX2, 32 with AVX-512,
fused with the add into ``vpdpwssd`` where AVX-512 VNNI or AVX-VNNI exists)
and to widening multiply-adds elsewhere; the IR itself is portable.

A tile is ``nq`` query rows (from ``q0``) times ``nx`` stored rows (any row
numbers, so a short tail repeats its last row) over the first ``n`` items, a
multiple of :data:`STEP`; the caller adds the remaining items.  The
``nq * nx`` sums come back row-major by stored row: ``s[r * nq + t]`` for
stored row ``r`` and query ``q0 + t``.

Exactness: a product of two int8 codes is at most ``2**14`` in magnitude and
of two uint8 codes below ``2**16``, so int32 sums are exact for up to
``2**17 - 1`` (int8) and ``33,025`` (uint8) items; the caller checks that
(:data:`MAX_ITEMS`).  Like :func:`~quantlib._kernels.popcount.load_u64`, the
loads go through pointers numba cannot see, so the tile checks its row numbers
and ``n`` itself when numba's bounds checking is on.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["MAX_ITEMS", "STEP", "dot_tile_1x2", "dot_tile_4x2"]

#: Items per vector step (one 256-bit vector of int16).
STEP = 16

#: Most items per row whose int32 sums are exact, by stored dtype.
MAX_ITEMS = {"int8": (2**31 - 1) // 2**14, "uint8": (2**31 - 1) // 255**2}


def _array_ok(arr, dtypes) -> bool:
    return isinstance(arr, types.Array) and arr.dtype in dtypes and arr.ndim == 2 and arr.layout == "C"


def _make_tile(nq: int, nx: int):
    """The intrinsic for an ``nq`` x ``nx`` tile."""

    def typer(typingctx, W, X, q0, rows, n):
        if not (_array_ok(W, (types.int16,)) and _array_ok(X, (types.int8, types.uint8))
                and isinstance(q0, types.Integer) and isinstance(n, types.Integer)
                and isinstance(rows, types.UniTuple) and len(rows) == nx
                and isinstance(rows.dtype, types.Integer)):
            return None
        sig = types.UniTuple(types.int32, nq * nx)(W, X, q0, rows, n)
        signed = X.dtype == types.int8

        def codegen(context, builder, signature, args):
            wty, xty, qty, rty, nty = signature.args
            wa = context.make_array(wty)(context, builder, args[0])
            xa = context.make_array(xty)(context, builder, args[1])
            intp = context.get_value_type(types.intp)
            q0v = context.cast(builder, args[2], qty, types.intp)
            rows_v = [context.cast(builder, v, rty.dtype, types.intp)
                      for v in cgutils.unpack_tuple(builder, args[3], nx)]
            nv = context.cast(builder, args[4], nty, types.intp)
            w_rows, w_width = cgutils.unpack_tuple(builder, wa.shape, 2)
            x_rows, x_width = cgutils.unpack_tuple(builder, xa.shape, 2)
            if context.enable_boundscheck:
                for t in range(nq):
                    cgutils.do_boundscheck(context, builder, builder.add(q0v, intp(t)), w_rows)
                for r in rows_v:
                    cgutils.do_boundscheck(context, builder, r, x_rows)
                cgutils.do_boundscheck(context, builder, nv, builder.add(w_width, intp(1)))
                cgutils.do_boundscheck(context, builder, nv, builder.add(x_width, intp(1)))
            i32 = ir.IntType(32)
            wide = ir.VectorType(i32, STEP)
            half = ir.VectorType(i32, STEP // 2)
            w_vec = ir.VectorType(ir.IntType(16), STEP).as_pointer()
            x_vec = ir.VectorType(ir.IntType(8), STEP).as_pointer()
            w_ptrs = [builder.gep(wa.data, [builder.mul(builder.add(q0v, intp(t)), w_width)]) for t in range(nq)]
            x_ptrs = [builder.gep(xa.data, [builder.mul(r, x_width)]) for r in rows_v]
            accs = [cgutils.alloca_once_value(builder, ir.Constant(half, None)) for _ in range(nq * nx)]
            even = ir.Constant(half, list(range(0, STEP, 2)))
            odd = ir.Constant(half, list(range(1, STEP, 2)))
            extend = builder.sext if signed else builder.zext
            with cgutils.for_range_slice(builder, intp(0), nv, intp(STEP), intp) as (j, _):
                xs = [extend(builder.load(builder.bitcast(builder.gep(p, [j]), x_vec), align=1), wide)
                      for p in x_ptrs]
                for t, p in enumerate(w_ptrs):
                    w = builder.sext(builder.load(builder.bitcast(builder.gep(p, [j]), w_vec), align=2), wide)
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

    typer.__name__ = f"dot_tile_{nq}x{nx}"
    typer.__doc__ = (f"Exact int32 dots of query rows ``q0..q0+{nq}`` of ``W`` (int16) with the {nx} "
                     "stored rows ``rows`` of ``X`` (int8/uint8) over their first ``n`` items.")
    return intrinsic(typer)


#: Four queries against two stored rows: the tile of batched scans (8 int32 vector accumulators).
dot_tile_4x2 = _make_tile(4, 2)
#: One query against two stored rows: the tile of one-query scans.
dot_tile_1x2 = _make_tile(1, 2)
