"""Pairwise scores (similarities and bit counts) for every stored format.

One frozen :class:`MetricInfo` record per metric; every table (names,
accepted formats, the kernel used for each pair of query and corpus kinds,
the numpy twin the tests compare with) is derived from :data:`METRICS`.

Scores, never distances
-----------------------
:func:`pairwise` returns the scores :func:`quantlib.search` ranks by:
similarities for ``dot`` and ``cosine`` (higher is better) and the integer
number of differing bits for ``hamming`` (lower is better).  scipy's ``cdist``
returns distances, so a scipy user converts explicitly:

==============  ===========================================  ==========================
quantlib        scipy.spatial.distance.cdist                 relation
==============  ===========================================  ==========================
``cosine``      ``"cosine"``                                 ``cdist = 1 - cosine``
``dot``         none (``"sqeuclidean"`` on unit vectors)     ``|a-b|**2 = 2 - 2 * dot``
``hamming``     ``"hamming"`` on unpacked bits               ``cdist = hamming / d``
==============  ===========================================  ==========================

What the arrays are read as
---------------------------
- float16/float32/float64 arrays are float vectors (computed in float32).
- Packed bits (``binary`` int8 or ``ubinary`` uint8) are vectors of +1/-1
  for ``dot`` and ``cosine`` (a set bit is +1), so for two bit rows of true
  dimension ``d``: ``dot = d - 2 * hamming`` and ``cosine = dot / d``;
  padding bits are ignored.  A float query against bits is scored as that
  float vector against +1/-1 (an *asymmetric* score, better for ranking than
  Hamming; see the search guide).
- ``int8``/``uint8`` codes: with the :class:`~quantlib.ScalarCodec` that made
  them (``codec=``), a float query is scored against the *dequantized* vectors
  the codes stand for; without a codec the codes' own integer values are the
  vector (right for codes that carry no calibration, such as a provider's
  int8).  Two code arrays without a codec give the exact integer dot of codes.
- An int8 or uint8 array is either codes or packed bits: ``hamming`` always
  reads bits; ``dot`` and ``cosine`` need ``precision=`` (or ``codec=``) to say
  which, and raise :class:`~quantlib.DTypeError` without it.

Score dtypes: ``int64`` where the score is an integer by definition (Hamming
counts; ``dot`` of two code arrays or two bit arrays), ``float32`` otherwise.
A zero vector has cosine 0 with everything (scipy returns NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .errors import ConfigError

__all__ = ["METRICS", "Metric", "MetricInfo", "metric_info"]

Metric = Literal["dot", "cosine", "hamming"]


@dataclass(frozen=True)
class MetricInfo:
    """One metric: its orientation, the formats it scores and how.

    Attributes
    ----------
    name : str
        ``"dot"``, ``"cosine"`` or ``"hamming"``.
    aliases : tuple of str
        Other accepted names.
    higher_is_better : bool
        True for similarities; search returns the highest first.  False for
        Hamming counts; search returns the lowest first.
    families : tuple of str
        Scoring families of stored rows this metric scores (see
        :data:`quantlib.precision.FAMILIES`): every precision of those
        families, a registered codec's included.
    kernels : tuple of (str, str, str)
        ``(corpus family, query kind, kernel)``: for a corpus of family
        ``float``/``scalar``/``bits`` and queries that are ``float`` or
        ``codes``, the kernel family that scores them (``dense``, ``hamming``,
        ``signs``; see :mod:`quantlib._kernels`).
    reference : str
        Name of the numpy twin in :mod:`quantlib._reference`.
    scipy : str
        How the score relates to ``scipy.spatial.distance.cdist``.
    """

    name: str
    aliases: tuple[str, ...]
    higher_is_better: bool
    families: tuple[str, ...]
    kernels: tuple[tuple[str, str, str], ...]
    reference: str
    scipy: str

    def kernel_for(self, family: str, query_kind: str) -> str | None:
        """The kernel family for a corpus ``family`` and ``query_kind``, or None if unsupported."""
        for fam, kind, kernel in self.kernels:
            if fam == family and kind == query_kind:
                return kernel
        return None


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
               "pairwise_scores", "no cdist twin; on unit vectors sqeuclidean = 2 - 2 * dot"),
    MetricInfo("cosine", ("cos",), True, _ALL_FAMILIES, _SIMILARITY_KERNELS,
               "pairwise_scores", "cdist(metric='cosine') = 1 - cosine"),
    MetricInfo("hamming", (), False, ("signs",),
               (("signs", "codes", "hamming"), ("signs", "float", "hamming")),
               "pairwise_scores", "cdist(metric='hamming') on unpacked bits = hamming / d"),
)

assert tuple(m.name for m in METRICS) == get_args(Metric)

_BY_NAME = {alias: m for m in METRICS for alias in (m.name, *m.aliases)}


def metric_info(metric: str | MetricInfo) -> MetricInfo:
    """The :class:`MetricInfo` of a metric name or alias.

    Examples
    --------
    >>> metric_info("ip").name, metric_info("hamming").higher_is_better
    ('dot', False)
    """
    if isinstance(metric, MetricInfo):
        return metric
    info = _BY_NAME.get(metric.strip().lower()) if isinstance(metric, str) else None
    if info is None:
        raise ConfigError(f"metric: expected one of {', '.join(get_args(Metric))}, got {metric!r}")
    return info

