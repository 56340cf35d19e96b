"""The one place where jit options are set.

``EXACT`` kernels reproduce numpy's float arithmetic operation for operation
(codecs, whose codes tests compare bit for bit).  ``FAST`` kernels may
reassociate sums and fuse multiply-adds so that LLVM vectorises reductions.
Neither sets ``nnan`` or ``ninf``: those flags let LLVM delete NaN checks
silently.  ``nsz`` is left out too: together with ``reassoc`` it let LLVM
rewrite ``s + (v - v)`` to ``s``, which deleted a NaN test here.  So no FAST
kernel may rely on NaN propagating; inputs are checked before they get there.
"""

from __future__ import annotations

import numba

#: Options of kernels whose results must equal numpy's bit for bit.
EXACT: dict = {"cache": True, "nogil": True, "error_model": "numpy"}

#: Options of reductions (dot products, norms) that may be reassociated.
FAST: dict = {**EXACT, "fastmath": {"reassoc", "contract"}}

#: Batches with at least this many elements are split across threads.
#: Waking numba's OpenMP workers costs microseconds on an idle machine but
#: 8-30 ms when the other cores are busy (measured on 2 cores: a 4M-element
#: int8 encode took 3.5 ms serial, 22 ms parallel).  2**24 float32 elements
#: (64 MB, about 12 ms serial here) is where the parallel gain outweighs that
#: worst case; smaller batches, such as a 1000 x 1024 API response, stay serial.
PARALLEL_MIN_ELEMENTS = 1 << 24

#: Rows per work item in parallel codec kernels.
ROW_BLOCK = 256


def use_parallel(n_elements: int) -> bool:
    """Whether a batch is large enough for thread start-up to pay off."""
    return n_elements >= PARALLEL_MIN_ELEMENTS and numba.get_num_threads() > 1


def target_features() -> frozenset[str]:
    """The CPU features numba compiles for (``"+avx512f"``, ...): the host's, or ``NUMBA_CPU_FEATURES``.

    The machine code numba caches is keyed by them, so a choice made from them at
    import is never loaded where they differ.  Empty if this numba hides them.
    """
    try:
        from numba.core.registry import cpu_target

        return frozenset(cpu_target.target_context.codegen()._tm_features.split(","))
    except Exception:  # pragma: no cover - a numba without this private attribute: play safe
        return frozenset()
