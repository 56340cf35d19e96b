"""The metric records: what each metric ranks by, and how its kernels are fed.

One frozen :class:`MetricInfo` record per metric; every table (names,
accepted formats, the kernel used for each pair of query and corpus kinds,
the numpy twin the tests compare with) is derived from :data:`METRICS`, and
the planner asks the record (never the metric's name) how to prepare queries,
which per-query and per-row terms the kernels take, and how a kernel's value
becomes the score.

What the scores are
-------------------
:func:`pairwise` returns the scores :func:`quantlib.search` ranks by:
similarities for ``dot`` and ``cosine`` (higher is better), the integer
number of differing bits for ``hamming`` and the squared Euclidean distance
for ``sqeuclidean`` (alias ``l2``; lower is better).  scipy's ``cdist``
returns distances, so a scipy user converts the similarities explicitly:

================  ===========================================  ==========================
quantlib          scipy.spatial.distance.cdist                 relation
================  ===========================================  ==========================
``cosine``        ``"cosine"``                                 ``cdist = 1 - cosine``
``dot``           none (``"sqeuclidean"`` on unit vectors)     ``|a-b|**2 = 2 - 2 * dot``
``hamming``       ``"hamming"`` on unpacked bits               ``cdist = hamming / d``
``sqeuclidean``   ``"sqeuclidean"``                            ``cdist = sqeuclidean``
================  ===========================================  ==========================

``sqeuclidean`` is computed as ``|q|**2 - 2 * q.x + |x|**2`` (as faiss's
``IndexFlatL2`` does), so its float32 rounding is relative to
``|q|**2 + |x|**2``, not to the distance: near-duplicates may come out a little
above 0, and a result that rounds below 0 is clamped to 0 (a distance is never
negative).  ``"euclidean"`` (the square root) is not an alias: it is refused
with a hint, since the square root ranks the same and its values differ.

What the arrays are read as
---------------------------
- float16/float32/float64 arrays are float vectors (computed in float32).
- Packed bits (``binary`` int8 or ``ubinary`` uint8) are vectors of +1/-1
  for ``dot`` and ``cosine`` (a set bit is +1), so for two bit rows of true
  dimension ``d``: ``dot = d - 2 * hamming`` and ``cosine = dot / d``;
  padding bits are ignored.  ``sqeuclidean`` of two bit rows is therefore
  ``4 * hamming`` (each differing bit is a difference of 2).  A float query
  against bits is scored as that float vector against +1/-1 (an *asymmetric* score, better for ranking than
  Hamming; see the search guide).
- ``int8``/``uint8`` codes: with the :class:`~quantlib.ScalarCodec` that made
  them (``codec=``), a float query is scored against the *dequantized* vectors
  the codes stand for; without a codec the codes' own integer values are the
  vector (right for codes that carry no calibration, such as a provider's
  int8).  Two code arrays without a codec give the exact integer dot (or
  squared distance) of codes.
- An int8 or uint8 array is either codes or packed bits: ``hamming`` always
  reads bits; ``dot``, ``cosine`` and ``sqeuclidean`` need ``precision=``
  (or ``codec=``) to say which, and raise :class:`~quantlib.DTypeError` without it.

Score dtypes: ``int64`` where the score is an integer by definition (Hamming
counts; ``dot`` and ``sqeuclidean`` of two code arrays or two bit arrays),
``float32`` otherwise.
A zero vector has cosine 0 with everything (scipy returns NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:  # the corpus module imports this one
    from ._corpus import Corpus

__all__ = ["METRICS", "Metric", "MetricInfo", "metric_info"]

Metric = Literal["dot", "cosine", "hamming", "sqeuclidean"]

#: ``(A, B, RS, RB)``: the dense kernels' per-query scale and offset, per-row scale and per-row
#: term (None where it is 0: the kernels then compile without it).
DenseTerms = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class MetricInfo:
    """One metric: its orientation, the formats it scores, and how its kernels are fed.

    The planner (:mod:`quantlib._planner`) asks the record, never the name: which
    kernel family scores a corpus family and query kind (:meth:`kernel_for`), how
    float queries are prepared, the per-query and per-row terms of the dense
    kernels' formula ``(sum_j W[q, j] x[i, j] * A[q] + B[q]) * RS[i] + RB[i]``
    (:mod:`quantlib._kernels.dense`), the signs kernels' ``A``/``B``, and how a
    kernel's value becomes the score.  Kernels rank the highest value first; a
    metric that ranks lowest first (``hamming``, ``sqeuclidean``) either counts
    directly (bit kernels, whose keys are counts) or has the dense and signs
    kernels compute its negation, which :attr:`from_kernel` turns back.  A new
    metric is one record (and its kernels, if no family here computes it).

    Attributes
    ----------
    name : str
        ``"dot"``, ``"cosine"``, ``"hamming"`` or ``"sqeuclidean"``.
    aliases : tuple of str
        Other accepted names.
    higher_is_better : bool
        True for similarities; search returns the highest first.  False for
        distances (Hamming counts, squared Euclidean); search returns the lowest first.
    families : tuple of str
        Scoring families of stored rows this metric scores (see
        :data:`quantlib.precision.FAMILIES`): every precision of those
        families, a registered codec's included.
    kernels : tuple of (str, str, str)
        ``(corpus family, query kind, kernel)``: for a corpus of family
        ``float``/``affine``/``signs`` and queries that are ``float`` or
        ``codes``, the kernel family that scores them (``dense``, ``hamming``,
        ``signs``; see :mod:`quantlib._kernels`).
    reference : str
        Name of the numpy twin in :mod:`quantlib._reference`.
    scipy : str
        How the score relates to ``scipy.spatial.distance.cdist``.
    describes : str
        What the scores are, in words (CLI output).
    rescored_by : str
        The metric rescoring ranks by (Hamming counts are rescored by cosine).
    """

    name: str
    aliases: tuple[str, ...]
    higher_is_better: bool
    families: tuple[str, ...]
    kernels: tuple[tuple[str, str, str], ...]
    reference: str
    scipy: str
    describes: str
    rescored_by: str = ""
    #: float32 queries as the kernels take them (cosine: rescaled by a power of two)
    prepare_queries: Callable[[np.ndarray], np.ndarray] = field(default=lambda q: q, repr=False)
    #: ``(q, B, corpus, dequantized) -> (A, B, RS, RB)`` (the planner casts them): ``q`` the (nq, d) float64
    #: query vectors, ``B`` the offset of their dot with the rows (a codec's affine map, else 0)
    dense_terms: Callable[[np.ndarray, np.ndarray, Corpus, bool], DenseTerms] | None = field(
        default=None, repr=False)
    #: ``(q, d) -> (A, B)`` of float queries against +1/-1 bits of dimension ``d`` (float64)
    signs_terms: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]] | None = field(
        default=None, repr=False)
    #: ``(counts, d) -> scores`` of two bit arrays of dimension ``d`` from their Hamming counts
    #: (None: the counts are the scores)
    from_counts: Callable[[np.ndarray, int], np.ndarray] | None = field(default=None, repr=False)
    #: the score dtype from bit counts, and of the exact dot of two code arrays
    count_dtype: str = "int64"
    code_dtype: str = "int64"
    #: kernel values (dense and signs kernels: higher first) -> scores (None: they are the scores)
    from_kernel: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    #: raise now what scoring stored rows would raise (cosine: a row of subnormal norm)
    check_rows: Callable[[Corpus], None] = field(default=lambda c: None, repr=False)
    #: the metric whose plan checks queries against a dummy row without reading its values
    #: (the per-row terms of a zero row may be what this metric refuses)
    checked_as: str = ""
    #: sparse vectors (:class:`~quantlib.SparseIndex`) are scored by it, as the dot of their
    #: rows divided by their norms if ``unit_rows`` (also what rescore's batched kernel reads as cosine)
    sparse: bool = False
    unit_rows: bool = False

    def __reduce__(self) -> tuple[Callable[[str], MetricInfo], tuple[str]]:
        """Pickled by name (the record holds functions): unpickled, it is the registered record."""
        return metric_info, (self.name,)

    def kernel_for(self, family: str, query_kind: str) -> str | None:
        """The kernel family for a corpus ``family`` and ``query_kind``, or None if unsupported."""
        for fam, kind, kernel in self.kernels:
            if fam == family and kind == query_kind:
                return kernel
        return None

    @property
    def worst(self) -> float:
        """The score that ranks after every other (padding of short result lists)."""
        return -math.inf if self.higher_is_better else math.inf

    def order_keys(self, scores: np.ndarray) -> np.ndarray:
        """float64 keys that sort ``scores`` best first in ascending order."""
        s = np.asarray(scores, np.float64)
        return -s if self.higher_is_better else s


def _sq_norms(q: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", q, q)


def _inverse_norms(x: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    with np.errstate(divide="ignore"):
        return np.where(norms > 0, 1.0 / norms, 0.0)


def _scaled_for_cosine(q: np.ndarray) -> np.ndarray:
    """Each row times the power of two that brings its norm into [0.5, 1).

    Cosine does not change, and neither does any score of a query of ordinary size
    (a power of two scales every product and sum exactly, and its inverse norm
    exactly back); but a query of subnormal size no longer has an inverse norm
    beyond float32 (inf scores), nor a huge one sums beyond it.
    """
    norms = np.sqrt(np.einsum("ij,ij->i", q, q, dtype=np.float64))
    exponent = np.where(norms > 0, np.frexp(norms)[1], 0)
    if not exponent.any():
        return q
    return np.ldexp(q, -exponent[:, None]).astype(np.float32)


def _dot_dense(q: np.ndarray, B: np.ndarray, c: Corpus, dequantized: bool) -> DenseTerms:
    return np.ones(q.shape[0]), B, np.ones(c.n, np.float32), None


def _cosine_dense(q: np.ndarray, B: np.ndarray, c: Corpus, dequantized: bool) -> DenseTerms:
    A = _inverse_norms(q)
    return A, B * A, c.inverse_norms(dequantized), None


def _sqeuclidean_dense(q: np.ndarray, B: np.ndarray, c: Corpus, dequantized: bool) -> DenseTerms:
    # -|q - x|^2 = 2 q.x - |q|^2 - |x|^2: the kernels rank it highest first, from_kernel negates
    return (np.full(q.shape[0], 2.0), 2.0 * B - _sq_norms(q), np.ones(c.n, np.float32),
            -c.squared_norms(dequantized))


def _dot_signs(q: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    return np.ones(q.shape[0]), np.zeros(q.shape[0])


def _cosine_signs(q: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    return _inverse_norms(q) / math.sqrt(d), np.zeros(q.shape[0])  # every +1/-1 row has norm sqrt(d)


def _sqeuclidean_signs(q: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    # every +1/-1 row has |x|^2 = d
    return np.full(q.shape[0], 2.0), -(_sq_norms(q.astype(np.float64)) + d)


def _nonnegative_distance(s: np.ndarray) -> np.ndarray:
    """Squared distances from the kernels' negated ones, rounding below 0 clamped to 0."""
    return np.maximum(-s, 0)


def _check_cosine_rows(c: Corpus) -> None:
    c.check_cosine_norms()


_ALL_FAMILIES = ("float", "affine", "signs", "decoded", "own")
_SIMILARITY_KERNELS = (
    ("float", "float", "dense"),
    ("affine", "float", "dense"),
    ("affine", "codes", "dense"),
    ("signs", "float", "signs"),
    ("signs", "codes", "hamming"),
)

METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("dot", ("inner_product", "ip"), True, _ALL_FAMILIES, _SIMILARITY_KERNELS,
               "pairwise_scores", "no cdist twin; on unit vectors sqeuclidean = 2 - 2 * dot",
               "dot products", "dot", dense_terms=_dot_dense, signs_terms=_dot_signs,
               from_counts=lambda h, d: d - 2 * h, sparse=True),
    MetricInfo("cosine", ("cos",), True, _ALL_FAMILIES, _SIMILARITY_KERNELS,
               "pairwise_scores", "cdist(metric='cosine') = 1 - cosine", "cosine similarities", "cosine",
               prepare_queries=_scaled_for_cosine, dense_terms=_cosine_dense, signs_terms=_cosine_signs,
               from_counts=lambda h, d: ((d - 2 * h) / np.float64(d)).astype(np.float32),
               count_dtype="float32", code_dtype="float32", check_rows=_check_cosine_rows, checked_as="dot",
               sparse=True, unit_rows=True),
    MetricInfo("hamming", (), False, ("signs",),
               (("signs", "codes", "hamming"), ("signs", "float", "hamming")),
               "pairwise_scores", "cdist(metric='hamming') on unpacked bits = hamming / d",
               "Hamming distances (bits that differ)", "cosine"),
    # Not "euclidean": that is the square root (scipy's and faiss's names keep them apart)
    MetricInfo("sqeuclidean", ("l2",), False, _ALL_FAMILIES, _SIMILARITY_KERNELS,
               "pairwise_scores", "cdist(metric='sqeuclidean') = sqeuclidean",
               "squared Euclidean distances", "sqeuclidean", dense_terms=_sqeuclidean_dense,
               signs_terms=_sqeuclidean_signs, from_counts=lambda h, d: 4 * h,
               from_kernel=_nonnegative_distance, checked_as="dot"),
)

assert tuple(m.name for m in METRICS) == get_args(Metric)

_BY_NAME = {alias: m for m in METRICS for alias in (m.name, *m.aliases)}


def metric_info(metric: str | MetricInfo) -> MetricInfo:
    """The :class:`MetricInfo` of a metric name or alias.

    Examples
    --------
    >>> metric_info("ip").name, metric_info("hamming").higher_is_better
    ('dot', False)
    >>> metric_info("l2").name, metric_info("l2").higher_is_better
    ('sqeuclidean', False)
    """
    if isinstance(metric, MetricInfo):
        return metric
    info = _BY_NAME.get(metric.strip().lower()) if isinstance(metric, str) else None
    if info is None:
        hint = ("; 'euclidean' is the square root of 'sqeuclidean' (alias 'l2'), which ranks the same: "
                "take np.sqrt of its scores" if isinstance(metric, str) and metric.strip().lower() == "euclidean"
                else "")
        raise ConfigError(f"metric: expected one of {', '.join(get_args(Metric))}, got {metric!r}{hint}")
    return info

