"""Bounded top-k lists shared by the search kernels.

A search keeps, per query, the ``k`` best candidates seen so far in two rows
``keys[q]`` and ``ids[q]``.  Keys are *lower is better* (a Hamming count, or
the negated similarity); candidates rank by ``(key, id)``, so equal keys go to
the lower row id whatever order rows arrive in: a total order, since ids are
distinct.

During a scan a row is a binary max-heap on that order: the worst kept
candidate sits at ``[q, 0]``, so one comparison against ``keys[q, 0]``
rejects almost every candidate of a long scan, and one that gets in costs
``O(log k)`` (:func:`push`) instead of the ``O(k)`` shift of a sorted list
(``k = n`` over 200,000 rows took 22 s that way).  :func:`finish` sorts each
row best first at the end (a heap sort, in place, ``O(k log k)``), which is
the layout every kernel entry point takes and returns: :func:`heapify` turns
it back into a heap (a sorted row reversed is already one).  :func:`merge`
folds per-thread heaps into one by the same order, so the result does not
depend on the number of threads.

Empty slots hold the largest key (``inf`` or the integer maximum) and the id
``-1``; a candidate is only taken with a key below the root's (or an equal
key and a lower id), so a key at that maximum, or NaN, never enters.
"""

from __future__ import annotations

from numba import njit

from ._config import EXACT


@njit(**EXACT)
def _after(ka, ia, kb, ib):
    """Whether ``(ka, ia)`` ranks after ``(kb, ib)``."""
    return ka > kb or (ka == kb and ia > ib)


@njit(**EXACT)
def _sift(kr, ir, p, n, key, idx):
    """Place ``(key, idx)`` at slot ``p`` of the heap ``kr[:n]``/``ir[:n]`` and sift it down."""
    while True:
        c = 2 * p + 1
        if c >= n:
            break
        if c + 1 < n and _after(kr[c + 1], ir[c + 1], kr[c], ir[c]):
            c += 1
        if not _after(kr[c], ir[c], key, idx):
            break
        kr[p] = kr[c]
        ir[p] = ir[c]
        p = c
    kr[p] = key
    ir[p] = idx


@njit(**EXACT)
def push(keys, ids, q, key, idx):
    """Replace the worst entry of heap ``q`` by ``(key, idx)``.

    The caller checked that ``(key, idx)`` ranks before the root: for rows
    scanned in increasing order that is ``key < keys[q, 0]``.
    """
    _sift(keys[q], ids[q], 0, keys.shape[1], key, idx)


@njit(**EXACT)
def offer(keys, ids, q, key, idx):
    """:func:`push` ``(key, idx)`` if it ranks before the root of heap ``q`` (candidates in any order)."""
    if key < keys[q, 0] or (key == keys[q, 0] and idx < ids[q, 0]):
        _sift(keys[q], ids[q], 0, keys.shape[1], key, idx)


@njit(**EXACT)
def _each_row(keys, ids, sort):
    """Heap-sort every heap row best first (``sort``), or make every row a heap (``O(k)`` a row)."""
    k = keys.shape[1]
    for q in range(keys.shape[0]):
        kr = keys[q]
        ir = ids[q]
        if not sort:
            for p in range(k // 2 - 1, -1, -1):
                _sift(kr, ir, p, k, kr[p], ir[p])
            continue
        for end in range(k - 1, 0, -1):
            key = kr[end]
            idx = ir[end]
            kr[end] = kr[0]
            ir[end] = ir[0]
            _sift(kr, ir, 0, end, key, idx)


@njit(**EXACT)
def heapify(keys, ids):
    """Make every row a heap, whatever its order (``O(k)`` per row)."""
    _each_row(keys, ids, False)


@njit(**EXACT)
def finish(keys, ids):
    """Sort every heap row best first: ascending ``(key, id)``, empty slots last."""
    _each_row(keys, ids, True)


@njit(**EXACT)
def merge(part_keys, part_ids, keys, ids):
    """Fold the per-chunk heaps ``part_*[c]`` into the heaps ``keys``/``ids`` (any chunk order)."""
    nparts, nq, kp = part_keys.shape
    for c in range(nparts):
        for q in range(nq):
            for t in range(kp):
                if part_ids[c, q, t] >= 0:
                    offer(keys, ids, q, part_keys[c, q, t], part_ids[c, q, t])
