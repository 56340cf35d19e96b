"""Rotated low-bit codes (1, 2 and 4 bits per dimension) with one factor per vector.

The method (RaBitQ-like; Weaviate's RQ and Elasticsearch's BBQ are relatives):

1. Centre each vector on the calibration mean ``c``.
2. Rotate it with a seeded structured orthogonal rotation ``R`` (random sign
   flips, block Walsh-Hadamard transforms and permutations, three rounds; the
   vector is zero-padded to ``D``, the next multiple of 64), which spreads every
   direction's energy evenly over the components, so no component gets a step
   of zero and a low-bit grid fits every vector alike.
3. Code the rotated residual ``r`` on a half-integer grid ``w`` (``u = w + L/2``
   in ``0..L``, ``L = 2**bits - 1``) chosen per vector, with one float32 factor
   ``f = (r . r) / (r . w)``, so that ``x ~ c + R^T (f w)``.

A float query scores ``q . x ~ q . c + f ((R q) . w)``: the centring moves
every score of one query by the same ``q . c``, never the ranking, and the
query is rotated once per search.  The rotated query is then rounded to int16
steps ``s`` of a power of two (``|R q - s V| <= s / 2``, ``s`` at most
``2 max|R q| / 32767`` up to ``D = 4352`` at 4 bits, 21,824 at 2 and 65,536 at 1;
``2 max|R q| / vmax``, ``vmax = (2**31 - 1) // (L D)``, beyond),
and ``V . w`` is an exact integer dot product, so a score is the same float32
whatever the batch, block or thread that computes it; it differs from the dot
product with the decoded vector by at most ``|f| (L / 2) sum_j |R q - s V|_j``
plus float rounding (about 3e-5 of the largest score on Gaussian data).

The precisions ``"rotated4"``, ``"rotated2"`` and ``"rotated1"`` are registered
codecs of family ``"own"`` (see :mod:`quantlib.codecs.base`): they are fitted
from calibration embeddings (the mean) by ``quantize``, and ``search``,
``pairwise`` and :class:`~quantlib.FlatIndex` score float queries against the
codes with :meth:`RotatedCodec.prepare_queries` and
:meth:`RotatedCodec.score_rows` (the kernels of :mod:`quantlib._kernels.lowbit`).
Their codes cannot be truncated: every stored item mixes all dimensions.

A stored row is ``D * bits / 8`` bytes of codes (bit order in
:mod:`quantlib._kernels.lowbit`) followed by the factor as a little-endian
float32: ``code_size(d) = D * bits / 8 + 4`` bytes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._kernels import lowbit as K
from .._kernels._config import use_parallel
from .._validation import as_array, as_float_matrix, check_dim, check_finite
from ..errors import ConfigError, DTypeError, ShapeError, UnsupportedError, short_repr
from ..precision import PrecisionInfo
from .base import Codec

__all__ = ["ROTATED1", "ROTATED2", "ROTATED4", "RotatedCodec"]

#: Rounds of (signs, block Hadamard, permutation) in the rotation.
ROUNDS = 3

#: Largest Hadamard block; a padded dimension's block is its largest power-of-two divisor up to this.
MAX_BLOCK = 1024

#: The padded dimension is the next multiple of this.
PAD = 64

def _record(bits: int) -> PrecisionInfo:
    return PrecisionInfo(
        f"rotated{bits}", np.dtype("u1"), bits, (), False,
        f"{bits} bit{'s' if bits > 1 else ''} per dimension after centring on the calibration mean and a seeded "
        "rotation, plus a float32 factor per vector (quantlib's own format)",
        family="own", calibrated=True)


#: The precision records of the rotated codes (registered by :mod:`quantlib.codecs`).
ROTATED4, ROTATED2, ROTATED1 = _record(4), _record(2), _record(1)

_BITS = {"rotated4": 4, "rotated2": 2, "rotated1": 1}

def _splitmix64(state: int) -> tuple[int, int]:
    """One step of SplitMix64: (new state, output); plain integer arithmetic, the same everywhere."""
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


def rotation_plan(D: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The signs ``(ROUNDS, D)`` float32 and permutations ``(ROUNDS, D)`` int64 of the rotation of ``seed``.

    Drawn with SplitMix64 (not numpy's generators, whose streams may change
    between numpy versions), so a config rebuilds the same rotation anywhere.
    The permutation is a Fisher-Yates shuffle; the modulo bias of 64-bit
    draws over at most 2**32 items is below 2**-32 and deterministic.
    """
    state = seed & 0xFFFFFFFFFFFFFFFF
    signs = np.empty((ROUNDS, D), np.float32)
    perms = np.empty((ROUNDS, D), np.int64)
    for r in range(ROUNDS):
        for j in range(D):
            state, z = _splitmix64(state)
            signs[r, j] = 1.0 if z >> 63 else -1.0
        p = list(range(D))
        for i in range(D - 1, 0, -1):
            state, z = _splitmix64(state)
            k = z % (i + 1)
            p[i], p[k] = p[k], p[i]
        perms[r] = p
    return signs, perms


def padded_dim(dim: int) -> int:
    """``D``: ``dim`` rounded up to a multiple of 64."""
    return -(-dim // PAD) * PAD


class _Prepared:
    """Float queries made ready for :meth:`RotatedCodec.score_rows`: rotated once, as int16, with their terms."""

    __slots__ = ("W", "base", "corr", "scl")

    def __init__(self, W: np.ndarray, base: np.ndarray, scl: np.ndarray, corr: np.ndarray) -> None:
        self.W, self.base, self.scl, self.corr = W, base, scl, corr


class RotatedCodec(Codec):
    """Rotated low-bit codes of one dimension: ``"rotated4"``, ``"rotated2"`` or ``"rotated1"``.

    Parameters
    ----------
    precision : {"rotated4", "rotated2", "rotated1"}
        4, 2 or 1 bits per (padded) dimension.
    mean : array_like, shape (d,)
        The centre: the calibration mean (:meth:`fit` computes it).
    seed : int
        Seed of the rotation (a non-negative integer below 2**64).

    Examples
    --------
    >>> import numpy as np
    >>> import quantlib as ql
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 96)).astype(np.float32)
    >>> codec = RotatedCodec.fit(x, "rotated4")
    >>> codes = codec.encode(x)
    >>> codes.shape, codes.dtype, codec.code_size(96)    # 128 padded dims x 4 bits + a float32 factor
    ((500, 68), dtype('uint8'), 68)
    >>> err = np.linalg.norm(codec.decode(codes) - x, axis=1) / np.linalg.norm(x, axis=1)
    >>> bool(err.max() < 0.15)
    True
    >>> scores, ids = ql.search(x[:2], codes, k=3, codec=codec, rescore=x)
    >>> ids[:, 0]
    array([0, 1])
    """

    precisions = (ROTATED4, ROTATED2, ROTATED1)

    def __init__(self, precision: str | PrecisionInfo, mean: Any, *, seed: int = 0) -> None:
        if not isinstance(precision, (str, PrecisionInfo)) or (
                isinstance(precision, str) and precision.strip().lower() not in _BITS):
            raise ConfigError(f"precision: expected one of {', '.join(_BITS)}, got {short_repr(precision)}")
        super().__init__(precision)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
            raise ConfigError(f"seed: expected an integer in [0, 2**64), got {short_repr(seed)}")
        arr = as_array(mean, "mean")
        if arr.dtype.kind != "f":
            raise DTypeError(f"mean: expected floating-point values, got dtype {arr.dtype}")
        if arr.ndim != 1:
            raise ShapeError(f"mean: expected a vector (d,), got shape {arr.shape}")
        check_dim(arr.shape[0], "mean")
        self._mean = np.ascontiguousarray(arr, dtype=np.float32)
        check_finite(self._mean, "mean")
        self.bits = _BITS[self.precision]
        self.seed = int(seed)
        self._dim = int(self._mean.shape[0])
        self.padded_dim = padded_dim(self._dim)
        D = self.padded_dim
        self._block = min(MAX_BLOCK, D & -D)
        self._scale = np.float32(1.0 / math.sqrt(self._block))
        self._signs, self._perms = rotation_plan(D, self.seed)

    @classmethod
    def fit(cls, calibration: Any, precision: str = "rotated4", *, seed: int = 0, **params: Any) -> RotatedCodec:
        """The codec centred on the mean of ``calibration`` ``(n, d)`` (summed in float64, stored as float32).

        Any other parameter (``quantize``'s ``rounding=``, which is the 8-bit
        codecs') is a :class:`~quantlib.ConfigError`: each row picks its own grid.
        """
        if params:
            raise ConfigError(f"{', '.join(params)}: the rotated codecs take no parameter {sorted(params)[0]!r} "
                              "(they take 'seed'; each vector's grid is chosen to fit it)")
        arr, _ = as_float_matrix(calibration, "calibration")
        check_finite(arr, "calibration")
        return cls(precision, arr.mean(axis=0, dtype=np.float64).astype(np.float32), seed=seed)

    @property
    def dim(self) -> int:
        """The dimension of the vectors this codec encodes."""
        return self._dim

    @property
    def mean(self) -> np.ndarray:
        """The centre, float32 ``(d,)`` (read-only view)."""
        view = self._mean.view()
        view.flags.writeable = False
        return view

    def width(self, dim: int | None = None) -> int:
        """Bytes per stored row: ``D * bits / 8`` of codes (``D`` the padded dimension) and the float32 factor."""
        if dim is not None and dim != self._dim:
            raise ShapeError(f"dim: this codec is for dimension {self._dim}, got {short_repr(dim)}")
        return self.padded_dim * self.bits // 8 + 4

    def code_size(self, dim: int | None = None) -> int:
        """Bytes per stored vector: the packed codes and the float32 factor."""
        return self.width(dim)

    def truncate(self, dim: int) -> Codec:
        """Refused: every rotated code mixes all dimensions, so no prefix of a row is a shorter vector's code."""
        raise UnsupportedError(
            f"dim: {self.precision} codes cannot be truncated (the rotation mixes every dimension into every "
            "code); truncate the float embeddings and encode them with a codec fitted to that dimension")

    def _vectors(self, x: Any, name: str) -> tuple[np.ndarray, bool]:
        arr, single = as_float_matrix(x, name)
        if arr.shape[1] != self._dim:
            raise ShapeError(f"{name}: this codec is for dimension {self._dim}, got {arr.shape[1]}")
        check_finite(arr, name)
        return arr, single

    def _codes(self, codes: Any, name: str) -> tuple[np.ndarray, bool]:
        arr = as_array(codes, name)
        if arr.dtype != np.uint8:
            raise DTypeError(f"{name}: {self.precision} codes must have dtype uint8, got dtype {arr.dtype}")
        if arr.ndim not in (1, 2):
            raise ShapeError(f"{name}: expected a row (w,) or rows (n, w), got shape {arr.shape}")
        single = arr.ndim == 1
        arr = np.ascontiguousarray(arr.reshape(1, -1) if single else arr)
        if arr.shape[1] != self.code_size():
            raise ShapeError(f"{name}: {self.precision} rows of dimension {self._dim} have {self.code_size()} "
                             f"bytes, got {arr.shape[1]}")
        return arr, single

    def _factors(self, rows: np.ndarray) -> np.ndarray:
        """The float32 factors of C-contiguous rows (the kernels read the codes from the rows themselves:
        each row's first ``D * bits / 8`` bytes, so that they see unit-stride rows and vectorise).

        A view where float32 is little-endian (a row is a whole number of float32 words, its factor the
        last); a copy elsewhere."""
        if np.little_endian:
            return rows.view(np.float32)[:, -1]
        width = self.code_size() - 4
        return np.ascontiguousarray(rows[:, width:]).view("<f4").reshape(-1).astype(np.float32)

    def encode(self, embeddings: Any) -> np.ndarray:
        """Rows ``(n, code_size())`` uint8 (a vector gives one row): the codes, then the factor."""
        x, single = self._vectors(embeddings, "embeddings")
        n = x.shape[0]
        width = self.code_size() - 4
        out = np.empty((n, width + 4), np.uint8)  # the kernel packs each row's codes into its first bytes
        factors = np.empty(n, np.float32)
        run = K.encode_parallel if use_parallel(x.size) else K.encode
        run(x, self._mean, self._signs, self._perms, self._block, self._scale, self.bits, out, factors)
        out[:, width:] = factors.astype("<f4").view(np.uint8).reshape(n, 4)
        return out[0] if single else out

    def decode(self, codes: Any, *, dim: int | None = None) -> np.ndarray:
        """The float32 vectors ``c + R^T (f w)`` the rows stand for, ``(n, d)`` (``dim``, if given, must be ``d``)."""
        if dim is not None and dim != self._dim:
            raise ShapeError(f"dim: {self.precision} codes of this codec have dimension {self._dim}, got dim={dim}")
        rows, single = self._codes(codes, "codes")
        factors = self._factors(rows)
        out = np.empty((rows.shape[0], self._dim), np.float32)
        K.decode(rows, factors, self._mean, self._signs, self._perms, self._block, self._scale, self.bits, out)
        return out[0] if single else out

    def rotate(self, queries: Any) -> np.ndarray:
        """``R q`` for each query (not centred), float32 ``(m, D)``."""
        q, _ = self._vectors(queries, "queries")
        return self._rotate(q)

    def _rotate(self, q: np.ndarray) -> np.ndarray:
        out = np.empty((q.shape[0], self.padded_dim), np.float32)
        K.rotate_rows(q, np.zeros(self._dim, np.float32), self._signs, self._perms, self._block, self._scale, out)
        return out

    def prepare_queries(self, queries: np.ndarray) -> _Prepared:
        """Float queries ``(m, d)`` rotated once and rounded to int16 (:func:`~quantlib._kernels.lowbit.int_query`),
        with their dots with the centre."""
        q, _ = self._vectors(queries, "queries")
        QR = self._rotate(q)
        base = (q.astype(np.float64) @ self._mean.astype(np.float64)).astype(np.float32)
        W, s, corr = K.int_query(QR, self.bits)
        return _Prepared(W, base, 0.5 * s, corr)

    def score_rows(self, prepared: _Prepared, rows: np.ndarray, out: np.ndarray) -> None:
        """Fill ``out`` ``(m, n)`` with ``q . c + f (s V) . w`` of the prepared queries and ``rows``.

        ``s V`` is the rotated query ``R q`` rounded to int16 steps of a power
        of two ``s`` (``|R q - s V| <= s / 2``, ``s <= 2 max|R q| / 32767`` for
        ``D <= 4352`` at 4 bits: see the module docstring); ``V . w`` is an exact integer dot
        (:func:`~quantlib._kernels.lowbit.int_scores`), so a score is the same
        float32 whatever the batch, block or thread.
        """
        rows, _ = self._codes(rows, "rows")
        factors = self._factors(rows)
        P = prepared
        nq, n = P.W.shape[0], rows.shape[0]
        if out.shape != (nq, n):
            raise ShapeError(f"out: expected shape {(nq, n)}, got {out.shape}")
        run = K.int_scores_parallel if use_parallel(rows.size * nq) else K.int_scores
        run(P.W, rows, self.bits, factors, P.base, P.scl, P.corr, out)

    def scores(self, queries: Any, codes: Any) -> np.ndarray:
        """Estimated dot products ``q . x`` of float queries against rows, float32 ``(m, n)``.

        ``q . c + f ((R q) . w)``: the query's exact dot with the centre plus the
        factor times the rotated query's dot with the row's grid vector
        (:meth:`prepare_queries`, then :meth:`score_rows`).
        """
        prepared = self.prepare_queries(queries)
        rows, _ = self._codes(codes, "codes")
        out = np.empty((prepared.W.shape[0], rows.shape[0]), np.float32)
        self.score_rows(prepared, rows, out)
        return out

    def get_config(self) -> dict[str, Any]:
        """JSON-serialisable config: the precision, the seed and the mean (float32 values as JSON numbers).

        The base class adds ``"version"`` and ``"checksum"``; a config written
        before the codec was registered (no version) is read as version 1.
        """
        return {"id": self.precision, "seed": self.seed, "mean": [float(v) for v in self._mean]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RotatedCodec:
        """Rebuild from :meth:`get_config` output; a missing or malformed seed or mean is a ConfigError."""
        for key in ("id", "seed", "mean"):
            if key not in config:
                raise ConfigError(f"config: a {config.get('id', 'rotated')} config needs {key!r}, got none")
        mean = config["mean"]
        if not isinstance(mean, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in mean):
            raise ConfigError(f"config['mean']: expected a list of numbers, got {short_repr(mean, 80)}")
        return cls(config["id"], np.asarray(mean, dtype=np.float64), seed=config["seed"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RotatedCodec):
            return NotImplemented
        return (self.precision, self.seed) == (other.precision, other.seed) and np.array_equal(
            self._mean, other._mean)

    def __hash__(self) -> int:
        return hash((self.precision, self.seed, self._dim))

    def __repr__(self) -> str:
        return f"RotatedCodec({self.precision!r}, dim={self._dim}, seed={self.seed})"
