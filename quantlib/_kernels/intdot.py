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
(:data:`MAX_ITEMS`).

Where numba compiles for AVX-512 VNNI (:data:`VNNI`), :func:`vnni_tile_4x2`
and :func:`vnni_tile_1x2` take over: ``vpdpbusd`` multiplies unsigned with
signed bytes, 64 products an instruction, four times ``vpmaddwd``'s 16 on
int16 items, with no widening at all (the query codes arrive as int8; see
:func:`_make_vnni_tile` for how each code type is brought to the unsigned x
signed shape).  Their intermediate int32 sums may wrap around, which is
harmless: ``vpdpbusd`` and LLVM's ``add`` compute modulo ``2**32``, so the
result is exact whenever the final dot fits in int32 - the same
:data:`MAX_ITEMS` bound.  Like :func:`~quantlib._kernels.popcount.load_u64`, the
loads go through pointers numba cannot see, so the tile checks its row numbers
and ``n`` itself when numba's bounds checking is on.
"""

from __future__ import annotations

import os

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._config import target_features

__all__ = ["MAX_ITEMS", "STEP", "STEP_VNNI", "VNNI", "dot_tile_1x2", "dot_tile_4x2",
           "vnni_tile_1x2", "vnni_tile_4x2"]

#: Items per vector step (one 256-bit vector of int16).
STEP = 16

#: Most items per row whose int32 sums are exact, by stored dtype.
MAX_ITEMS = {"int8": (2**31 - 1) // 2**14, "uint8": (2**31 - 1) // 255**2}


#: Items per step of the VNNI tiles (one 512-bit vector of bytes).
STEP_VNNI = 64

def _target_has_vnni() -> bool:
    """Whether the code numba generates may use AVX-512 VNNI (``vpdpbusd``).

    Read from the features numba compiles for (the host's, or
    ``NUMBA_CPU_FEATURES``); the machine code numba caches is keyed by them, so
    a cache written here is never loaded where they differ.
    ``QUANTLIB_DISABLE_VNNI=1`` turns the VNNI tiles off.
    """
    if os.environ.get("QUANTLIB_DISABLE_VNNI", "") not in ("", "0"):
        return False
    return {"+avx512f", "+avx512bw", "+avx512vnni"} <= target_features()


#: True where the VNNI tiles are used for exact dots of 8-bit codes.
VNNI = _target_has_vnni()


def _array_ok(arr, dtypes) -> bool:
    return isinstance(arr, types.Array) and arr.dtype in dtypes and arr.ndim == 2 and arr.layout == "C"


def _tile_args_ok(W, X, q0, rows, n, nx, w_dtypes) -> bool:
    """Whether a tile intrinsic of ``nx`` stored rows takes these argument types."""
    return (_array_ok(W, w_dtypes) and _array_ok(X, (types.int8, types.uint8))
            and isinstance(q0, types.Integer) and isinstance(n, types.Integer)
            and isinstance(rows, types.UniTuple) and len(rows) == nx and isinstance(rows.dtype, types.Integer))


def _tile_pointers(context, builder, signature, args, nq, nx):
    """The shared start of a tile's codegen: ``(intp, nv, w_ptrs, x_ptrs)``.

    ``w_ptrs`` point at the ``nq`` query rows from ``q0``, ``x_ptrs`` at the ``nx`` stored
    rows, ``nv`` is ``n``.  With numba's bounds checking on, the row numbers and ``n``
    (against both widths) are checked first: the loads go through pointers numba cannot see.
    """
    wty, xty, qty, rty, nty = signature.args[:5]
    wa = context.make_array(wty)(context, builder, args[0])
    xa = context.make_array(xty)(context, builder, args[1])
    intp = context.get_value_type(types.intp)
    q0v = context.cast(builder, args[2], qty, types.intp)
    rows_v = [context.cast(builder, v, rty.dtype, types.intp) for v in cgutils.unpack_tuple(builder, args[3], nx)]
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
    w_ptrs = [builder.gep(wa.data, [builder.mul(builder.add(q0v, intp(t)), w_width)]) for t in range(nq)]
    x_ptrs = [builder.gep(xa.data, [builder.mul(r, x_width)]) for r in rows_v]
    return intp, nv, w_ptrs, x_ptrs


def _make_tile(nq: int, nx: int):
    """The intrinsic for an ``nq`` x ``nx`` tile."""

    def typer(typingctx, W, X, q0, rows, n):
        if not _tile_args_ok(W, X, q0, rows, n, nx, (types.int16,)):
            return None
        sig = types.UniTuple(types.int32, nq * nx)(W, X, q0, rows, n)
        signed = X.dtype == types.int8

        def codegen(context, builder, signature, args):
            intp, nv, w_ptrs, x_ptrs = _tile_pointers(context, builder, signature, args, nq, nx)
            i32 = ir.IntType(32)
            wide = ir.VectorType(i32, STEP)
            half = ir.VectorType(i32, STEP // 2)
            w_vec = ir.VectorType(ir.IntType(16), STEP).as_pointer()
            x_vec = ir.VectorType(ir.IntType(8), STEP).as_pointer()
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


def _sum_lanes(builder, vecs):
    """The lane sums of equally long int32 vectors, as one vector (sum ``i`` in lane ``i``).

    A transposing tree instead of one horizontal reduction each: every level
    pairs vectors that hold blocks of ``L`` partial sums per input and adds
    the first halves of the blocks to the second halves, so the number of
    blocks per vector doubles while their size halves (a lone vector is folded
    onto itself, halving its width).  Eight 16-lane accumulators take 4 levels
    and 15 additions instead of 8 reductions of 4 steps each.  ``len(vecs)``
    must be a power of two.
    """
    width = vecs[0].type.count
    block = width
    while block > 1:
        half = block // 2
        if len(vecs) > 1:
            n_blocks = width // block
            lo = [b * block + i for b in range(n_blocks) for i in range(half)]
            lo = lo + [width + j for j in lo]
            hi = [j + half for j in lo]
            vecs = [builder.add(builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(ir.IntType(32), width), lo)),
                                builder.shuffle_vector(x, y, ir.Constant(ir.VectorType(ir.IntType(32), width), hi)))
                    for x, y in zip(vecs[0::2], vecs[1::2], strict=True)]
        else:
            (x,) = vecs
            n_blocks = x.type.count // block
            lo = [b * block + i for b in range(n_blocks) for i in range(half)]
            hi = [j + half for j in lo]
            mask = ir.VectorType(ir.IntType(32), len(lo))
            vecs = [builder.add(builder.shuffle_vector(x, x, ir.Constant(mask, lo)),
                                builder.shuffle_vector(x, x, ir.Constant(mask, hi)))]
        block = half
    (total,) = vecs
    return total


def _make_vnni_tile(nq: int, nx: int):
    """The intrinsic for an ``nq`` x ``nx`` tile of ``vpdpbusd`` (AVX-512 VNNI) dots.

    ``vpdpbusd`` multiplies 64 unsigned bytes with 64 signed bytes and adds
    each group of four products into one of 16 int32 lanes: 64 products an
    instruction, four times ``vpmaddwd`` on 16-bit items.  Both code types are
    brought to that shape: an ``int8`` row is read with its sign bit flipped
    (``x + 128``, unsigned) against the query codes as they are, so each sum
    exceeds the dot by ``128 * sum(w)``; a ``uint8`` row is read as it is
    against the query codes less 128 (signed), so each sum falls short by
    ``128 * sum(x)``, which the tile adds back from a row sum it keeps itself
    (one more ``vpdpbusd`` per row, against bytes of 1).  ``corr`` is the
    per-query term the caller adds for int8 rows: ``-128 * sum(w[:n])``.
    """

    def typer(typingctx, W, X, q0, rows, n, corr):
        if not (VNNI and _tile_args_ok(W, X, q0, rows, n, nx, (types.int8,))
                and isinstance(corr, types.UniTuple) and len(corr) == nq
                and isinstance(corr.dtype, types.Integer)):
            return None
        sig = types.UniTuple(types.int32, nq * nx)(W, X, q0, rows, n, corr)
        signed = X.dtype == types.int8

        def codegen(context, builder, signature, args):
            intp, nv, w_ptrs, x_ptrs = _tile_pointers(context, builder, signature, args, nq, nx)
            cty = signature.args[5]
            corr_v = [context.cast(builder, v, cty.dtype, types.int32)
                      for v in cgutils.unpack_tuple(builder, args[5], nq)]
            i32 = ir.IntType(32)
            lanes = ir.VectorType(i32, STEP_VNNI // 4)
            byte_vec = ir.VectorType(ir.IntType(8), STEP_VNNI)
            # the i32-lane form of the intrinsic: the one every LLVM numba has used knows
            dpbusd = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(lanes, [lanes, lanes, lanes]), "llvm.x86.avx512.vpdpbusd.512")
            accs = [cgutils.alloca_once_value(builder, ir.Constant(lanes, None)) for _ in range(nq * nx)]
            row_sums = [] if signed else [cgutils.alloca_once_value(builder, ir.Constant(lanes, None))
                                          for _ in range(nx)]
            flip = ir.Constant(byte_vec, [0x80] * STEP_VNNI)
            ones = ir.Constant(lanes, [0x01010101] * (STEP_VNNI // 4))
            with cgutils.for_range_slice(builder, intp(0), nv, intp(STEP_VNNI), intp) as (j, _):
                xs = []
                for r, p in enumerate(x_ptrs):
                    x = builder.load(builder.bitcast(builder.gep(p, [j]), byte_vec.as_pointer()), align=1)
                    if signed:
                        x = builder.xor(x, flip)
                    x = builder.bitcast(x, lanes)
                    if not signed:
                        builder.store(builder.call(dpbusd, [builder.load(row_sums[r]), x, ones]), row_sums[r])
                    xs.append(x)
                for t, p in enumerate(w_ptrs):
                    w = builder.load(builder.bitcast(builder.gep(p, [j]), lanes.as_pointer()), align=1)
                    for r, x in enumerate(xs):
                        acc = accs[r * nq + t]
                        builder.store(builder.call(dpbusd, [builder.load(acc), x, w]), acc)
            vecs = [builder.load(a) for a in accs]
            if not signed:  # a uint8 row's sums fall short by 128 * its row sum: add it lane by lane
                backs = [builder.shl(builder.load(rs), ir.Constant(lanes, [7] * (STEP_VNNI // 4))) for rs in row_sums]
                vecs = [builder.add(v, backs[i // nq]) for i, v in enumerate(vecs)]
            total = _sum_lanes(builder, vecs)
            sums = []
            for i in range(nq * nx):
                s = builder.extract_element(total, i32(i))
                sums.append(builder.add(s, corr_v[i % nq]) if signed else s)
            return context.make_tuple(builder, signature.return_type, sums)

        return sig, codegen

    typer.__name__ = f"vnni_tile_{nq}x{nx}"
    typer.__doc__ = (f"Exact int32 dots, by ``vpdpbusd``, of query rows ``q0..q0+{nq}`` (``W``: int8 codes for "
                     f"int8 ``X``, uint8 codes less 128 for uint8 ``X``) with the {nx} stored rows ``rows`` "
                     "over their first ``n`` items (a multiple of STEP_VNNI); ``corr`` as above.")
    return intrinsic(typer)


#: Four queries against two stored rows, by VNNI (8 accumulators, plus 2 row sums for uint8).
vnni_tile_4x2 = _make_vnni_tile(4, 2)
#: One query against two stored rows, by VNNI.
vnni_tile_1x2 = _make_vnni_tile(1, 2)
