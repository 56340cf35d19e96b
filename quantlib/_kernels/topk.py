"""Bounded top-k lists shared by the search kernels.

A search keeps, per query, the ``k`` best candidates seen so far in two rows
``keys[q]`` and ``ids[q]`` sorted best first.  Keys are *lower is better*
(a Hamming count, or the negated similarity), so one comparison against
``keys[q, k - 1]`` rejects almost every candidate of a long scan.

Ties are broken by the lower index: a scan visits rows in increasing order and
:func:`insert` places a new candidate *after* the ones with an equal key, so
the earlier row stays ahead; :func:`merge` folds per-thread lists in the order
of their row ranges, which keeps that rule.  Empty slots hold the largest key
(``inf`` or the integer maximum) and the id ``-1``.
"""

from __future__ import annotations

from numba import njit

from ._config import EXACT, FAST


@njit(**EXACT)
def insert(keys, ids, q, key, idx):
    """Insert ``(key, idx)`` into the sorted row ``q`` (the caller checked ``key < keys[q, -1]``)."""
    p = keys.shape[1] - 1
    while p > 0 and keys[q, p - 1] > key:
        keys[q, p] = keys[q, p - 1]
        ids[q, p] = ids[q, p - 1]
        p -= 1
    keys[q, p] = key
    ids[q, p] = idx


@njit(**EXACT)
def insert_any_order(keys, ids, q, key, idx):
    """:func:`insert` for candidates that arrive in any row order: equal keys are ordered by row.

    The caller checked ``(key, idx)`` ranks before the last entry (or that slot is empty).
    """
    p = keys.shape[1] - 1
    while p > 0 and (keys[q, p - 1] > key or (keys[q, p - 1] == key and ids[q, p - 1] > idx)):
        keys[q, p] = keys[q, p - 1]
        ids[q, p] = ids[q, p - 1]
        p -= 1
    keys[q, p] = key
    ids[q, p] = idx


@njit(**FAST)
def merge(part_keys, part_ids, keys, ids):
    """Fold per-chunk lists ``part_*[c]`` (chunks in row order) into ``keys``/``ids``."""
    nparts, nq, kp = part_keys.shape
    last = keys.shape[1] - 1
    for c in range(nparts):
        for q in range(nq):
            for t in range(kp):
                key = part_keys[c, q, t]
                if part_ids[c, q, t] < 0 or not key < keys[q, last]:
                    break  # the rest of this sorted list is no better
                insert(keys, ids, q, key, part_ids[c, q, t])
