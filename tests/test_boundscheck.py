"""Kernels under bounds checking: the test mode ``.ci/run`` runs the kernel-heavy tests in.

``NUMBA_BOUNDSCHECK=1`` makes numba check every array index in every kernel
and raise ``IndexError`` instead of reading or writing past an array.  It has
to be set before numba compiles anything, and numba's on-disk cache does not
key on it, so that run gets its own ``NUMBA_CACHE_DIR``: bounds-checked and
unchecked machine code never mix.  The one read numba cannot see,
:func:`quantlib._kernels.popcount.load_u64` (eight bytes at once, through a
pointer), and the vector loads of :mod:`quantlib._kernels.intdot` check
themselves in that mode.  These tests show the mode is real.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from quantlib._kernels import bits as KB
from quantlib._kernels import intdot as KI
from quantlib._kernels import topk as KT

PROBE = """
import numpy as np, numba
from quantlib._kernels import bits as KB, intdot as KI, topk as KT
assert numba.config.BOUNDSCHECK
X = np.arange(4 * 16, dtype=np.uint8).reshape(4, 16)
Q = np.zeros((1, 2), np.uint64)
buf = np.zeros((1, 8), np.int64)
KB._hamming_one(X, Q, 0, 4, buf)                      # in range: fine
try:
    KB._hamming_one(X, Q, 0, 5, buf)                  # row 4 of 4: a word load past the end
    print("unchecked load_u64")
except IndexError:
    print("load_u64 checked")
W = np.zeros((4, 16), np.int16)
C = np.zeros((2, 16), np.int8)
tile = numba.njit(lambda W, X, rows, n: KI.dot_tile_4x2(W, X, 0, rows, n))
tile(W, C, (0, 1), 16)                                # in range: fine
for rows, n in (((0, 2), 16), ((0, 1), 32)):          # row 2 of 2; 32 items of 16
    try:
        tile(W, C, rows, n)
        print("unchecked dot_tile")
    except IndexError:
        print("dot_tile checked")
if KI.VNNI:
    vnni = numba.njit(lambda W, X, rows, n: KI.vnni_tile_4x2(W, X, 0, rows, n, (0, 0, 0, 0)))
    W8, C8 = np.zeros((4, 64), np.int8), np.zeros((2, 64), np.uint8)
    vnni(W8, C8, (0, 1), 64)                          # in range: fine
    for rows, n in (((0, 2), 64), ((0, 1), 128)):     # row 2 of 2; 128 items of 64
        try:
            vnni(W8, C8, rows, n)
            print("unchecked vnni_tile")
        except IndexError:
            print("vnni_tile checked")
from quantlib._kernels import lut as KL
rows = numba.njit(lambda T, X, acc: KL.lut_rows_1(T, X, 0, 0, 0, 2, acc))
X2 = np.zeros((1, 2), np.uint8)
rows(np.zeros((2, 256, 8), np.float32), X2, np.zeros((1, 8), np.float32))   # a known width: fine
try:
    rows(np.zeros((2, 256, 4), np.float32), X2, np.zeros((1, 4), np.float32))  # a width it has no loop for
    print("unchecked lut_width")
except IndexError:
    print("lut_width checked")
rows16 = numba.njit(lambda T, X, acc, p1: KL.lut16_rows_1(T, X, 0, 0, 0, p1, acc))
T16, X40, acc16 = np.zeros((40, 256, 32), np.int16), np.zeros((1, 40), np.uint8), np.zeros((1, 32), np.int32)
rows16(T16, X40, acc16, KL.WIDE_SPAN)                 # one window of int16 sums: fine
try:
    rows16(T16, X40, acc16, KL.WIDE_SPAN + 1)         # a byte more could overflow an int16 lane
    print("unchecked lut16_span")
except IndexError:
    print("lut16_span checked")
keys, ids = np.full((2, 3), np.inf), np.full((2, 3), -1)
KT.push(keys, ids, 1, 0.5, 7)                         # in range: fine
try:
    KT.push(keys, ids, 2, 0.5, 7)                     # list 2 of 2
    print("unchecked index")
except IndexError:
    print("index checked")
"""


def test_bounds_checking_mode_turns_out_of_range_access_into_index_error(tmp_path):
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    vnni = ["vnni_tile", "checked"] * 2 if KI.VNNI else []  # where the machine has VNNI
    assert run.stdout.split() == ["load_u64", "checked", "dot_tile", "checked", "dot_tile", "checked", *vnni,
                                  "lut_width", "checked", "lut16_span", "checked", "index", "checked"]


def test_this_run_checks_bounds_exactly_when_asked():
    asked = os.environ.get("NUMBA_BOUNDSCHECK") == "1"
    assert bool(numba.config.BOUNDSCHECK) == asked
    if asked:  # the .ci/run bounds-checked pass: the kernels of this very process check
        X = np.zeros((2, 8), np.uint8)
        with pytest.raises(IndexError):
            KB._hamming_one(X, np.zeros((1, 1), np.uint64), 0, 3, np.zeros((1, 4), np.int64))
        with pytest.raises(IndexError):
            KT.push(np.full((2, 3), np.inf), np.full((2, 3), -1), 2, 0.5, 7)
