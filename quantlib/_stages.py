"""The certified first stages of a search: integer scans that keep candidates, then the exact kernels.

Three stages serve :meth:`quantlib._planner.Plan.topk` where they pay (each with the
conditions it applies under, and the cost measurements in :mod:`quantlib._kernels._config`):

- ``_topk_dense_wide``: batched float queries against int8/uint8 codes, int16 query
  weights and the integer tiles of :mod:`quantlib._kernels.intdot`;
- ``_topk_signs_wide``: batched float queries against bits, int16 lookup tables;
- ``_topk_signs_planes``: one to four float queries against bits, bit planes
  (:mod:`quantlib._kernels.planes`).

Each keeps candidates by an integer score, scores them with the exact kernels, and
certifies that no row left out could enter the top ``k``; a query it does not settle is
searched again by the exact kernels alone, so the result never depends on the stage.
They are methods of :class:`_TwoStages`, which :class:`~quantlib._planner.Plan` extends.
"""

from __future__ import annotations

import math

import numpy as np

from ._kernels import _config as C
from ._kernels import bits as KB
from ._kernels import dense as KD
from ._kernels import drivers as KDR
from ._kernels import intdot as KI
from ._kernels import lut as KL
from ._kernels import masked as KM
from ._kernels import planes as KP
from ._kernels import topk as KT


def _pad4(x: np.ndarray) -> np.ndarray:
    """``x`` with zero rows appended up to a multiple of four rows (query tiles); one row stays one."""
    n = x.shape[0]
    padded = -(-n // 4) * 4 if n > 1 else 1
    if padded == n:
        return np.ascontiguousarray(x)
    out = np.zeros((padded, *x.shape[1:]), x.dtype)
    out[:n] = x
    return out


def _wide_candidates(k: int) -> int:
    """Rows the int16 stage of a float-query search over bits keeps for ``k`` results."""
    return 2 * k + 16


def _empty_aligned(shape: tuple[int, ...], dtype: type, align: int = 64) -> np.ndarray:
    """``np.empty(shape, dtype)`` starting on an ``align``-byte boundary.

    The sign tables' entries are 64-byte vectors loaded at multiples of 64 from the start; numpy
    starts a large array 16 bytes past a page boundary about half the time, and then every load
    splits across two cache lines: 100 queries against 200,000 x 1024 bits took 0.27 s instead
    of 0.17 s on Zen 4.  (A zero-size result has no data to align.)
    """
    itemsize = np.dtype(dtype).itemsize
    count = math.prod(shape)
    buf = np.empty(count * itemsize + align, np.uint8)
    start = -buf.ctypes.data % align
    return buf[start:start + count * itemsize].view(dtype).reshape(shape)


class _TwoStages:
    """The certified two-stage searches of :class:`~quantlib._planner.Plan` (see the module docstring)."""

    def _dense_wide_applies(self, k: int) -> bool:
        c = self.corpus
        return (c.family == "affine" and self.W.dtype == np.float32 and self.nq >= C.DENSE_WIDE_MIN_QUERIES
                and k <= C.WIDE_MAX_K and _wide_candidates(k) * C.WIDE_MIN_ROWS_PER_CANDIDATE <= c.n
                and c.width <= KI.MAX_ITEMS[c.view.dtype.name] and c.width > 0)

    def _topk_dense_wide(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> int:
        """Float queries against int8/uint8 codes in two stages, with the exact result of the float kernels.

        1. Each query's float32 weights ``W`` become int16 ``V`` and a power-of-two scale ``s``
           with ``|W_j - s * V_j| <= s / 2`` and every int32 sum of ``V`` times codes exact; the
           integer tiles (:func:`~quantlib._kernels.intdot.dot_tile_4x2`, ``vpmaddwd``) keep the
           ``2k + 16`` best rows by ``(s * V.x * A + B) * RS + RB``.
        2. The union of a query tile's candidates is searched by the float kernels themselves,
           so every score is the float path's own.  A row left out has a float sum at most
           ``s * V.x`` plus ``L1(x) * (s / 2 + float32 rounding)``, so its score is at most the
           last candidate's plus ``A * max_i(RS_i * L1_i) * that`` plus the rounding of the
           affine map; when a row at that bound would rank strictly after the k-th key, the
           answer is exact (certified).  The per-row term ``RB`` (``-|x|^2`` of sqeuclidean) is
           the same in both stages, so it moves no bound; only the rounding allowance grows with
           ``max |RB|``, since the float32 sum ``(.) * RS + RB`` rounds relative to both terms.
           The tiles of queries not certified (ties at the boundary, duplicate rows) are searched
           again by the float kernels alone.

        Batches whose scores could come near float32's range skip the stage, so the float
        kernels raise as they do without it.  Returns the number of queries the first stage
        certified.
        """
        c = self.corpus
        nq, k = keys.shape
        kk = _wide_candidates(k)
        W = self.W.astype(np.float64)  # (4t, d), padded with zero rows
        d = W.shape[1]
        xmax = float(max(abs(c.affine.low), abs(c.affine.high)))
        absw = np.abs(W)
        wmax = absw.max(axis=1)
        reach = float(np.max(self.RS.astype(np.float64) * c.code_l1()))
        rbmax = 0.0 if self.RB is None else float(np.abs(self.RB).max(initial=0.0))
        big = absw.sum(axis=1) * xmax * max(1.0, float(self.RS.max(initial=0.0))) * np.abs(self.A)
        if (big + np.abs(self.B) + rbmax >= 2.0**100).any():  # float32 could overflow: the float kernels raise
            self._topk_dense(keys, ids, par, nchunks)
            return 0
        need = np.maximum(wmax / 32767.0, xmax * absw.sum(axis=1) / (2.0**31 - 1 - xmax * d))
        scale = np.exp2(np.ceil(np.log2(np.where(need > 0, need, 1.0))))
        V = np.rint(W / scale[:, None]).astype(np.int16)
        A = self.A.astype(np.float64)
        B = self.B.astype(np.float64)
        RS = self.RS.astype(np.float64)
        RB = None if self.RB is None else self.RB.astype(np.float64)
        ikeys = np.full((nq, kk), np.inf, np.float64)
        cand = np.full((nq, kk), -1, np.int64)
        rb = self._rb()
        if self.allow is not None:  # only allowed rows become candidates: the bound below covers those
            KM.search("dense", (V, c.view, A * scale, B, RS, RB), self.allow, rb, nchunks if par else 1, ikeys, cand)
        elif par:
            KD.search_parallel(V, c.view, A * scale, B, RS, RB, rb, nchunks, ikeys, cand)
        else:
            KD.search_range(V, c.view, A * scale, B, RS, RB, 0, c.n, rb, ikeys, cand)
        for q0 in range(0, nq, 4):
            q1 = min(nq, q0 + 4)
            rows = np.unique(cand[q0:q1])
            rows = rows[rows >= 0]
            sub_ids = ids[q0:q1]
            KD.search_range(self.W[q0:q0 + 4], np.ascontiguousarray(c.view[rows]), self.A[q0:q0 + 4],
                            self.B[q0:q0 + 4], np.ascontiguousarray(self.RS[rows]),
                            None if self.RB is None else np.ascontiguousarray(self.RB[rows]), 0, len(rows), rb,
                            keys[q0:q1], sub_ids)
            sub_ids[...] = np.where(sub_ids >= 0, rows[np.maximum(sub_ids, 0)], -1)
        # the bound of every row left out (see above), rounded generously: float32 sums of d
        # products err by at most d units of 2^-24 of sum |W_j x_j| <= max|W| L1; the affine map
        # and the float64 first stage add a few units of the values involved.
        a, b = A[:nq], B[:nq]
        per_l1 = scale[:nq] / 2 + (d + 4) * 2.0**-23 * wmax[:nq]
        upper = -ikeys[:, -1] + a * reach * per_l1
        bound = upper + 2.0**-20 * (np.abs(upper) + np.abs(b) * float(RS.max(initial=0.0)) + rbmax) + 2.0**-120
        last = -keys[:, -1].astype(np.float64)
        ok = np.isfinite(bound) & (cand[:, -1] >= 0) & (last > bound)
        if not ok.all():
            tiles = np.unique(np.flatnonzero(~ok) // 4)
            pick = (4 * tiles[:, None] + np.arange(4)).ravel()
            again = type(self)("dense", self.metric, c, len(pick), self.score_dtype, W=self.W[pick],
                         A=self.A[pick], B=self.B[pick], RS=self.RS, RB=self.RB, allow=self.allow,
                         scan_rows=self.scan_rows)
            sub_keys = np.full((len(pick), k), np.inf, keys.dtype)
            sub_ids = np.full((len(pick), k), -1, np.int64)
            again._topk_dense(sub_keys, sub_ids, par, nchunks)
            take = pick < nq
            keys[pick[take]] = sub_keys[take]
            ids[pick[take]] = sub_ids[take]
        return int(ok.sum())

    def _topk_signs_wide(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> int:
        """Float queries against bits in two stages, with the exact result of :meth:`_topk_signs`.

        1. Each query becomes int16 weights (:func:`~quantlib._kernels.lut.int16_weights`)
           whose integer score, times the query's scale, is within ``err`` of its
           float score for every row; int16 tables of 32 queries per 64-byte vector
           halve the table bytes per query and double the lanes per add, and the scan
           keeps the ``2k + 16`` best rows by integer score.
        2. Those candidates are scored exactly as the float tables score them, and the
           best ``k`` kept.  Every other row's float sum is at most the last
           candidate's integer score times the scale, plus ``err``, plus the float32
           rounding of a table sum; when a row at that bound would still rank strictly
           after the k-th key, the answer is the exact one (certified).  Queries not
           certified (ties at the boundary, identical rows, overflow) are searched
           again by the float tables alone, so the result never depends on the stage.

        Returns the number of queries the first stage certified.
        """
        c = self.corpus
        q = self.Qf
        nq, d = q.shape
        kk = _wide_candidates(keys.shape[1])
        Qi = np.empty((nq, d), np.int16)
        scale = np.empty(nq, np.float64)
        err = np.empty(nq, np.float64)
        KL.int16_weights(q, Qi, scale, err)
        T16 = _empty_aligned((-(-nq // KL.WIDE_GROUP), c.width, 256, KL.WIDE_GROUP), np.int16)
        KL.build_tables16(Qi, self.flip, T16)
        ikeys = np.full((nq, kk), np.iinfo(np.int64).max, np.int64)
        cand = np.full((nq, kk), -1, np.int64)
        if self.allow is not None:  # only allowed rows become candidates: the bound below covers those
            KM.search("signs16", (c.view, T16), self.allow, C.SIGNS16_BLOCK_ROWS, nchunks if par else 1, ikeys, cand)
        elif par:
            KB.signs16_search_parallel(c.view, T16, C.SIGNS16_BLOCK_ROWS, nchunks, ikeys, cand)
        else:
            KB.signs16_search_range(c.view, T16, 0, c.n, C.SIGNS16_BLOCK_ROWS, ikeys, cand)
        # the float sum of any row left out: its real sum is within err of scale * (an integer
        # score no higher than the last candidate's); summing w float32 entries adds at most
        # w units of rounding (2^-24) of sum |q| (and w subnormal steps): twice that is allowed.
        # That holds while no partial sum can overflow: a query whose sum |q| nears float32's
        # largest value is not certified (a partial sum at inf makes a row's score inf).
        abs1 = np.abs(q).sum(axis=1, dtype=np.float64)
        w = c.width
        bound = scale * (-ikeys[:, -1]).astype(np.float64) + err
        bound += (w + 4) * 2.0 ** -23 * abs1 + 1e-12 * (abs1 + np.abs(bound)) + w * 2.0 ** -149
        bound[abs1 * (1 + 2.0 ** -16) >= float(np.finfo(np.float32).max)] = np.inf
        bound[ikeys[:, -1] == np.iinfo(np.int64).max] = np.inf  # a list not filled bounds nothing
        with np.errstate(over="ignore"):
            b32 = bound.astype(np.float32)
        b32 = np.where(b32 < bound, np.nextafter(b32, np.float32(np.inf)), b32)  # round up, never down
        ok = KB.signs_finish(q, c.view, self.flip, cand, self.A, self.B, b32, keys, ids)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            again = type(self)("signs", self.metric, c, len(bad), self.score_dtype, A=self.A[bad], B=self.B[bad],
                         Qf=q[bad], flip=self.flip, dim=self.dim, allow=self.allow, scan_rows=self.scan_rows)
            sub_keys = np.full((len(bad), keys.shape[1]), np.inf, keys.dtype)
            sub_ids = np.full((len(bad), keys.shape[1]), -1, np.int64)
            again._topk_signs(sub_keys, sub_ids, par, nchunks)
            keys[bad] = sub_keys
            ids[bad] = sub_ids
        return int(ok.sum())

    def _planes_applies(self, k: int) -> bool:
        c = self.corpus
        # a filtered scan (``allow``) keeps to the masked float tables: the plane scan has no mask
        return (self.allow is None and self.nq <= C.PLANES_MAX_QUERIES and k <= C.WIDE_MAX_K
                and _wide_candidates(k) * C.WIDE_MIN_ROWS_PER_CANDIDATE <= c.n)

    def _topk_signs_planes(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> int:
        """Float queries against bits by bit planes, with the exact result of :meth:`_topk_signs`.

        1. Each query becomes sign and magnitude planes of integer weights ``v``
           (:func:`~quantlib._kernels.planes.plane_weights`) with
           ``|q.s - scale * (2 I(x) - S)| <= err`` for every row ``x`` (``S = sum |v|``).
           One scan (AND and popcount per plane) keeps the ``k`` best rows by the
           integer score ``I``, and every row whose ``I`` comes within ``reach`` of
           the running ``k``-th (``reach``: ``err`` and the float rounding in units of
           ``scale``).
        2. The ``k`` best rows by ``I`` scored exactly (as the float tables score them)
           give a lower bound of the true ``k``-th score; every row whose ``I`` could
           reach it (``I >= T``; the buffer of step 1 holds them all) is scored exactly,
           and the best ``k`` kept.  A row left out has a float sum at most
           ``scale * (2 (T - 1) - S) + err`` plus the rounding of a table sum, and
           :func:`~quantlib._kernels.bits.signs_finish` certifies that a row at that
           bound ranks strictly after the ``k``-th key.
        3. Queries not certified (too many rows near the top, a zero or huge query)
           are searched again by the float tables alone, so the result never depends
           on the stage.

        Returns the number of queries the stage certified.
        """
        c = self.corpus
        q = self.Qf
        A, B = self.A, self.B
        nq, d = q.shape
        k = keys.shape[1]
        w = c.width
        V = np.empty((nq, d), np.int8)
        scale = np.empty(nq, np.float64)
        err = np.empty(nq, np.float64)
        KP.plane_weights(q, V, scale, err)
        P = KP.pack_planes(V, self.flip, w)
        S = np.abs(V.astype(np.int64)).sum(axis=1)
        abs1 = np.abs(q).sum(axis=1, dtype=np.float64)
        a = A.astype(np.float64)
        b = B.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            offset = np.where(a > 0, np.abs(b) / a, np.inf)
        # float32 table sums are within (w + 4) units of 2^-24 of sum |q| of the exact sum (see
        # _topk_signs_wide); the margin covers the affine map's rounding and float64's
        rnd = (w + 4) * 2.0 ** -23 * abs1 + w * 2.0 ** -149
        margin = 2.0 ** -20 * (2 * abs1 + offset) + 1e-12 * abs1 + 2.0 ** -120
        usable = (a > 0) & np.isfinite(offset) & (abs1 * (1 + 2.0 ** -16) < float(np.finfo(np.float32).max))
        with np.errstate(over="ignore", invalid="ignore"):
            reach_f = np.where(usable, (err + rnd + margin) / scale, 0.0) + 2
        usable &= reach_f < 2.0 ** 40
        reach = np.where(usable, np.ceil(reach_f), 0).astype(np.int64)
        cap = max(4 * k + 64, C.PLANES_BUFFER_ROWS)
        big = np.iinfo(np.int64).max
        chunks = nchunks if par else 1
        ikeys = np.full((chunks, nq, k), big, np.int64)
        icand = np.full((chunks, nq, k), -1, np.int64)
        bk = np.empty((chunks, nq, cap), np.int64)
        bi = np.empty((chunks, nq, cap), np.int64)
        bn = np.zeros((chunks, nq), np.int64)
        if par:
            bounds = KDR.chunk_bounds(c.n, chunks, 1)
            KP.planes_search_parallel(c.view, P, C.PLANES_BLOCK_ROWS, reach, bounds, ikeys, icand, bk, bi, bn)
            top_keys = np.full((nq, k), big, np.int64)
            top_ids = np.full((nq, k), -1, np.int64)
            KDR.merge_parts(ikeys, icand, top_keys, top_ids)
        else:
            KP.planes_search_range(c.view, P, 0, c.n, C.PLANES_BLOCK_ROWS, reach, ikeys[0], icand[0], bk[0], bi[0],
                                   bn[0])
            top_keys, top_ids = ikeys[0], icand[0]
            KT.finish(top_keys, top_ids)
        # the exact keys of the k best rows by I: k real rows, so their k-th is a bound the final k-th meets
        KB.signs_finish(q, c.view, self.flip, top_ids, A, B, np.full(nq, np.inf, np.float32), keys, ids)
        last = keys[:, -1].astype(np.float64)
        ok = np.zeros(nq, np.bool_)
        for t in range(nq):
            if not (usable[t] and np.isfinite(last[t]) and top_ids[t, -1] >= 0 and (bn[:, t] >= 0).all()):
                continue
            target = (-last[t] - b[t]) / a[t]  # a row's float sum must stay below this (with margin)
            x = ((target - margin[t] - err[t] - rnd[t]) / scale[t] + S[t]) / 2
            low = math.floor(x)  # rows with I >= low are scored exactly
            if not (np.isfinite(x) and low >= -top_keys[t, -1] - reach[t]):  # the buffers hold them all
                continue
            rows = np.concatenate([bi[j, t, :bn[j, t]][bk[j, t, :bn[j, t]] >= low] for j in range(chunks)])
            if len(rows) < k:
                continue
            bound = scale[t] * (2.0 * (low - 1) - S[t]) + err[t]
            bound += rnd[t] + 1e-12 * (abs1[t] + abs(bound))
            b32 = np.float32(bound)
            if b32 < bound:
                b32 = np.nextafter(b32, np.float32(np.inf))  # round up, never down
            ok[t] = KB.signs_finish(q[t:t + 1], c.view, self.flip, rows[None], A[t:t + 1], B[t:t + 1],
                                    np.array([b32], np.float32), keys[t:t + 1], ids[t:t + 1])[0]
        if not ok.all():
            bad = np.flatnonzero(~ok)
            again = type(self)("signs", self.metric, c, len(bad), self.score_dtype, A=A[bad], B=B[bad],
                         Qf=q[bad], flip=self.flip, dim=self.dim)
            sub_keys = np.full((len(bad), k), np.inf, keys.dtype)
            sub_ids = np.full((len(bad), k), -1, np.int64)
            again._topk_signs(sub_keys, sub_ids, par, nchunks)
            keys[bad] = sub_keys
            ids[bad] = sub_ids
        return int(ok.sum())
