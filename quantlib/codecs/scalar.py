"""int8 and uint8: per-dimension scalar quantization over calibration ranges."""

from __future__ import annotations

import warnings
from typing import Any, Literal, NamedTuple

import numpy as np

from .._kernels import codecs as K
from .._kernels._config import use_parallel
from .._validation import as_array, as_code_matrix, as_float_matrix, check_finite, raise_nonfinite
from ..errors import CalibrationError, CalibrationWarning, ConfigError, OutOfRangeError, ShapeError, short_repr
from ..precision import PrecisionInfo
from .base import Affine, Codec

INT8 = PrecisionInfo("int8", np.dtype("i1"), 8, (), False,
                     "per-dimension scalar codes -128..127 over calibration ranges", family="affine", calibrated=True)
UINT8 = PrecisionInfo("uint8", np.dtype("u1"), 8, (), False,
                      "per-dimension scalar codes 0..255 over calibration ranges", family="affine", calibrated=True)

Rounding = Literal["nearest", "floor", "truncate"]

_MODES: dict[str, int] = {"nearest": 0, "floor": 1, "truncate": 2}

#: Below this many calibration rows quantlib warns, as sentence-transformers does.
MIN_CALIBRATION_ROWS = 100

#: The smallest step a non-constant dimension may have: float32's smallest normal number, 2**-126.
#: A smaller (subnormal) step is rounded too coarsely to keep decoding within half a step.
MIN_STEP = float(np.finfo(np.float32).tiny)

#: The narrowest span ``max - min`` of a non-constant dimension (255 steps of :data:`MIN_STEP`, about 3e-36).
MIN_SPAN = 255 * MIN_STEP

#: Code range of each precision: the lowest code, the highest code.
_CODE_RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


class FoldedQuery(NamedTuple):
    """Float queries folded by a :class:`ScalarCodec` (see :meth:`ScalarCodec.fold_query`).

    For a query ``q`` and stored codes ``c`` (as the codec wrote them)::

        q . decode(c) = weights . c + offset               (exact in real arithmetic)
                      ~ (int8 . c) / scale + offset        (int8 weights: rounding of the weights only)

    Attributes
    ----------
    weights : numpy.ndarray of float32, shape (m, d)
        ``q_j * step_j``: a store's raw dot of these with the codes ranks rows
        as quantlib's dequantized dot does.
    offset : numpy.ndarray of float64, shape (m,)
        ``q . start - low * sum_j weights_j``: the same for every row of one
        query, so it never changes a ranking; add it to get the scores.
    int8 : numpy.ndarray of int8, shape (m, d)
        ``round(weights * scale)``, for stores that take int8 queries only.
    scale : numpy.ndarray of float64, shape (m,)
        ``127 / max_j |weights_j|`` (1 for an all-zero row).
    """

    weights: np.ndarray
    offset: np.ndarray
    int8: np.ndarray
    scale: np.ndarray


class ScalarCodec(Codec):
    """Per-dimension scalar quantization to ``int8`` or ``uint8``.

    Dimension ``j`` maps its calibration interval ``[min_j, max_j]`` onto the
    256 codes with step ``s_j = (max_j - min_j) / 255``::

        code = clip(round((x - min_j) / s_j) + low, low, high)    # low = -128 (int8) or 0 (uint8)
        value(code) = min_j + (code - low) * s_j

    so that ``decode(encode(x))`` is within half a step of ``x`` for ``x``
    inside the range (values outside are clipped to the nearest end).  A
    constant dimension (``max_j == min_j``) has step 0: encoding divides by 1
    instead (as sentence-transformers does, so ``x - min_j`` is taken as a
    code offset and clipped) and every code decodes to ``min_j``; nothing
    divides by zero.
    Ranges are kept in float32 (a -0.0 as 0.0, which codes and decodes
    alike), and arithmetic follows numpy's float32 order.
    Ranges that would break the half-step bound are a
    :class:`~quantlib.CalibrationError`: a span ``max_j - min_j`` that
    overflows float32 (its codes would decode to inf or NaN), and a nonzero
    span below ``255 * 2**-126`` (about 3e-36), whose subnormal step rounds
    too coarsely (to 0 below about 1.8e-43) to be a step at all.

    Parameters
    ----------
    precision : {"int8", "uint8"}
    ranges : array_like, shape (2, d)
        Row 0 the minimum and row 1 the maximum of each dimension, as
        sentence-transformers' ``quantize_embeddings(ranges=...)`` takes them.
    rounding : {"nearest", "floor", "truncate"}
        ``"nearest"`` (default) rounds half to even and clips.  ``"floor"``
        reproduces sentence-transformers >= 5.7 (floor, then clip).
        ``"truncate"`` reproduces sentence-transformers < 5.7 (truncate toward
        zero, no clip): its codes are equal wherever that version's are defined,
        and a value whose code would wrap there raises OutOfRangeError here.

    Examples
    --------
    >>> import numpy as np
    >>> codec = ScalarCodec("int8", [[-1.0, 0.0], [1.0, 2.0]])
    >>> codes = codec.encode(np.array([[0.0, 2.0], [-1.0, 0.5]], dtype=np.float32))
    >>> codes
    array([[  -1,  127],
           [-128,  -64]], dtype=int8)
    >>> codec.decode(codes).round(3)
    array([[-0.004,  2.   ],
           [-1.   ,  0.502]], dtype=float32)
    """

    precisions = (INT8, UINT8)

    def __init__(self, precision: str, ranges: Any, *, rounding: Rounding = "nearest") -> None:
        super().__init__(precision)
        if not isinstance(rounding, str) or rounding not in _MODES:
            raise ConfigError(f"rounding: expected one of {', '.join(_MODES)}, got {short_repr(rounding)}")
        self.rounding: Rounding = rounding
        self.ranges = _check_ranges(ranges)
        start = self.ranges[0]
        step = (self.ranges[1] - self.ranges[0]) / np.float32(255)
        self._start = np.ascontiguousarray(start)
        self._step = np.ascontiguousarray(step)
        # Constant dimensions divide by 1 instead of 0; they decode with step 0.
        self._divisor = np.where(step > 0, step, np.float32(1)).astype(np.float32)
        self._low, self._high = _CODE_RANGE[self.precision]

    @classmethod
    def fit(
        cls,
        calibration_embeddings: Any,
        precision: str = "int8",
        *,
        rounding: Rounding = "nearest",
    ) -> ScalarCodec:
        """A codec whose ranges are the per-dimension min and max of ``calibration_embeddings``.

        Warns (:class:`~quantlib.CalibrationWarning`) with fewer than 100 rows.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> codec = ScalarCodec.fit(rng.standard_normal((1000, 8)), "uint8")
        >>> codec.ranges.shape
        (2, 8)
        """
        return cls(precision, ranges_from(calibration_embeddings, "calibration_embeddings", stacklevel=2),
                   rounding=rounding)

    @property
    def dim(self) -> int:
        """The dimension the ranges were given for."""
        return int(self.ranges.shape[1])

    def affine(self) -> Affine:
        """The map from codes to values: ``start + (code - low) * step`` per dimension."""
        return Affine(self._start, self._step, self._low, self._high)

    def truncate(self, dim: int) -> ScalarCodec:
        """The codec of the codes' first ``dim`` dimensions: the first ``dim`` ranges.

        Examples
        --------
        >>> ScalarCodec("int8", [[-1.0, 0.0, 2.0], [1.0, 4.0, 3.0]]).truncate(2).ranges
        array([[-1.,  0.],
               [ 1.,  4.]], dtype=float32)
        """
        if not 1 <= dim <= self.dim:
            raise ShapeError(f"dim: expected 1 <= dim <= {self.dim} (the codec's dimension), got {dim}")
        return ScalarCodec(self.precision, self.ranges[:, :dim], rounding=self.rounding)

    def encode(self, embeddings: Any) -> np.ndarray:
        arr, single = as_float_matrix(embeddings, "embeddings")
        self.check_dim(arr.shape[1], "embeddings")
        out = np.empty(arr.shape, self.dtype)
        dt = arr.dtype.type
        kernel = K.scalar_encode_parallel if use_parallel(arr.size) else K.scalar_encode
        status = kernel(arr, self._start, self._divisor, dt(self._low), dt(self._low), dt(self._high),
                        _MODES[self.rounding], out)
        if status == 1:
            raise_nonfinite(arr, "embeddings", single)
        if status == 2:
            raise OutOfRangeError(
                "embeddings: a value lies so far outside the calibration range that "
                f"sentence-transformers < 5.7 would wrap its {self.precision} code; "
                "use rounding='floor' (sentence-transformers >= 5.7) or 'nearest', which clip"
            )
        return out[0] if single else out

    def decode(self, codes: Any, *, dim: int | None = None) -> np.ndarray:
        arr, single = as_code_matrix(codes, "codes", self._info, dim)
        self.check_dim(arr.shape[1], "codes")
        out = np.empty(arr.shape, np.float32)
        K.scalar_decode(arr, self._start, self._step, np.float32(self._low), out)
        return out[0] if single else out

    def fold_query(self, queries: Any) -> FoldedQuery:
        """Fold float queries by this codec, for stores that only take a raw dot of the codes.

        A store that keeps these int8/uint8 codes (pgvector, usearch ``i8``,
        faiss ``IndexScalarQuantizer``...) and ranks by the raw dot of query
        and codes ranks by the wrong vectors: the codes' integer values, not
        the values ``start + (code - low) * step`` they stand for.  quantlib
        folds the codec into the query instead (the identity in
        docs/search.md)::

            q . value(c) = sum_j (q_j step_j) c_j + (q . start - low sum_j q_j step_j)

        so a raw dot of the codes with ``weights`` ranks rows exactly as
        quantlib's dequantized ``metric="dot"`` search does (up to float
        rounding), and ``weights . c + offset`` is that search's score.  For
        stores that take int8 queries only, ``int8`` is ``weights`` scaled by
        ``scale`` to -127..127 and rounded: ``(int8 . c) / scale + offset``
        approximates the score, with the rounding of the weights as its only
        error.  Cosine needs each row's dequantized norm, which no raw dot
        has: for normalised embeddings dot ranks as cosine does; otherwise
        rescore the store's candidates (:func:`quantlib.rescore`).

        Parameters
        ----------
        queries : array_like, shape (m, d) or (d,)
            float embeddings.

        Returns
        -------
        FoldedQuery
            ``(weights, offset, int8, scale)``; each with a leading query
            axis of 1 for a single vector.

        Examples
        --------
        >>> import numpy as np
        >>> codec = ScalarCodec("uint8", [[0.0, -1.0], [1.0, 1.0]])
        >>> x = np.array([[0.9, 0.1], [0.1, -0.9]], dtype=np.float32)
        >>> q = np.array([1.0, 0.25], dtype=np.float32)
        >>> folded = codec.fold_query(q)
        >>> codes = codec.encode(x)
        >>> (codes @ folded.weights[0] + folded.offset[0]).round(4)
        array([ 0.9225, -0.1265])
        >>> (codec.decode(codes) @ q).round(4)
        array([ 0.9225, -0.1265], dtype=float32)
        >>> folded.int8
        array([[127,  64]], dtype=int8)
        """
        arr, _ = as_float_matrix(queries, "queries")
        check_finite(arr, "queries")
        self.check_dim(arr.shape[1], "queries")
        q = arr.astype(np.float64)
        weights = (q * self._step.astype(np.float64)).astype(np.float32)
        w64 = weights.astype(np.float64)
        offset = q @ self._start.astype(np.float64) - self._low * w64.sum(axis=1)
        top = np.abs(w64).max(axis=1)
        scale = np.where(top > 0, 127.0 / np.where(top > 0, top, 1.0), 1.0)
        int8 = np.clip(np.rint(w64 * scale[:, None]), -127, 127).astype(np.int8)
        return FoldedQuery(weights, offset, int8, scale)

    def thresholds(self) -> np.ndarray:
        """Per dimension, the largest code whose value is <= 0 (``low - 1`` if none).

        A code is positive, and so sets its sign bit, exactly when it exceeds this
        threshold; :func:`quantlib.convert_codes` packs bits from codes with it.
        """
        codes = np.arange(self._low, self._high + 1, dtype=self.dtype)
        values = np.empty((codes.size, self.dim), np.float32)
        K.scalar_decode(np.ascontiguousarray(np.repeat(codes[:, None], self.dim, axis=1)),
                        self._start, self._step, np.float32(self._low), values)
        nonpositive = (values <= 0).sum(axis=0)  # values rise with the code
        return (self._low - 1 + nonpositive).astype(np.int16)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "ranges": self.ranges.tolist(), "rounding": self.rounding}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScalarCodec:
        try:
            ranges = config["ranges"]
            if isinstance(ranges, list) and all(isinstance(row, list) for row in ranges):
                # JSON from other programs writes integral floats as integers (jsonb: 3e20 as
                # 300000006012263200000, beyond int64): read every number as the float it stands for
                ranges = [[_int_as_float(v) if type(v) is int else v for v in row] for row in ranges]
            return cls(config["id"], ranges, rounding=config.get("rounding", "nearest"))
        except KeyError as exc:
            raise ConfigError(f"config: {config.get('id')} codec config needs key {exc}") from None

    def __hash__(self) -> int:
        return hash((self.precision, self.rounding, self.ranges.tobytes()))

    def __repr__(self) -> str:
        return f"ScalarCodec({self.precision!r}, dim={self.dim}, rounding={self.rounding!r})"

    def check_dim(self, d: int, name: str) -> None:
        if d != self.dim:
            raise ShapeError(f"{name}: the codec's ranges are for dimension {self.dim}, got dimension {d}")


def _int_as_float(v: int) -> float:
    """An integer of a config's ranges as the float it stands for; one beyond any float is a CalibrationError."""
    try:
        return float(v)
    except OverflowError:
        raise CalibrationError(f"ranges: {short_repr(v)} is beyond float32's largest finite value "
                               f"{float(np.finfo(np.float32).max):g}") from None


def calibration_ranges(calibration_embeddings: Any) -> np.ndarray:
    """Per-dimension ``[min, max]`` of calibration embeddings, shape ``(2, d)``, float32.

    Warns (:class:`~quantlib.CalibrationWarning`) with fewer than 100 rows, as
    sentence-transformers does: the extremes of few samples are poor ranges.

    Examples
    --------
    >>> calibration_ranges([[0.0, 1.0], [2.0, -1.0]] * 50)
    array([[ 0., -1.],
           [ 2.,  1.]], dtype=float32)
    """
    return ranges_from(calibration_embeddings, "calibration_embeddings", stacklevel=2)


def ranges_from(embeddings: Any, name: str, *, stacklevel: int) -> np.ndarray:
    """:func:`calibration_ranges` of the argument called ``name``, warning at ``stacklevel``."""
    arr, _ = as_float_matrix(embeddings, name)
    if arr.shape[0] == 0:
        raise CalibrationError(f"{name}: expected at least one row to compute ranges from, got 0")
    check_finite(arr, name)
    if arr.shape[0] < MIN_CALIBRATION_ROWS:
        warnings.warn(
            f"{name}: int8/uint8 ranges computed from {arr.shape[0]} row(s); quantization is more "
            f"stable with ranges or calibration_embeddings of at least {MIN_CALIBRATION_ROWS} rows",
            CalibrationWarning,
            stacklevel=stacklevel + 1,
        )
    return np.vstack((arr.min(axis=0), arr.max(axis=0))).astype(np.float32)


def _check_ranges(ranges: Any) -> np.ndarray:
    arr = as_array(ranges, "ranges")
    if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
        raise CalibrationError(f"ranges: expected a (2, d) array of numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != 2 or arr.shape[1] == 0:
        raise CalibrationError(
            "ranges: expected shape (2, d) with row 0 the minimum and row 1 the maximum, "
            f"got shape {arr.shape}"
        )
    given = arr
    with np.errstate(over="ignore"):  # a value beyond float32 is reported below, not warned about
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        if np.isfinite(given[where]):
            raise CalibrationError(f"ranges: {float(given[where])!r} at index {where} is beyond float32's "
                                   f"largest finite value {float(np.finfo(np.float32).max):g}")
        raise CalibrationError(f"ranges: expected finite values, got {arr[where]} at index {where}")
    # -0.0 becomes 0.0 (x + 0.0 does that and nothing else): the codes and values are the same either way,
    # and so then are the config, equality and hash of codecs that differ only there (PostgreSQL jsonb
    # and JavaScript write -0.0 as 0).
    arr = arr + np.float32(0)
    below = np.flatnonzero(arr[1] < arr[0])
    if below.size:
        j = int(below[0])
        raise CalibrationError(
            f"ranges: maximum must be >= minimum in every dimension, got max {arr[1, j]} < min {arr[0, j]} "
            f"in dimension {j}"
        )
    # The step and the value of the top code, as the codec computes them: a span that overflows float32
    # decodes to inf/NaN, and a nonzero span whose step is below float32's smallest normal number has a
    # step rounded so coarsely (to 0 below 2**-150) that codes can miss by far more than half a step.
    with np.errstate(over="ignore"):
        step = (arr[1] - arr[0]) / np.float32(255)
        top = arr[0] + np.float32(255) * step
    wide = np.flatnonzero(~np.isfinite(top))
    if wide.size:
        j = int(wide[0])
        raise CalibrationError(
            f"ranges: dimension {j} spans max {arr[1, j]!s} - min {arr[0, j]!s}, which overflows float32 "
            f"(largest finite value {float(np.finfo(np.float32).max):g}), so its codes would decode to inf "
            "or NaN; narrow the range, or store such values as float32"
        )
    narrow = np.flatnonzero((arr[1] > arr[0]) & (step < np.float32(MIN_STEP)))
    if narrow.size:
        j = int(narrow[0])
        raise CalibrationError(
            f"ranges: dimension {j} spans max {arr[1, j]!s} - min {arr[0, j]!s}, too narrow for 255 float32 steps "
            f"(the step {step[j]!s} is below {MIN_STEP:g}, so codes could miss by more than half a step); "
            f"give max == min for a constant dimension, or a span of at least {MIN_SPAN:.3g}"
        )
    return arr


class IntegerCodec(Codec):
    """int8/uint8 codes that are their own values: a provider's int8, or any codes without calibration.

    ``decode`` gives the codes' integer values as float32, and ``encode``
    rounds floats to the nearest integer (half to even), refusing one outside
    the code range (:class:`~quantlib.OutOfRangeError`) rather than wrapping
    it.  Two code arrays of this codec score by their exact integer dot.  Its
    config is ``{"id": "int8", "raw": true, ...}``, the marker quantlib's
    codes files have always carried for uncalibrated codes.

    Examples
    --------
    >>> import numpy as np
    >>> codec = IntegerCodec("int8")
    >>> codec.encode(np.array([1.4, -2.5, 127.0], dtype=np.float32))
    array([  1,  -2, 127], dtype=int8)
    >>> codec.decode(np.array([-128, 5], dtype=np.int8))
    array([-128.,    5.], dtype=float32)
    """

    precisions = (INT8, UINT8)

    def __init__(self, precision: str = "int8") -> None:
        super().__init__(precision)
        self._low, self._high = _CODE_RANGE[self.precision]

    def encode(self, embeddings: Any) -> np.ndarray:
        arr, single = as_float_matrix(embeddings, "embeddings")
        check_finite(arr, "embeddings", single)
        codes = np.rint(arr)
        outside = np.flatnonzero(((codes < self._low) | (codes > self._high)).any(axis=1))
        if outside.size:
            i = int(outside[0])
            j = int(np.flatnonzero((codes[i] < self._low) | (codes[i] > self._high))[0])
            raise OutOfRangeError(f"embeddings: value {float(arr[i, j])!r} at index {j if single else (i, j)} "
                                  f"rounds outside the {self.precision} codes {self._low}..{self._high}")
        out = codes.astype(self.dtype)
        return out[0] if single else out

    def decode(self, codes: Any, *, dim: int | None = None) -> np.ndarray:
        arr, single = as_code_matrix(codes, "codes", self._info, dim)
        out = arr.astype(np.float32)
        return out[0] if single else out

    def affine(self) -> Affine:
        """The identity map: ``start = low`` and ``step = 1`` (for any dimension, as 1-element arrays)."""
        return Affine(np.full(1, self._low, np.float32), np.ones(1, np.float32), self._low, self._high, True)

    def truncate(self, dim: int) -> IntegerCodec:
        return self

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "raw": True}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IntegerCodec:
        return cls(config["id"])

    def __repr__(self) -> str:
        return f"IntegerCodec({self.precision!r})"
