"""MUVERA fixed-dimensional encodings of multi-vector embeddings (:class:`MuveraEncoder`).

One vector per :class:`~quantlib.MultiVectorBatch` document, so an ordinary
single-vector index can shortlist candidates for :func:`quantlib.maxsim`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kernels import maxsim as K
from ._kernels import maxtile as KT
from ._maxsim import _group_query
from ._validation import as_array, check_dim, describe
from .errors import ConfigError, DTypeError, ShapeError
from .multivector import MultiVectorBatch

__all__ = ["MuveraEncoder"]

#: MUVERA encodes blocks of whole documents of about this many tokens (one projection buffer each).
_MUVERA_BLOCK_TOKENS = 1 << 15

class MuveraEncoder:
    """MUVERA fixed-dimensional encodings: one vector per multi-vector, for single-vector pre-filtering.

    Dhulipala et al., "MUVERA: Multi-Vector Retrieval via Fixed Dimensional
    Encodings" (2024), as Weaviate and fastembed use it.  In each of
    ``repetitions`` rounds, ``k_sim`` random Gaussian hyperplanes split the
    token space into ``2**k_sim`` buckets (SimHash: bit ``i`` of a token's
    bucket is 1 where its dot with hyperplane ``i`` is > 0), and a random
    +1/-1 matrix scaled by ``1 / sqrt(d_proj)`` projects each token to
    ``d_proj`` dimensions.  A query's block for a bucket is the *sum* of its
    projected tokens there; a document's is their *average*, and a bucket the
    document has no token in takes the projection of the document token whose
    bucket is nearest in Hamming distance (the first such token).  The
    encoding is the blocks of every round, bucket by bucket::

        out[r * 2**k_sim * d_proj + b * d_proj + c]

    so ``encode_queries(Q) @ encode_documents(D).T`` approximates
    :func:`~quantlib.maxsim` (each query token meets the average of the document
    tokens in its bucket, a proxy for its best match).  Use it to shortlist
    candidates with any single-vector index, then rank them by :func:`~quantlib.maxsim`.

    Parameters
    ----------
    dim : int
        The token dimension.
    k_sim : int
        SimHash hyperplanes per round (``2**k_sim`` buckets), 1 to 16.  Default 4.
    d_proj : int
        Projected dimension per bucket.  Default 16.
    repetitions : int
        Rounds.  Default 10: ``10 * 16 * 16 = 2560`` dimensions.
    seed : int
        Seed of the random hyperplanes and projections (``numpy.random.default_rng``);
        queries and documents must be encoded by encoders of the same seed and
        parameters (:meth:`get_config` records them).

    Examples
    --------
    >>> import numpy as np
    >>> enc = MuveraEncoder(4, k_sim=2, d_proj=2, repetitions=3, seed=1)
    >>> enc.output_dim
    24
    >>> eye = np.eye(4, dtype=np.float32)
    >>> enc.encode_documents([eye[:1], eye[1:3]]).shape
    (2, 24)
    >>> enc.encode_queries([eye[:1]]).shape
    (1, 24)
    """

    def __init__(self, dim: int, *, k_sim: int = 4, d_proj: int = 16, repetitions: int = 10,
                 seed: int = 0) -> None:
        self.dim = check_dim(dim)
        self.k_sim = check_dim(k_sim, "k_sim")
        if self.k_sim > 16:
            raise ShapeError(f"k_sim: expected 1 to 16 hyperplanes (2**k_sim buckets), got {self.k_sim}")
        self.d_proj = check_dim(d_proj, "d_proj")
        self.repetitions = check_dim(repetitions, "repetitions")
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise DTypeError(f"seed: expected a non-negative integer, got {describe(seed)} {seed!r}")
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        #: (repetitions, dim, k_sim) Gaussian hyperplanes.
        self.hyperplanes = rng.standard_normal((self.repetitions, self.dim, self.k_sim)).astype(np.float32)
        signs = rng.integers(0, 2, (self.repetitions, self.dim, self.d_proj)) * 2 - 1
        #: (repetitions, dim, d_proj) projections, +-1 / sqrt(d_proj).
        self.projections = (signs / np.sqrt(self.d_proj)).astype(np.float32)
        # Every round side by side, per round the hyperplanes and then the projections: one pass
        # per block of documents reads the tokens once for all rounds.
        both = np.concatenate((self.hyperplanes, self.projections), axis=2)
        self._matrix = np.ascontiguousarray(both.transpose(1, 0, 2).reshape(self.dim, -1))
        # ... and its columns in groups of 16, each transposed, for the projection kernel
        self._grouped = _group_query(self._matrix.T)

    @property
    def buckets(self) -> int:
        """Buckets per round, ``2**k_sim``."""
        return 1 << self.k_sim

    @property
    def output_dim(self) -> int:
        """``repetitions * 2**k_sim * d_proj``."""
        return self.repetitions * self.buckets * self.d_proj

    def get_config(self) -> dict[str, Any]:
        """The parameters that rebuild this encoder: ``MuveraEncoder(**config)``."""
        return {"dim": self.dim, "k_sim": self.k_sim, "d_proj": self.d_proj,
                "repetitions": self.repetitions, "seed": self.seed}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"MuveraEncoder({args})"

    def encode_queries(self, queries: Any) -> np.ndarray:
        """``(n, output_dim)`` float32: per round and bucket, the sum of the projected query tokens.

        ``queries`` is a :class:`MultiVectorBatch` (any precision; codes are
        dequantized first) or a list of ``(tokens, dim)`` matrices.
        """
        return self._encode(queries, "queries", document=False)

    def encode_documents(self, documents: Any) -> np.ndarray:
        """``(n, output_dim)`` float32: per round and bucket, the average of the projected document tokens.

        A bucket without tokens takes the projection of the document token
        whose bucket is nearest in Hamming distance.
        """
        return self._encode(documents, "documents", document=True)

    def _encode(self, batch: Any, name: str, *, document: bool) -> np.ndarray:
        if isinstance(batch, MultiVectorBatch):
            docs = batch
        elif isinstance(batch, np.ndarray):
            raise DTypeError(
                f"{name}: expected a MultiVectorBatch or a list of (tokens, d) matrices, "
                f"got {describe(batch)}"
            )
        else:
            docs = MultiVectorBatch._from_matrices([as_array(m, f"{name}[{i}]") for i, m in enumerate(batch)],
                                                   name, None, None, None)
        if docs.dim != self.dim:
            raise ShapeError(f"{name}: the encoder is for dimension {self.dim}, got token vectors of "
                             f"dimension {docs.dim}")
        if docs.info.calibrated and docs.codec is None:
            raise ConfigError(f"{name}: {docs.precision} tokens without a codec cannot be encoded; "
                              "build the batch with codec=")
        tokens = docs.tokens if docs.tokens.dtype == np.float32 else docs.dequantize().tokens
        n = len(docs)
        out = np.zeros((n, self.output_dim), np.float32)
        offsets = docs.offsets
        d0 = 0
        while d0 < n:
            d1 = int(np.searchsorted(offsets, offsets[d0] + _MUVERA_BLOCK_TOKENS, side="right")) - 1
            d1 = min(n, max(d1, d0 + 1))
            Y = np.empty((offsets[d1] - offsets[d0], self._grouped.shape[0] * KT.GROUP), np.float32)
            K.project_rows(self._grouped, tokens, offsets[d0], offsets[d1], Y)
            K.muvera_block(Y, offsets, d0, d1, self.k_sim, self.d_proj, self.repetitions, document, out)
            d0 = d1
        return out
