"""Multi-vector (late-interaction) embeddings: ragged token matrices, their formats, and MaxSim.

ColBERT, jina-colbert-v2, ColPali and ColQwen embed each text or page as a
matrix of token vectors: 30 x 128 for one text, 22 x 128 for the next.  A
:class:`MultiVectorBatch` holds ``n`` such documents in one flat token matrix
plus offsets (the layout of Arrow/LanceDB ``List<FixedSizeList>`` and of
Qdrant multivector points):

``tokens`` : shape (total_tokens, width)
    Every document's token rows, one document after the other, in the storage
    dtype of ``precision``: float32 or float16 values, int8/uint8 codes, or
    ``ceil(dim / 8)`` packed bytes per token for ``binary`` (int8) and
    ``ubinary`` (uint8).
``offsets`` : int64, shape (n + 1,)
    Document ``i`` owns rows ``offsets[i]:offsets[i + 1]``; ``offsets[0] == 0``,
    ``offsets[-1] == total_tokens``, and every document has at least one token.

Both arrays are read-only: a batch never changes after it is built.

Scores
------
:func:`maxsim` is the ColBERT late-interaction score: for each query token the
best similarity over the document's tokens, summed over the query tokens.
(NumKong and some other libraries call a *sum of minimum distances* "MaxSim";
here it is always the sum of maximum similarities.)  :func:`maxsim_search`
returns the ``k`` best documents, optionally re-ranking a shortlist by exact
float32 MaxSim.  :class:`MuveraEncoder` turns each multi-vector into one
fixed-dimensional vector (MUVERA), so that an ordinary single-vector index can
pre-filter candidates for MaxSim.

Where things live: the batch container is here; the checks of what a batch is
built from (formats, token matrices, offsets, non-finite values) are in
``quantlib._multivector_input``; the codec a batch keeps, the codecs of its
conversions and the base64 dict in ``quantlib._multivector_formats``; MaxSim
scoring in ``quantlib._maxsim`` and MUVERA in ``quantlib.muvera``.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

import numpy as np

from ._multivector_formats import FORMAT_VERSION as FORMAT_VERSION  # the version to_base64 writes
from ._multivector_formats import (
    _converted_codec,
    _decoded,
    _encoded,
    _fitted_codec,
    _from_payload,
    _keep_codec,
    _to_payload,
)
from ._multivector_input import (
    _check_finite_tokens,
    _check_offsets,
    _empty_tokens,
    _explicit_info,
    _lists_flat,
    _matrices_flat,
    _readonly,
    _resolve_format,
    _tokens_matrix,
)
from ._validation import as_array, check_dim, describe
from .codecs import Codec, default_codec
from .codecs.scalar import Rounding
from .errors import ConfigError, DTypeError, PayloadError, ShapeError
from .matryoshka import ZeroPolicy, truncate, truncate_codec
from .precision import Precision, PrecisionInfo, precision_info
from .quantization import _calibrated, convert_codes

__all__ = ["MultiVectorBatch", "MuveraEncoder", "maxsim", "maxsim_search"]


class MultiVectorBatch:
    """A ragged batch of multi-vector embeddings: one flat token matrix plus offsets.

    Parameters
    ----------
    tokens : array_like, shape (total_tokens, width)
        Every document's token rows, one document after the other.  Floats for
        ``float32``/``float16`` (float16, float32 or float64 input, converted to
        the precision), or codes in the storage dtype of ``precision``
        (``int8``/``uint8`` codes, ``binary`` int8 or ``ubinary`` uint8 packed
        bits, or the codes of any registered codec: ``codec.width(dim)`` items
        per token).
    offsets : array_like of int, shape (n + 1,)
        Document ``i`` owns ``tokens[offsets[i]:offsets[i + 1]]``.
    precision : str, optional
        The format of ``tokens``.  Default: ``float32`` for float32/float64
        input, ``float16`` for float16, the codec's precision when ``codec`` is
        given; int8/uint8 arrays must say whether they hold codes or bits.
    dim : int, optional
        The logical dimension; needed only for packed codes whose dimension is not
        the widest their width holds (bits: default ``8 * width``; a fitted codec
        says its own).  Checked against the width otherwise.
    codec : Codec or dict, optional
        The codec (or its config) that made the codes, so that they can be
        dequantized and scored as the vectors they stand for: needed for
        calibrated precisions (``int8``/``uint8`` ranges; without one, int8/uint8
        codes are read as their own integer values).  A codec that says no more
        than its precision (floats, bits) is not kept.

    Raises
    ------
    ShapeError
        Offsets that do not start at 0, do not increase (a document without
        tokens), or do not end at the number of token rows; a width that does
        not fit ``dim``.
    DTypeError
        Tokens of the wrong dtype for the precision; integer tokens without a precision.
    NonFiniteError
        NaN or infinity in float tokens.

    Examples
    --------
    >>> import numpy as np
    >>> docs = MultiVectorBatch.from_arrays([np.ones((3, 4), np.float32), np.zeros((2, 4), np.float32)])
    >>> docs
    MultiVectorBatch(2 documents, 5 tokens, precision='float32', dim=4)
    >>> docs.offsets
    array([0, 3, 5])
    >>> docs.lengths
    array([3, 2])
    """

    __slots__ = ("_codec", "_dim", "_info", "_maxlen", "_offsets", "_tokens", "_values")

    def __init__(
        self,
        tokens: Any,
        offsets: Any,
        *,
        precision: Precision | str | None = None,
        dim: int | None = None,
        codec: Codec | Mapping[str, Any] | None = None,
    ) -> None:
        arr = as_array(tokens, "tokens")
        info, codec_obj = _resolve_format(arr, precision, codec, "tokens")
        values, true_dim = _tokens_matrix(arr, info, dim, codec_obj, "tokens")
        offs = _check_offsets(offsets, values.shape[0])
        if info.family == "float":
            _check_finite_tokens(values, offs, source=arr)
        self._init(values, offs, info, true_dim, codec_obj)

    def _init(self, tokens: np.ndarray, offsets: np.ndarray, info: PrecisionInfo, dim: int,
              codec: Codec | None) -> None:
        self._tokens = _readonly(tokens)
        self._offsets = _readonly(offsets)
        self._info = info
        self._dim = dim
        self._codec = codec
        self._maxlen = int(np.diff(offsets).max()) if offsets.shape[0] > 1 else 0
        self._values: np.ndarray | None = None

    @classmethod
    def _trusted(cls, tokens: np.ndarray, offsets: np.ndarray, info: PrecisionInfo, dim: int,
                 codec: Codec | None) -> MultiVectorBatch:
        """A batch from arrays already checked (the library's own results)."""
        self = cls.__new__(cls)
        self._init(tokens, offsets, info, dim, codec)
        return self

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_arrays(
        cls,
        arrays: Iterable[Any],
        *,
        precision: Precision | str | None = None,
        dim: int | None = None,
        codec: Codec | Mapping[str, Any] | None = None,
    ) -> MultiVectorBatch:
        """A batch from one ``(tokens, width)`` matrix per document.

        Each matrix may be a numpy array or a nested list; all must have the
        same width, dtype family and at least one row.

        Examples
        --------
        >>> import numpy as np
        >>> bits = [np.array([[0b10100000]], np.uint8), np.array([[0], [255]], np.uint8)]
        >>> MultiVectorBatch.from_arrays(bits, precision="ubinary", dim=8).lengths
        array([1, 2])
        """
        if isinstance(arrays, (np.ndarray, str, bytes, Mapping)) or not isinstance(arrays, Iterable):
            raise DTypeError(
                f"arrays: expected a list of (tokens, d) matrices, one per document, got {describe(arrays)}"
                + ("; for one flat token matrix use MultiVectorBatch(tokens, offsets)"
                   if isinstance(arrays, np.ndarray) else "")
            )
        mats = [as_array(a, f"arrays[{i}]") for i, a in enumerate(arrays)]
        return cls._from_matrices(mats, "arrays", precision, dim, codec)

    @classmethod
    def from_lists(
        cls,
        documents: Sequence[Sequence[Sequence[float]]],
        *,
        precision: Precision | str | None = None,
        dim: int | None = None,
        codec: Codec | Mapping[str, Any] | None = None,
    ) -> MultiVectorBatch:
        """A batch from nested lists, as Weaviate and Jina's multi-vector endpoint return them.

        ``documents[i][t]`` is token ``t`` of document ``i``: a list of floats
        (or of integer codes, with ``precision``).  Floats become float32.

        Examples
        --------
        >>> b = MultiVectorBatch.from_lists([[[0.5, 1.0], [0.25, -1.0]], [[2.0, 3.0]]])
        >>> b.to_lists()
        [[[0.5, 1.0], [0.25, -1.0]], [[2.0, 3.0]]]
        """
        flat, offsets = _lists_flat(documents, _explicit_info(precision, codec))
        return cls._from_flat(flat, offsets, "documents", precision, dim, codec)

    @classmethod
    def from_response(cls, response: Any) -> MultiVectorBatch:
        """The multi-vectors of a decoded provider response (:func:`quantlib.decode_response`).

        Examples
        --------
        >>> import quantlib
        >>> r = quantlib.decode_response({"data": [
        ...     {"index": 0, "embeddings": [[0.5, 1.0], [0.25, -1.0], [1.0, 0.0]]},
        ...     {"index": 1, "embeddings": [[2.0, 3.0]]}]})
        >>> MultiVectorBatch.from_response(r)
        MultiVectorBatch(2 documents, 4 tokens, precision='float32', dim=2)
        """
        mats = getattr(response, "multivectors", None)
        if mats is None:
            got = describe(response) if not hasattr(response, "multivectors") else "a response without them"
            raise PayloadError(
                "response: expected a decoded response with multi-vectors (Jina multi-vector, ColBERT), "
                f"got {got}"
            )
        return cls._from_matrices(list(mats), "response.multivectors", response.precision, response.dim, None)

    @classmethod
    def _from_matrices(cls, mats: list[np.ndarray], name: str, precision: Any, dim: int | None,
                       codec: Any) -> MultiVectorBatch:
        flat, offsets = _matrices_flat(mats, name)
        return cls._from_flat(flat, offsets, name, precision, dim, codec)

    @classmethod
    def _from_flat(cls, flat: np.ndarray | None, offsets: np.ndarray, name: str, precision: Any,
                   dim: int | None, codec: Any) -> MultiVectorBatch:
        """A batch from the flat tokens of a list of documents (None: no documents, ``dim=`` gives the width)."""
        if flat is None:
            flat, precision = _empty_tokens(_explicit_info(precision, codec), dim, name)
        return cls(flat, offsets, precision=precision, dim=dim, codec=codec)

    # ------------------------------------------------------------------ properties

    @property
    def tokens(self) -> np.ndarray:
        """The flat ``(total_tokens, width)`` token matrix (read-only)."""
        return self._tokens

    @property
    def offsets(self) -> np.ndarray:
        """int64 ``(n + 1,)``: document ``i`` owns ``tokens[offsets[i]:offsets[i + 1]]`` (read-only)."""
        return self._offsets

    # A batch keeps its PrecisionInfo in _info, as a codec does: the codec's own accessors read it.
    precision = Codec.precision
    """The precision of the tokens: ``"float32"``, ``"float16"``, ``"int8"``, ... ``"ubinary"``."""

    info = Codec.info
    """The :class:`~quantlib.PrecisionInfo` of the tokens."""

    @property
    def dim(self) -> int:
        """The logical dimension of a token vector (bits, for packed precisions)."""
        return self._dim

    @property
    def width(self) -> int:
        """Stored items per token row: the precision's width for ``dim`` (:meth:`PrecisionInfo.width`)."""
        return int(self._tokens.shape[1])

    @property
    def codec(self) -> Codec | None:
        """The codec that made the tokens when it carries parameters (a :class:`~quantlib.ScalarCodec`'s ranges).

        None for floats, bits and other precisions whose default codec reads
        the tokens, and for int8/uint8 codes read as their own integer values.
        """
        return self._codec

    def _reader(self, name: str = "documents") -> Codec:
        """The codec that reads the tokens: the batch's own, or its precision's default.

        A calibrated precision without a codec (and without a raw variant, as
        int8/uint8 have) is refused with a :class:`~quantlib.ConfigError` naming ``name``.
        """
        if self._codec is not None:
            return self._codec
        try:
            return default_codec(self._info)
        except ConfigError:
            raise ConfigError(f"{name}: the {self._info.name} tokens have no codec, so they cannot be read; "
                              "build the batch with codec= (the codec that made them)") from None

    def _float_values(self) -> np.ndarray:
        """float32 ``(total_tokens, dim)``: the values the tokens stand for, decoded once and kept (read-only).

        The generic path of MaxSim for codecs of family ``"decoded"``/``"own"``:
        a float32 copy of the tokens, kept while the batch lives.
        """
        values = self._values
        if values is None:
            values = _readonly(np.ascontiguousarray(_decoded(self._reader(), self._tokens, self._dim), np.float32))
            self._values = values
        return values

    @property
    def n_tokens(self) -> int:
        """The total number of token rows."""
        return int(self._tokens.shape[0])

    @property
    def lengths(self) -> np.ndarray:
        """int64 ``(n,)``: the number of tokens of each document."""
        return np.diff(self._offsets)

    @property
    def nbytes(self) -> int:
        """Bytes held: the token matrix plus the offsets."""
        return int(self._tokens.nbytes + self._offsets.nbytes)

    def __len__(self) -> int:
        return int(self._offsets.shape[0] - 1)

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> MultiVectorBatch: ...

    def __getitem__(self, index: int | slice) -> np.ndarray | MultiVectorBatch:
        """Document ``index`` as a read-only ``(tokens, width)`` view, or a slice of documents as a batch."""
        n = len(self)
        if isinstance(index, slice):
            return self.take(np.arange(n)[index])
        try:
            i = operator.index(index)
        except TypeError:
            raise DTypeError(f"index: expected an integer or a slice, got {describe(index)}") from None
        if not -n <= i < n:
            raise IndexError(f"index: document {i} is out of range for a batch of {n} documents")
        i %= n
        return self._tokens[self._offsets[i]:self._offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self._tokens[self._offsets[i]:self._offsets[i + 1]]

    def take(self, indices: Any) -> MultiVectorBatch:
        """A new batch of the documents ``indices`` (in that order; repeats allowed).

        Examples
        --------
        >>> b = MultiVectorBatch.from_lists([[[1.0]], [[2.0], [3.0]], [[4.0]]])
        >>> b.take([2, 1]).to_lists()
        [[[4.0]], [[2.0], [3.0]]]
        """
        idx = as_array(indices, "indices")
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise DTypeError(f"indices: expected a 1-D array of integers, got {describe(idx)}")
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            bad = int(idx[(idx < -n) | (idx >= n)][0])
            raise ShapeError(f"indices: document {bad} is out of range for a batch of {n} documents")
        idx = idx.astype(np.int64) % max(n, 1)
        starts = self._offsets[idx]
        lengths = self._offsets[idx + 1] - starts
        offsets = np.zeros(idx.size + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        rows = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return MultiVectorBatch._trusted(self._tokens[rows], offsets, self._info, self._dim, self._codec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MultiVectorBatch):
            return NotImplemented
        return (self._info is other._info and self._dim == other._dim and self._codec == other._codec
                and np.array_equal(self._offsets, other._offsets)
                and self._tokens.tobytes() == other._tokens.tobytes())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"MultiVectorBatch({len(self)} documents, {self.n_tokens} tokens, "
                f"precision={self.precision!r}, dim={self._dim})")

    # ------------------------------------------------------------------ exports

    def to_lists(self) -> list[list[list[float]]] | list[list[list[int]]]:
        """Nested lists ``[document][token][component]`` (Weaviate, Jina), Python floats or ints.

        Examples
        --------
        >>> import numpy as np
        >>> MultiVectorBatch.from_arrays([np.array([[1, -2]], np.int8)], precision="int8").to_lists()
        [[[1, -2]]]
        """
        rows = self._tokens.tolist()
        o = self._offsets.tolist()
        return [rows[o[i]:o[i + 1]] for i in range(len(self))]

    def to_arrays(self) -> list[np.ndarray]:
        """One read-only ``(tokens, width)`` view per document."""
        return list(self)

    def to_flat(self) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens, offsets)``: the flat matrix and the int64 offsets (read-only, not copied).

        This is the layout of an Arrow/LanceDB ``List<FixedSizeList>`` column
        (child values and list offsets) and of Qdrant multivector points (one
        ``tokens[offsets[i]:offsets[i + 1]]`` matrix per point).

        Examples
        --------
        >>> b = MultiVectorBatch.from_lists([[[1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]]])
        >>> tokens, offsets = b.to_flat()
        >>> tokens.shape, offsets
        ((3, 2), array([0, 1, 3]))
        """
        return self._tokens, self._offsets

    # ------------------------------------------------------------------ conversions

    def quantize(
        self,
        precision: Precision | str | Codec,
        *,
        ranges: Any = None,
        calibration_embeddings: Any = None,
        rounding: Rounding = "nearest",
    ) -> MultiVectorBatch:
        """The same documents in another precision, token by token.

        From float tokens any precision can be reached, through its codec
        (a codec passed as ``precision``, or the precision's registered one).
        Calibrated precisions (``int8``/``uint8``, or a registered calibrated
        codec) use, in this order: a codec passed as ``precision``,
        ``ranges``, the ranges of ``calibration_embeddings``, or the ranges
        of this batch's own tokens (warned about below 100 tokens; a codec
        class without ``ranges`` is fitted by its ``fit``); the codec is kept
        with the batch.  From codes, the exact conversions of
        :func:`quantlib.convert_codes` apply (bits <-> bits, int8 <-> uint8,
        int8/uint8 -> bits with the codec); anything else goes through
        :meth:`dequantize`.

        Examples
        --------
        >>> b = MultiVectorBatch.from_lists([[[0.5, -0.25, 0.1], [-1.0, 0.0, 2.0]]])
        >>> b.quantize("ubinary").tokens
        array([[160],
               [ 32]], dtype=uint8)
        >>> q = b.quantize("int8", ranges=[[-1.0, -1.0, -1.0], [1.0, 1.0, 2.0]])
        >>> q.tokens, q.codec  # 0.5 is code round(1.5 / (2 / 255)) - 128 = 63
        (array([[  63,  -32,  -34],
               [-128,   -1,  127]], dtype=int8), ScalarCodec('int8', dim=3, rounding='nearest'))
        """
        codec = precision if isinstance(precision, Codec) else None
        target = codec.info if codec is not None else precision_info(precision)
        scalar_args = ranges is not None or calibration_embeddings is not None or rounding != "nearest"
        if scalar_args and (codec is not None or not target.calibrated):
            raise ConfigError(
                f"ranges/calibration_embeddings/rounding: only {_calibrated()} targets without a codec use "
                f"them, got target {target.name!r}" + (" given as a codec" if codec is not None else "")
            )
        if ranges is not None and calibration_embeddings is not None:
            raise ConfigError("ranges, calibration_embeddings: pass one or the other, got both")
        if self._info.family != "float":
            if target.family == "float":
                return self.dequantize().quantize(target.name)
            if scalar_args or (codec is not None and codec != self._codec):
                raise ConfigError(
                    f"precision: {self.precision} codes convert to {target.name} without new ranges or a new "
                    "codec; dequantize() first to re-quantize with other ranges"
                )
            if target == self._info:
                return self
            source: Any = self._codec if self._codec is not None else self.precision
            out = convert_codes(self._tokens, source, target.name, dim=self._dim)
            return MultiVectorBatch._trusted(out, self._offsets, target, self._dim,
                                             _converted_codec(self._codec, target))
        if codec is None:
            codec = (_fitted_codec(target, self._tokens, ranges, calibration_embeddings, rounding)
                     if target.calibrated else default_codec(target))
        out = _encoded(codec, self._tokens, target, self._dim)
        return MultiVectorBatch._trusted(out, self._offsets, target, self._dim, _keep_codec(codec, target))

    def dequantize(self) -> MultiVectorBatch:
        """A float32 batch of the values the tokens stand for.

        Floats are widened exactly; int8/uint8 codes are decoded with the
        batch's codec (a :class:`~quantlib.ConfigError` without one); bits
        become +1.0/-1.0 per dimension.

        Examples
        --------
        >>> import numpy as np
        >>> b = MultiVectorBatch(np.array([[0b10100000]], np.uint8), [0, 1], precision="ubinary", dim=3)
        >>> b.dequantize().tokens
        array([[ 1., -1.,  1.]], dtype=float32)
        """
        info = self._info
        if info.family == "float":
            out = self._tokens.astype(np.float32)
        else:
            if info.calibrated and self._codec is None:
                raise ConfigError(
                    f"codec: this {info.name} batch has no codec, so its codes cannot be dequantized; "
                    "build it with codec= (the codec that made the codes)"
                )
            out = np.ascontiguousarray(_decoded(self._reader("codec"), self._tokens, self._dim), np.float32)
        return MultiVectorBatch._trusted(out, self._offsets, precision_info("float32"), self._dim, None)

    def truncate(
        self, dim: int, *, renormalize: bool | None = None, zero_policy: ZeroPolicy = "keep"
    ) -> MultiVectorBatch:
        """Keep the first ``dim`` components of every token (jina-colbert-v2: 128 -> 96 -> 64).

        Uses :func:`quantlib.truncate` on each token row: floats are sliced and
        L2-renormalised per token (by default); packed bits keep a byte prefix
        with the padding bits cleared; int8/uint8 codes are sliced and the codec
        keeps its first ``dim`` ranges.

        Examples
        --------
        >>> b = MultiVectorBatch.from_lists([[[3.0, 4.0, 12.0]], [[0.0, 2.0, 1.0], [1.0, 0.0, 0.0]]])
        >>> b.truncate(2).to_lists()
        [[[0.6000000238418579, 0.800000011920929]], [[0.0, 1.0], [1.0, 0.0]]]
        """
        src: Any = self._codec if self._codec is not None else self.precision
        if self.n_tokens == 0:  # one stand-in row (zero codes, or ones that renormalise) shows the width
            stand_in = np.ones if self._info.family == "float" else np.zeros
            out = truncate(stand_in((1, self.width), self._tokens.dtype), dim,
                           precision=src, renormalize=renormalize, zero_policy=zero_policy)[:0]
        else:
            out = truncate(self._tokens, dim, precision=src, renormalize=renormalize, zero_policy=zero_policy)
        codec = truncate_codec(self._codec, dim) if self._codec is not None else None
        return MultiVectorBatch._trusted(out, self._offsets, self._info, check_dim(dim), codec)

    # ------------------------------------------------------------------ base64

    def to_base64(self) -> dict[str, Any]:
        """The batch as a JSON-ready dict: base64 of the flat token bytes and of the offsets.

        Keys: ``"version"`` (:data:`FORMAT_VERSION`, 2), ``"precision"``,
        ``"dim"``, ``"offsets"`` (base64 of little-endian int64), ``"tokens"``
        (base64 of the little-endian token items, rows one after the other),
        for int8/uint8 with a codec ``"codec"`` (its config), and
        ``"checksum"``: the CRC-32 of the dict's canonical JSON (keys sorted,
        no spaces, ``"checksum"`` left out).  :meth:`from_base64` reads it back,
        and reads version 1 dicts (no version, no checksum) too.

        Examples
        --------
        >>> import numpy as np
        >>> b = MultiVectorBatch(np.array([[77], [3]], np.uint8), [0, 1, 2], precision="ubinary")
        >>> b.to_base64()
        {'version': 2, 'precision': 'ubinary', 'dim': 8, 'offsets': 'AAAAAAAAAAABAAAAAAAAAAIAAAAAAAAA', \
'tokens': 'TQM=', 'checksum': 'crc32:84c55368'}
        """
        return _to_payload(self)

    @classmethod
    def from_base64(cls, payload: Mapping[str, Any]) -> MultiVectorBatch:
        """Read back :meth:`to_base64` output (format version 2, or 1 without a checksum).

        Raises
        ------
        PayloadError
            Missing keys, an unknown version, or (version 2) a checksum that
            does not match: the dict was changed or corrupted on the way.
        Base64DecodeError, ShapeError, DTypeError
            Bytes that do not form the batch the keys describe.

        Examples
        --------
        >>> b = MultiVectorBatch.from_lists([[[0.5, 1.0]], [[0.25, -1.0], [1.0, 0.0]]])
        >>> MultiVectorBatch.from_base64(b.to_base64()) == b
        True
        """
        tokens, offsets, precision, dim, codec = _from_payload(payload)
        return cls(tokens, offsets, precision=precision, dim=dim, codec=codec)


# The scoring (quantlib._maxsim) and MUVERA (quantlib.muvera) modules import the batch from here.
from ._maxsim import maxsim, maxsim_search  # noqa: E402
from .muvera import MuveraEncoder  # noqa: E402
