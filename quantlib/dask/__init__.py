"""Quantize and search beyond one machine: Dask arrays and sharded :class:`~quantlib.FlatIndex` directories.

Needs the ``dask`` extra (``pip install "quantlib-embeddings[dask]"``: dask[array] and
distributed); ``import quantlib`` never imports Dask, this module does, when it is imported.

Every function here gives the answer of its single-process twin on the concatenated rows:

- :func:`quantize`, :func:`calibration_ranges`, :func:`fit_codec` and :func:`truncate` work
  block by block; calibration ranges come from one Dask reduction (per-dimension min and
  max, exactly what :func:`quantlib.calibration_ranges` computes), so the codes and the
  codec config equal those of :func:`quantlib.quantize` on the whole array, bit for bit.
- :func:`search` over a Dask array and :meth:`ShardedIndex.search` over FlatIndex
  directories or Parquet files (:meth:`ShardedIndex.from_parquet`): each block or shard
  returns its fused top-k with global row numbers, and a tree of merges keeps the best
  ``k`` by (score, row), so ties go to the lower row as in :func:`quantlib.search`.
  With ``rescore=``, the first stage keeps ``k * oversample`` candidates over the whole
  corpus (as the single-process search does), and each block or shard rescores the
  candidates whose rows it holds.

Scores equal the single-process scores bit for bit, with one exception that
:func:`quantlib.search` shares with :func:`quantlib.pairwise`: float32/float16 rows
searched by 8 or more float queries at once go through BLAS, whose sums depend on the
shape of the block it is given, so those scores may differ in the last bit (one float32
rounding step) and near-ties may order differently (see ``docs/scale-out.md``).

Bad input (rows split along the vector dimension, blocks or shards of different widths,
codecs or dimensions, ``k`` beyond the corpus, queries that do not fit) raises a quantlib
error before any work is sent to the cluster.  A worker that dies mid-search is replaced:
Dask runs its task again elsewhere and the answer is the same, or, when it keeps failing,
:class:`ShardError` is raised; a partial top-k is never returned.

Where things live (every public name is imported here, from ``quantlib.dask``):

- ``_blocks.py``: :class:`ShardError`, the client-side checks of Dask arrays of rows, the merge tree,
  ``dask.compute`` with dead workers turned into :class:`ShardError`;
- ``_quantize.py``: :func:`calibration_ranges`, :func:`fit_codec`, :func:`quantize`, :func:`truncate`;
- ``_search.py``: :func:`search`, and the per-block first stage, merge and rescoring that shards run too;
- ``_shards.py``: the worker side of a :class:`ShardedIndex` (opening a FlatIndex directory or Parquet file
  once per worker process, searching it there; :func:`loaded_shards`);
- ``_sharded.py``: :class:`ShardedIndex`, the client side (placing shards on workers, moving a shard whose
  worker died, merging).
"""

from __future__ import annotations

from ._blocks import ShardError
from ._quantize import calibration_ranges, fit_codec, quantize, truncate
from ._search import search
from ._sharded import ShardedIndex
from ._shards import loaded_shards as loaded_shards  # for tests and monitoring

__all__ = [
    "ShardError",
    "ShardedIndex",
    "calibration_ranges",
    "fit_codec",
    "quantize",
    "search",
    "truncate",
]
