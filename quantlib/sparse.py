"""Sparse token-weight vectors (SPLADE, BGE-M3 lexical weights, DashScope ``sparse_embedding``).

A :class:`SparseBatch` holds ``n`` sparse vectors in CSR form:

``indptr`` : int64, shape (n + 1,)
    Row ``i`` owns entries ``indptr[i]:indptr[i + 1]``.
``indices`` : int32 or int64, shape (nnz,)
    Column (token) ids, sorted and unique within each row.  int32 when every
    id fits (less than 2**31), int64 otherwise.
``values`` : float32, shape (nnz,)
    The weights, finite.  Explicit zeros are kept (pgvector text drops them).
``vocab_size`` : int or None
    The vocabulary size when known; every id is below it.
``tokens`` : tuple of str or None
    The token string of each entry (DashScope sends them), aligned with ``indices``.

The arrays are read-only and never share memory with a writeable array the
caller passed in (such input is copied): a batch never changes after it is
built, so kernels and indexes can trust it.  Construction sorts unsorted rows and
refuses duplicate ids (there is no agreed way to merge them), negative ids,
ids at or beyond ``vocab_size`` (or 2**63: uint64 ids are never wrapped),
NaN/inf weights, weights beyond float32 and mismatched lengths.

Scoring (:func:`sparse_dot`, :func:`sparse_cosine`, :func:`sparse_search`,
:class:`SparseIndex`) runs in Numba kernels; :func:`hybrid_scores` mixes a
dense and a sparse score.

Where things live: this module holds the :class:`SparseBatch` class, its
public methods and their documentation; the work is done by private modules,
one per concern: :mod:`quantlib._sparse_checks` (the constructor's input
checks), :mod:`quantlib._sparse_convert` (dicts, pairs, DashScope lists,
scipy), :mod:`quantlib._sparse_bytes` (the binary form),
:mod:`quantlib.stores.pgvector` (``sparsevec`` text and binary forms) and
:mod:`quantlib._sparse_search` (scoring and search).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from . import _sparse_bytes as _bytes
from . import _sparse_convert as _convert
from ._kernels import sparse as K
from ._sparse_bytes import FORMAT_VERSION, MAGIC  # noqa: F401  the binary form's constants, as before
from ._sparse_checks import (  # noqa: F401  _sparse_search imports the constants and helpers it shares from here
    _F32_MAX,
    _INT32_LIMIT,
    _as_weight,
    _float_text,
    _private,
    _readonly,
    check_csr,
)
from ._validation import as_array, describe
from .encoding import _a2b
from .errors import (
    ConfigError,
    DTypeError,
    OutOfRangeError,
    ShapeError,
)

__all__ = [
    "SparseBatch",
    "SparseIndex",
    "hybrid_scores",
    "sparse_cosine",
    "sparse_dot",
    "sparse_search",
]

Weights = Literal["float32", "float16", "uint8"]
Metric = Literal["dot", "cosine"]


class SparseBatch:
    """A batch of sparse token-weight vectors in CSR form (see the module docstring).

    Parameters
    ----------
    indptr : array_like of int, shape (n + 1,)
        Row pointers: ``indptr[0] == 0``, non-decreasing, ``indptr[-1] == nnz``.
    indices : array_like of int, shape (nnz,)
        Column ids; rows are sorted on construction, duplicates are an error.
    values : array_like of float, shape (nnz,)
        Finite weights, stored as float32 (a value beyond float32's range is an error).
    vocab_size : int, optional
        Vocabulary size; ids must be below it.
    tokens : sequence of str, optional
        One token string per entry, aligned with ``indices`` as given.

    Raises
    ------
    ShapeError
        Bad row pointers, lengths that differ, or a duplicate id in a row.
    OutOfRangeError
        A negative id, an id >= ``vocab_size`` (or >= 2**63, which int64 cannot
        hold), or a weight beyond float32 (in float64 or longdouble input).
    NonFiniteError
        A NaN or infinite weight.
    DTypeError
        Non-integer ids or non-numeric weights.

    Examples
    --------
    >>> b = SparseBatch([0, 2, 3], [7, 3, 5], [0.5, 2.0, 1.0], vocab_size=10)
    >>> b.indices.tolist(), b.values.tolist()       # row 0 sorted on construction
    ([3, 7, 5], [2.0, 0.5, 1.0])
    >>> len(b), b.nnz, b.shape
    (2, 3, (2, 10))
    """

    __slots__ = ("indptr", "indices", "values", "vocab_size", "tokens")

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    vocab_size: int | None
    tokens: tuple[str, ...] | None

    def __init__(
        self,
        indptr: Any,
        indices: Any,
        values: Any,
        *,
        vocab_size: int | None = None,
        tokens: Sequence[str] | None = None,
    ) -> None:
        ptr, ids, weights, vocab, toks = check_csr(indptr, indices, values, vocab_size, tokens)
        # Kernels index with these arrays unchecked: never keep memory the caller can still write.
        self.indptr = _readonly(_private(ptr, indptr))
        self.indices = _readonly(_private(ids, indices))
        self.values = _readonly(_private(weights, values))
        self.vocab_size = vocab
        self.tokens = toks

    # ------------------------------------------------------------------ basics

    def __len__(self) -> int:
        return self.indptr.shape[0] - 1

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.indices.shape[0])

    @property
    def n_cols(self) -> int:
        """``vocab_size`` when known, else one past the largest id (0 for an empty batch)."""
        if self.vocab_size is not None:
            return self.vocab_size
        return int(K.index_bounds(self.indices)[1]) + 1

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)``."""
        return (len(self), self.n_cols)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``(indices, values)`` of row ``i`` (read-only views).

        Examples
        --------
        >>> SparseBatch.from_dicts([{4: 1.0, 2: 0.5}]).row(0)
        (array([2, 4], dtype=int32), array([0.5, 1. ], dtype=float32))
        """
        n = len(self)
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise DTypeError(f"i: expected an integer row number, got {describe(i)}")
        if not -n <= i < n:
            raise OutOfRangeError(f"i: expected a row number in [{-n}, {n}), got {i}")
        i = int(i) % n
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.indices[a:b], self.values[a:b]

    def row_lengths(self) -> np.ndarray:
        """Number of entries of each row, int64."""
        return np.diff(self.indptr)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseBatch):
            return NotImplemented
        return (
            self.vocab_size == other.vocab_size
            and self.tokens == other.tokens
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
            and np.array_equal(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        vocab = f", vocab_size={self.vocab_size}" if self.vocab_size is not None else ""
        toks = ", with tokens" if self.tokens is not None else ""
        return f"SparseBatch(n={len(self)}, nnz={self.nnz}{vocab}{toks})"

    def _with(self, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
              tokens: tuple[str, ...] | None) -> SparseBatch:
        """A new batch from arrays already known to be valid (no checks)."""
        out = object.__new__(SparseBatch)
        out.indptr = _readonly(np.ascontiguousarray(indptr, dtype=np.int64))
        out.indices = _readonly(np.ascontiguousarray(indices, dtype=self.indices.dtype))
        out.values = _readonly(np.ascontiguousarray(values, dtype=np.float32))
        out.vocab_size = self.vocab_size
        out.tokens = tokens
        return out

    # ------------------------------------------------------------------ dense

    @classmethod
    def from_dense(cls, matrix: Any) -> SparseBatch:
        """The non-zeros of a dense ``(n, vocab)`` matrix; ``vocab_size`` is its width.

        Examples
        --------
        >>> SparseBatch.from_dense([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]]).to_dicts()
        [{1: 1.5}, {0: 2.0}]
        """
        arr = as_array(matrix, "matrix")
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise ShapeError(f"matrix: expected a 2-D (n, vocab) array, got shape {arr.shape}")
        if arr.dtype.kind not in "fiu":
            raise DTypeError(f"matrix: expected real numbers, got dtype {arr.dtype}")
        rows, cols = np.nonzero(arr)
        indptr = np.zeros(arr.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=arr.shape[0]), out=indptr[1:])
        return cls(indptr, cols, arr[rows, cols], vocab_size=arr.shape[1])

    def to_dense(self) -> np.ndarray:
        """A dense float32 ``(n, n_cols)`` matrix.

        Examples
        --------
        >>> SparseBatch.from_dicts([{1: 2.0}], vocab_size=3).to_dense()
        array([[0., 2., 0.]], dtype=float32)
        """
        out = np.zeros(self.shape, np.float32)
        rows = np.repeat(np.arange(len(self)), self.row_lengths())
        out[rows, self.indices] = self.values
        return out

    # ------------------------------------------------------------------ Python objects

    @classmethod
    def from_dicts(cls, rows: Iterable[Mapping[Any, Any]], *, vocab_size: int | None = None) -> SparseBatch:
        """From one ``{index: weight}`` dict per vector (Milvus, BGE-M3 ``lexical_weights``).

        Keys are integers, or strings of decimal digits as a JSON round trip leaves them.

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{3: 0.5, 1: 2}, {}, {"7": 1.0}])
        >>> b.to_dicts()
        [{1: 2.0, 3: 0.5}, {}, {7: 1.0}]
        """
        return _convert.from_dicts(cls, rows, vocab_size)

    def to_dicts(self) -> list[dict[int, float]]:
        """One ``{index: weight}`` dict per vector, ids ascending (explicit zeros kept)."""
        ids = self.indices.tolist()
        vals = self.values.tolist()
        ptr = self.indptr.tolist()
        return [dict(zip(ids[ptr[i]:ptr[i + 1]], vals[ptr[i]:ptr[i + 1]], strict=True))
                for i in range(len(self))]

    @classmethod
    def from_pairs(cls, rows: Iterable[Any], *, vocab_size: int | None = None) -> SparseBatch:
        """From one ``(indices, values)`` pair per vector (Qdrant ``SparseVector``, Milvus, arrays).

        A pair may also be a mapping with ``"indices"`` and ``"values"`` keys
        (Qdrant's JSON) or an object with ``.indices`` and ``.values``.

        Examples
        --------
        >>> b = SparseBatch.from_pairs([([5, 1], [0.5, 2.0]), {"indices": [0], "values": [1.0]}])
        >>> [(i.tolist(), v.tolist()) for i, v in b.to_pairs()]
        [([1, 5], [2.0, 0.5]), ([0], [1.0])]
        """
        return _convert.from_pairs(cls, rows, vocab_size)

    def to_pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """One ``(indices, values)`` pair of new arrays per vector (int64 ids, float32 weights)."""
        ids = self.indices.astype(np.int64)
        vals = self.values.copy()
        ptr = self.indptr
        return [(ids[ptr[i]:ptr[i + 1]], vals[ptr[i]:ptr[i + 1]]) for i in range(len(self))]

    @classmethod
    def from_dashscope(cls, rows: Iterable[Any], *, vocab_size: int | None = None) -> SparseBatch:
        """From DashScope ``sparse_embedding`` lists of ``{"index", "value", "token"}``.

        ``rows`` is a list with one ``sparse_embedding`` list per text, or the
        list of ``output.embeddings`` records that carry them.  Tokens are kept
        when every entry has one (all or none).

        Examples
        --------
        >>> rows = [[{"index": 7149, "value": 0.829, "token": "swift"},
        ...          {"index": 2490, "value": 0.8579, "token": "back"}]]
        >>> b = SparseBatch.from_dashscope(rows)
        >>> b.indices.tolist(), b.tokens
        ([2490, 7149], ('back', 'swift'))
        >>> b.to_dashscope()[0][0]
        {'index': 2490, 'value': 0.8579, 'token': 'back'}
        """
        return _convert.from_dashscope(cls, rows, vocab_size)

    def to_dashscope(self) -> list[list[dict[str, Any]]]:
        """DashScope-style ``sparse_embedding`` lists, ids ascending (``token`` when known)."""
        return _convert.to_dashscope(self)

    # ------------------------------------------------------------------ scipy

    @classmethod
    def from_scipy(cls, matrix: Any) -> SparseBatch:
        """From a ``scipy.sparse`` matrix or array (csr, csc, coo; others via ``tocsr``).

        Duplicate entries are an error (scipy would sum them); ``vocab_size``
        is the number of columns.

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> m = sp.csr_array(([1.0, 2.0], [2, 0], [0, 1, 2]), shape=(2, 4))
        >>> SparseBatch.from_scipy(m).to_dicts()
        [{2: 1.0}, {0: 2.0}]
        >>> SparseBatch.from_scipy(m.tocoo()) == SparseBatch.from_scipy(m.tocsc())
        True
        """
        return _convert.from_scipy(cls, matrix)

    def to_scipy(self, format: Literal["csr", "csc", "coo"] = "csr") -> Any:
        """A ``scipy.sparse`` array (``csr_array``, ``csc_array`` or ``coo_array``) of shape ``self.shape``.

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{2: 1.0}, {0: 2.0}], vocab_size=4)
        >>> b.to_scipy("csc").toarray()
        array([[0., 0., 1., 0.],
               [2., 0., 0., 0.]], dtype=float32)
        """
        import scipy.sparse as sp

        if format not in ("csr", "csc", "coo"):
            raise ConfigError(f"format: expected 'csr', 'csc' or 'coo', got {format!r}")
        m = sp.csr_array((self.values.copy(), self.indices.copy(), self.indptr.copy()), shape=self.shape)
        m.has_sorted_indices = True
        return m if format == "csr" else m.asformat(format)

    # ------------------------------------------------------------------ pgvector

    @classmethod
    def from_pgvector(cls, values: Any, *, vocab_size: int | None = None) -> SparseBatch:
        """From pgvector ``sparsevec`` values, as psycopg returns them.

        ``values`` is one value or a list of them, each ``sparsevec`` text ``{1:0.5,3:2}/30000`` (1-based
        ids, zeros dropped; what psycopg returns without adapters), a ``pgvector.SparseVector`` (what it
        returns after ``pgvector.psycopg.register_vector``) or the bytes of the binary form (binary
        cursors, COPY BINARY).  Every value must have the same dimension, which becomes ``vocab_size``;
        ``vocab_size=`` checks it.

        Raises
        ------
        PayloadError
            Text that is not ``{i:v,...}/dim``, dimensions that differ, a malformed binary value.
        OutOfRangeError
            An id below 1 or above the dimension.

        Examples
        --------
        >>> b = SparseBatch.from_pgvector(["{1:0.5,3:2}/5", "{}/5", "{5:0,2:1.5}/5"])
        >>> b.to_dicts(), b.vocab_size
        ([{0: 0.5, 2: 2.0}, {}, {1: 1.5}], 5)
        >>> b.to_pgvector()
        ['{1:0.5,3:2}/5', '{}/5', '{2:1.5}/5']
        """
        if not isinstance(values, (str, bytes, bytearray, memoryview, Mapping)) and isinstance(values, Iterable):
            values = list(values)
        one = values[0] if isinstance(values, list) and values else values
        if isinstance(one, (bytes, bytearray, memoryview)) or type(one).__module__.split(".")[0] == "pgvector":
            from .stores.pgvector import from_pgvector

            batch = from_pgvector(values, "sparsevec")
        else:
            from .stores.pgvector._text import _sparse_from_text

            batch = _sparse_from_text(cls, values)
        if vocab_size is not None and batch.vocab_size != vocab_size:
            raise ShapeError(f"vocab_size: expected sparsevec dimension {vocab_size}, the values have "
                             f"{batch.vocab_size}")
        return batch

    def to_pgvector(self, *, vocab_size: int | None = None) -> list[str]:
        """pgvector ``sparsevec`` text per vector (1-based ids, zero weights dropped).

        Weights are written in the shortest form that reads back as the same float32.  The sparsevec
        dimension is ``vocab_size=`` when given, else the batch's ``vocab_size``, else (providers do not
        state one) the largest index + 1, or 1 for a batch without entries.  pgvector's limits hold:
        a dimension of at most 1,000,000,000 and at most 16,000 non-zero entries per vector.

        Examples
        --------
        >>> SparseBatch.from_dicts([{4: 0.5}, {}]).to_pgvector()
        ['{5:0.5}/5', '{}/5']
        >>> SparseBatch.from_dicts([{4: 0.5}]).to_pgvector(vocab_size=250002)
        ['{5:0.5}/250002']
        """
        from .stores.pgvector._text import _sparse_to_text
        from .stores.pgvector._types import _sparse_dim

        return _sparse_to_text(self, _sparse_dim(self, "batch", vocab_size))

    # ------------------------------------------------------------------ pruning

    def prune(
        self,
        *,
        top_k: int | None = None,
        threshold: float | None = None,
        mass: float | None = None,
    ) -> SparseBatch:
        """Keep the largest weights of each vector (by magnitude ``|w|``).

        Entries are ranked by ``|w|`` descending, ties to the lower id, and each
        row keeps the shortest prefix of that ranking that every given
        criterion allows:

        top_k : int >= 0
            at most ``top_k`` entries;
        threshold : float >= 0
            only entries with ``|w| > threshold``;
        mass : float in (0, 1]
            the fewest entries whose ``|w|`` add up to at least ``mass`` times
            the row's L1 mass (``sum |w|``, summed in float64).

        The kept entries stay in id order, with their tokens.

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{0: 0.1, 1: 3.0, 2: 1.0, 3: 2.0}])
        >>> b.prune(top_k=2).to_dicts()
        [{1: 3.0, 3: 2.0}]
        >>> b.prune(threshold=0.5).to_dicts()
        [{1: 3.0, 2: 1.0, 3: 2.0}]
        >>> b.prune(mass=0.8).to_dicts()       # L1 mass 6.1: 3 + 2 = 5 >= 0.8 * 6.1
        [{1: 3.0, 3: 2.0}]
        >>> b.prune(mass=0.9).to_dicts()       # 5 < 0.9 * 6.1 = 5.49 <= 3 + 2 + 1
        [{1: 3.0, 2: 1.0, 3: 2.0}]
        """
        if top_k is None and threshold is None and mass is None:
            raise ConfigError("top_k, threshold, mass: give at least one pruning criterion")
        k = -1
        if top_k is not None:
            if isinstance(top_k, (bool, np.bool_)) or not isinstance(top_k, (int, np.integer)):
                raise DTypeError(f"top_k: expected a non-negative integer, got {describe(top_k)}")
            if top_k < 0:
                raise OutOfRangeError(f"top_k: expected a non-negative integer, got {top_k}")
            k = int(top_k)
        t = -1.0
        if threshold is not None:
            t = _as_weight(threshold, "threshold")
            if t < 0:
                raise OutOfRangeError(f"threshold: expected a finite number >= 0, got {threshold}")
        f = -1.0
        if mass is not None:
            f = _as_weight(mass, "mass")
            if not 0 < f <= 1:
                raise OutOfRangeError(f"mass: expected a fraction in (0, 1], got {mass}")
        keep = np.empty(self.nnz, np.bool_)
        counts = K.prune_counts(self.indptr, self.indices, self.values, k, np.float32(t) if t >= 0 else -1.0,
                                f, keep)
        indptr = np.zeros(len(self) + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        tokens = None
        if self.tokens is not None:
            tokens = tuple(t for t, kp in zip(self.tokens, keep.tolist(), strict=True) if kp)
        return self._with(indptr, self.indices[keep], self.values[keep], tokens)

    # ------------------------------------------------------------------ bytes

    def to_bytes(self, *, weights: Weights = "float32") -> bytes:
        """A compact, self-describing binary form; :meth:`from_bytes` reads it back.

        Layout (little-endian): a 40-byte header (magic ``b"QLSP"``, format
        version u16, weight code u8, id width u8 (4 or 8), flags u32,
        n_rows u64, nnz u64, vocab_size u64 (0 if unknown), and a u32 CRC-32
        (``zlib.crc32``) of every other byte of the message: the header's first
        36 bytes, then the body), then ``indptr`` (int64), the ids, the
        weights, and the tokens when present (u32 UTF-8 lengths, then the bytes).
        This is format version 2; version 1, written by quantlib 0.1 with 0 in
        place of the checksum, is still read.

        Parameters
        ----------
        weights : {"float32", "float16", "uint8"}
            ``"float32"`` is lossless.  ``"float16"`` rounds each weight to
            nearest: relative error at most 2**-11 for ``|w| >= 2**-14``, absolute
            error at most 2**-25 below; ``|w| > 65504`` is an OutOfRangeError.
            ``"uint8"`` needs weights >= 0 and stores ``rint(w / s)`` with one
            float32 scale ``s = max(w) / 255`` per row: absolute error at most
            ``s / 2`` (plus float32 rounding), and weights below ``s / 2``
            become explicit zeros.

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{1: 0.5, 9: 2.0}], vocab_size=10)
        >>> data = b.to_bytes(weights="float16")
        >>> len(data), data[:4]
        (68, b'QLSP')
        >>> SparseBatch.from_bytes(data) == b
        True
        """
        return _bytes.to_bytes(self, weights)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> SparseBatch:
        """Read :meth:`to_bytes` output (any weight format; weights come back as float32).

        Raises
        ------
        PayloadError
            Wrong magic, a newer format version, a length that does not match
            the header (a truncated message), or bytes that do not match the
            checksum (a corrupted one).
        """
        return _bytes.from_bytes(cls, data)

    def to_base64(self, *, weights: Weights = "float32") -> str:
        """:meth:`to_bytes` as base64 text (standard alphabet, padded).

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{2: 1.0}])
        >>> SparseBatch.from_base64(b.to_base64()) == b
        True
        """
        return binascii.b2a_base64(self.to_bytes(weights=weights), newline=False).decode("ascii")

    @classmethod
    def from_base64(cls, text: str | bytes) -> SparseBatch:
        """Read :meth:`to_base64` output."""
        if not isinstance(text, (str, bytes)):
            raise DTypeError(f"text: expected base64 str or bytes, got {describe(text)}")
        return cls.from_bytes(_a2b(text, "text"))



# The scoring module (quantlib._sparse_search) imports the batch from here.
from ._sparse_search import SparseIndex, hybrid_scores, sparse_cosine, sparse_dot, sparse_search  # noqa: E402
