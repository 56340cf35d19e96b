"""pgvector's ``vector``, ``halfvec``, ``bit`` and ``sparsevec``, and PostgreSQL's COPY BINARY.

Three forms of each type, to and from quantlib's arrays:

- text, as ``psql`` and psycopg without adapters show it: ``[1,2.5]``, ``0101``, ``{1:0.5,3:2}/5``;
- the Python ``pgvector`` package's objects (``Vector``, ``HalfVector``, ``Bit``, ``SparseVector``), which
  ``pgvector.psycopg.register_vector`` makes psycopg return;
- the binary send/receive layout the server reads in COPY BINARY and binary query results (all big-endian):
  ``vector`` = int16 dim, int16 0, float32 values; ``halfvec`` = int16 dim, int16 0, float16 values;
  ``bit`` = int32 bit length, then the bits packed most significant first; ``sparsevec`` = int32 dim,
  int32 nnz, int32 0, int32 indices (0-based), float32 values.

quantlib's arrays on the other side: ``vector`` is float32 ``(n, d)``, ``halfvec`` float16 ``(n, d)``,
``bit`` uint8 ``(n, ceil(d / 8))`` (quantlib's ``ubinary`` codes: pgvector's ``binary_quantize`` gives
the same bits) and ``sparsevec`` a :class:`~quantlib.SparseBatch`.

:func:`iter_copy_binary` builds a whole ``COPY ... FROM STDIN (FORMAT BINARY)`` stream with numba
kernels and numpy (no per-row Python objects; :mod:`quantlib._kernels.wire`); :func:`copy_to_table`
writes it through a psycopg cursor and :func:`read_copy_binary` parses ``COPY ... TO STDOUT (FORMAT
BINARY)`` back into arrays.

Only :func:`to_objects` imports the ``pgvector`` package and only :func:`copy_to_table` and
:func:`copy_from_query` import psycopg (the extra ``pgvector``); everything else needs only quantlib's
own dependencies (numpy, numba).

The package's modules, by concern (every public name is imported from here):

- ``_types``: :data:`TYPES`, pgvector's limits and the checks every form runs on quantlib's arrays;
- ``_text``: :func:`to_text`, :func:`from_text`;
- ``_binary``: :func:`to_binary`, :func:`from_binary`;
- ``_objects``: :func:`to_objects`, :func:`from_pgvector` (whatever psycopg returns);
- ``_copy``: :func:`iter_copy_binary`, :func:`copy_binary`, :func:`read_copy_binary`, and the psycopg helpers
  :func:`copy_to_table`, :func:`copy_from_query`.
"""

from ._binary import from_binary, to_binary
from ._copy import (  # noqa: F401  CHUNK_BYTES, SIGNATURE: public constants outside __all__, as before
    CHUNK_BYTES,
    SIGNATURE,
    copy_binary,
    copy_from_query,
    copy_to_table,
    iter_copy_binary,
    read_copy_binary,
)
from ._objects import from_pgvector, to_objects
from ._text import from_text, to_text
from ._types import (
    BIT_HNSW_MAX_DIM,
    HALFVEC_MAX_DIM,
    SPARSEVEC_MAX_DIM,
    SPARSEVEC_MAX_NNZ,
    TYPES,
    VECTOR_MAX_DIM,
)

__all__ = [
    "BIT_HNSW_MAX_DIM",
    "HALFVEC_MAX_DIM",
    "SPARSEVEC_MAX_DIM",
    "SPARSEVEC_MAX_NNZ",
    "TYPES",
    "VECTOR_MAX_DIM",
    "copy_binary",
    "copy_from_query",
    "copy_to_table",
    "from_binary",
    "from_pgvector",
    "from_text",
    "iter_copy_binary",
    "read_copy_binary",
    "to_binary",
    "to_objects",
    "to_text",
]
