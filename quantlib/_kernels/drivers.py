"""Drivers made from range kernels: serial search, parallel search, parallel scores.

Every scan kernel of quantlib is written once, as a *range kernel* over rows
``r0..r1`` (or documents ``d0..d1``); what runs it over a whole corpus is the
same everywhere, so it is made here from the range kernel, in numbagg's style:

- :func:`search_drivers`: from ``heap(*lead, r0, r1, *mid, keys, ids)``, which
  folds rows into top-k heaps (:mod:`~quantlib._kernels.topk`), the serial
  ``search(*lead, r0, r1, *mid, keys, ids)`` (lists sorted best first in and
  out) and the parallel ``search_parallel(*lead, *mid, nchunks, keys, ids)``:
  ``nchunks`` row ranges in ``prange``, one heap per chunk, merged by
  :func:`~quantlib._kernels.topk.merge` (which ranks by (key, id), so the
  result does not depend on the number of chunks), or the same over chunk
  bounds given as an array (``bounds=True``: ``search_parallel(*lead, *mid,
  bounds, keys, ids)``);
- :func:`blocks_driver`: from ``fill(*lead, r0, r1, *tail)`` the parallel
  ``fill_parallel(*lead, *tail)``, one block of rows per work item;
- :func:`maxsim_drivers`: the MaxSim quartet (scores of a list of documents and
  top-k search, serial and parallel) from one document scorer.

The generated drivers take their arguments as ``*args`` and find the pieces
by position, worked out here from the range kernel's parameter names: a range
kernel that gains an argument gets drivers that take it too, with no change
here.  A driver returns whether any range kernel call returned True (a
non-finite score, for the caller to raise); range kernels that return nothing
count as False.

Caching: each driver is a fresh function object whose code is one of the
templates below, with the range kernel and the argument positions in its own
globals (not in closure cells: numba hashes closure contents into the cache
key, and a dispatcher pickles with a random uuid, so a closure would never be
loaded from the cache).  Numba names a function's cache files by its module,
qualified name and first line, so every driver gets a qualified name of its
own, made from its range kernel's module and name; :func:`_make` refuses a
name already made for another range kernel, so two drivers never share cache files.  As for every cached numba
function, the machine code of the range kernel is linked into the driver's:
after editing a range kernel, clear the numba cache (its index only watches
this file).
"""

from __future__ import annotations

import inspect
import types as pytypes

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ._config import EXACT, FAST
from .topk import finish, heapify, merge, push

# --------------------------------------------------------------------------- helpers used by the templates


def worst(keys):
    """The key of an empty top-k slot: ``inf`` for float keys, the integer maximum otherwise."""
    return np.iinfo(keys.dtype).max if keys.dtype.kind in "iu" else np.inf  # NUMBA_DISABLE_JIT=1


@overload(worst)
def _worst_impl(keys):
    if isinstance(keys.dtype, types.Float):
        return lambda keys: np.inf
    if isinstance(keys.dtype, types.Integer):
        big = np.iinfo(np.dtype(str(keys.dtype))).max
        return lambda keys: big
    return None


def flag(ret):
    """A range kernel's return value as a bool: its own if it returns one, else False."""
    return bool(ret)  # NUMBA_DISABLE_JIT=1


@overload(flag)
def _flag_impl(ret):
    if isinstance(ret, types.Boolean):
        return lambda ret: ret
    if ret is None or isinstance(ret, types.NoneType):
        return lambda ret: False
    return None


@njit(**EXACT)
def merge_parts(part_keys, part_ids, keys, ids):
    """Fold the per-chunk heaps into ``keys``/``ids`` and sort them best first."""
    heapify(keys, ids)
    merge(part_keys, part_ids, keys, ids)
    finish(keys, ids)


@njit(**EXACT)
def chunk_bounds(n, nchunks, align):
    """Bounds of ``nchunks`` row ranges of equal size (a multiple of ``align``) over ``n`` rows."""
    size = (n + nchunks - 1) // nchunks
    size += (align - size % align) % align
    bounds = np.empty(nchunks + 1, np.int64)
    for c in range(nchunks + 1):
        bounds[c] = min(n, c * size)
    return bounds


@njit(**EXACT)
def empty_parts(nchunks, keys, ids):
    """One empty top-k heap per chunk, shaped and typed like ``keys``/``ids``."""
    nq, k = keys.shape
    part_keys = np.full((nchunks, nq, k), worst(keys), keys.dtype)
    part_ids = np.full((nchunks, nq, k), -1, ids.dtype)
    return part_keys, part_ids


# --------------------------------------------------------------------------- templates
#
# Names in capitals are globals of each generated function (see _make): RANGE (the range
# kernel), LEAD (how many arguments come before r0), ROWS (which argument has the rows),
# ALIGN (chunk starts are a multiple of it), BOUNDS (chunks given as bounds), BLOCK and SIZE
# (the argument that holds the block size, or the size), STATE and SCORE (a MaxSim family's
# scratch allocator and document scorer).


def _search_template(*args):
    """Serial search: ``heapify``, the range kernel, ``finish`` (lists sorted best first)."""
    keys = args[-2]
    ids = args[-1]
    heapify(keys, ids)
    bad = flag(RANGE(*args))  # noqa: F821 - a global of the generated function
    finish(keys, ids)
    return bad


def _parallel_search_template(*args):
    """Parallel search, one heap per chunk, merged (``args = (*lead, *mid, nchunks or bounds, keys, ids)``).

    With ``BOUNDS`` the chunks are ``bounds[c]:bounds[c + 1]``; else ``nchunks`` equal
    row ranges (numba prunes the branch not taken before typing).
    """
    lead = args[:LEAD]  # noqa: F821
    mid = args[LEAD:-3]  # noqa: F821
    keys = args[-2]
    ids = args[-1]
    if BOUNDS:  # noqa: F821
        bounds = args[-3]
    else:
        bounds = chunk_bounds(args[ROWS].shape[0], args[-3], ALIGN)  # noqa: F821
    nchunks = bounds.shape[0] - 1
    part_keys, part_ids = empty_parts(nchunks, keys, ids)
    bad = np.zeros(nchunks, np.bool_)
    for c in prange(nchunks):
        bad[c] = flag(RANGE(*(lead + (bounds[c], bounds[c + 1]) + mid + (part_keys[c], part_ids[c]))))  # noqa: F821
    merge_parts(part_keys, part_ids, keys, ids)
    return bad.any()


def _blocks_template(*args):
    """Parallel fill, one row block per work item (``args = (*lead, *tail)``).

    The block size is ``args[BLOCK]``, or the constant ``SIZE`` when ``BLOCK`` is -1
    (numba prunes the branch not taken before typing).
    """
    lead = args[:LEAD]  # noqa: F821
    tail = args[LEAD:]  # noqa: F821
    n = args[ROWS].shape[0]  # noqa: F821
    if BLOCK < 0:  # noqa: F821
        rb = SIZE  # noqa: F821
    else:
        rb = args[BLOCK]  # noqa: F821
    nblocks = (n + rb - 1) // rb
    bad = np.zeros(nblocks, np.bool_)
    for b in prange(nblocks):
        bad[b] = flag(RANGE(*(lead + (b * rb, min(n, (b + 1) * rb)) + tail)))  # noqa: F821
    return bad.any()


def _docs_template(*args):
    """MaxSim over documents: their scores, or (``HEAP``) their top-k heap.

    Scores (``args = (*lead, ids, lo, hi, out)``): of documents ``ids[lo:hi]`` into
    ``out[lo:hi]``.  Heap (``args = (*lead, d0, d1, keys, ids)``): documents d0..d1 folded into
    the top-k heap ``keys[0]``/``ids[0]``, keys negated scores rounded to the key dtype as
    :func:`maxsim` rounds its scores; a non-finite one is listed first, for the caller to raise.
    The document scored next is prefetched meanwhile.  Numba prunes the branches not taken
    before typing.
    """
    lead = args[:-4]
    if HEAP:  # noqa: F821
        lo, hi, keys, ids = args[-4], args[-3], args[-2], args[-1]
        key = np.empty(1, keys.dtype)
    else:
        ids, lo, hi, out = args[-4], args[-3], args[-2], args[-1]
    state = STATE(*lead)  # noqa: F821
    for r in range(lo, hi):
        if HEAP:  # noqa: F821
            key[0] = -SCORE(*(lead + (state, r, r + 1 if r + 1 < hi else -1)))  # noqa: F821
            if not np.isfinite(key[0]):
                key[0] = -np.inf
            if key[0] < keys[0, 0]:
                push(keys, ids, 0, key[0], r)
        else:
            out[r] = SCORE(*(lead + (state, ids[r], ids[r + 1] if r + 1 < hi else -1)))  # noqa: F821


def _doc_scores_parallel_template(*args):
    """MaxSim scores over chunks ``bounds[c]:bounds[c + 1]`` of ``ids`` (``args = (*lead, ids, bounds, out)``)."""
    lead = args[:-3]
    ids = args[-3]
    bounds = args[-2]
    out = args[-1]
    for c in prange(bounds.shape[0] - 1):
        RANGE(*(lead + (ids, bounds[c], bounds[c + 1], out)))  # noqa: F821


# --------------------------------------------------------------------------- the factory

#: Name of every driver made -> where its range kernel is defined (file and first line).
_MADE: dict[str, str] = {}


def _py(kernel):
    """The Python function of a dispatcher (itself under ``NUMBA_DISABLE_JIT=1``)."""
    return getattr(kernel, "py_func", kernel)


def _params(kernel) -> list[str]:
    return list(inspect.signature(_py(kernel)).parameters)


def _origin(kernel) -> str:
    code = _py(kernel).__code__
    return f"{code.co_filename}:{code.co_firstlineno}"


def _make(template, name: str, options: dict, origin: str, **consts):
    """A new jitted function with ``template``'s code, named ``name``, ``consts`` among its globals.

    Numba keys cache files by that name: a second driver of the name for another
    range kernel is refused (the same one again, as after a module reload, is not).
    """
    if _MADE.setdefault(name, origin) != origin:
        raise ValueError(f"a driver named {name!r} exists already, for the range kernel at {_MADE[name]}: "
                         f"two drivers may not share cache files")
    glb = dict(globals())
    glb.update(consts)
    fn = pytypes.FunctionType(template.__code__, glb, name)
    fn.__qualname__ = name
    fn.__doc__ = template.__doc__
    return njit(**options)(fn)


def _tag(kernel, suffix: str) -> str:
    """The driver's qualified name: its range kernel's module and name, and what it does."""
    mod = _py(kernel).__module__.rsplit(".", 1)[-1]
    return f"{mod}__{_py(kernel).__name__.lstrip('_')}__{suffix}"


def search_drivers(heap, *, rows: str = "X", align: int = 1, bounds: bool = False, fast: bool = True):
    """``(search, search_parallel)`` made from the heap kernel ``heap(*lead, r0, r1, *mid, keys, ids)``.

    ``rows`` names the argument whose rows are split (``bounds=False``), ``align``
    makes every chunk start a multiple of it, ``bounds=True`` takes the chunks
    as an array of bounds instead of a count; ``fast`` chooses the FAST jit
    options (else EXACT).  The range parameters are the ones named ``r0``/``r1``
    (or ``d0``/``d1``).
    """
    params = _params(heap)
    start = params.index("r0") if "r0" in params else params.index("d0")
    options = FAST if fast else EXACT
    origin = _origin(heap)
    search = _make(_search_template, _tag(heap, "search"), options, origin, RANGE=heap)
    parallel = _make(_parallel_search_template, _tag(heap, "search_parallel"), {"parallel": True, **options},
                     origin, RANGE=heap, LEAD=start, ROWS=0 if bounds else params.index(rows), ALIGN=align,
                     BOUNDS=bounds)
    return search, parallel


def blocks_driver(fill, *, rows: str = "X", block: str | int = "rb", fast: bool = True):
    """``fill_parallel(*lead, *tail)`` from ``fill(*lead, r0, r1, *tail)``, one block of rows per work item.

    ``rows`` names the argument whose rows are split; ``block`` the one that
    holds the block size (an argument of both: the driver passes it on), or is
    the block size itself.
    """
    params = _params(fill)
    start = params.index("r0")
    driver_params = params[:start] + params[start + 2:]
    options = FAST if fast else EXACT
    at, size = (-1, block) if isinstance(block, int) else (driver_params.index(block), 0)
    return _make(_blocks_template, _tag(fill, "parallel"), {"parallel": True, **options}, _origin(fill), RANGE=fill,
                 LEAD=start, ROWS=driver_params.index(rows), BLOCK=at, SIZE=size)


def maxsim_drivers(family: str, state, score):
    """``(scores, scores_parallel, search, search_parallel)`` of one MaxSim family.

    ``state(*lead)`` allocates the scratch of a scan (per-query-token maxima, ...)
    and ``score(*lead, state, i, j)`` returns the float64 score of document ``i``
    (``j``: the document scored next, to prefetch, or -1).  The drivers take
    ``(*lead, ids, lo, hi, out)``, ``(*lead, ids, bounds, out)``,
    ``(*lead, d0, d1, keys, ids)`` and ``(*lead, bounds, keys, ids)``.
    """
    name = f"maxsim__{family}"
    origin = f"{_origin(state)} {_origin(score)}"
    par = {"parallel": True, **FAST}
    scores = _make(_docs_template, f"{name}__scores", FAST, origin, STATE=state, SCORE=score, HEAP=False)
    scores_parallel = _make(_doc_scores_parallel_template, f"{name}__scores_parallel", par, origin, RANGE=scores)
    heap = _make(_docs_template, f"{name}__heap", FAST, origin, STATE=state, SCORE=score, HEAP=True)
    search = _make(_search_template, f"{name}__search", FAST, origin, RANGE=heap)
    search_parallel = _make(_parallel_search_template, f"{name}__search_parallel", par, origin,
                            RANGE=heap, LEAD=-3, BOUNDS=True)
    return scores, scores_parallel, search, search_parallel
